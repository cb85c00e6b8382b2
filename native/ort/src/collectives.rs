//! Collectives inside a graph: the operator `simclr.collectives:AllReduceSum` sums a float32 tensor over the ranks of
//! a Gloo process group while the session runs. Synchronized BatchNorm needs it: its statistics (and their gradient)
//! are sums over the global batch, needed in the middle of the forward (and backward) pass, as in PyTorch's
//! SyncBatchNorm. The kernel runs on the host (on a GPU provider ORT copies the few statistics across) and calls the
//! Gloo addon's exported `simclr_gloo_allreduce_sum_f32`, found by name in the addon node has already loaded, so the
//! collective joins that group's one ordered queue of collectives (native/README.md).
use std::ffi::{c_char, c_int, CStr};
use std::sync::Arc;

use libloading::Library;
use napi_derive::napi;
use ort::operator::{BoxedKernel, ComputeContext, KernelContext, Operator, OperatorDomain, OperatorInput, OperatorOutput, ShapeInferenceContext};
use ort::value::TensorElementType;

use crate::error::{invalid, ort_error};

/// The graph domain of our collective operators (trainer/graph emits nodes in it).
pub const DOMAIN: &str = "simclr.collectives";

#[napi(object)]
#[derive(Clone)]
pub struct CollectiveGroup {
  /// Path of simclr_gloo.node (already loaded by node: opening it again returns the same library).
  pub addon: String,
  /// The ProcessGroup's `nativeId`.
  pub group: u32,
}

type AllreduceFn = unsafe extern "C" fn(u32, *mut f32, usize, *mut c_char, usize) -> c_int;

struct Gloo {
  // Keeps the symbol below valid.
  _library: Library,
  allreduce: AllreduceFn,
  group: u32,
}

impl Gloo {
  fn open(g: &CollectiveGroup) -> napi::Result<Gloo> {
    // SAFETY: the addon is ours; opening an already loaded library runs no initialisers again.
    let library = unsafe { Library::new(&g.addon) }.map_err(|e| invalid(format!("collectives: cannot open {}: {e}", g.addon)))?;
    let allreduce = unsafe { library.get::<AllreduceFn>(b"simclr_gloo_allreduce_sum_f32\0") }
      .map(|f| *f)
      .map_err(|e| invalid(format!("collectives: {} has no simclr_gloo_allreduce_sum_f32 (rebuild: npm run build:native): {e}", g.addon)))?;
    Ok(Gloo { _library: library, allreduce, group: g.group })
  }

  fn allreduce_sum(&self, data: &mut [f32]) -> ort::Result<()> {
    let mut message = [0 as c_char; 1024];
    // SAFETY: the function reads and writes `data.len()` floats and writes at most `message.len()` bytes.
    let rc = unsafe { (self.allreduce)(self.group, data.as_mut_ptr(), data.len(), message.as_mut_ptr(), message.len()) };
    if rc == 0 {
      return Ok(());
    }
    let text = unsafe { CStr::from_ptr(message.as_ptr()) }.to_string_lossy().into_owned();
    Err(ort::Error::new(text))
  }
}

struct AllReduceSum(Arc<Gloo>);

impl Operator for AllReduceSum {
  type Kernel<'attr> = BoxedKernel<'attr>;

  fn name(&self) -> &str {
    "AllReduceSum"
  }

  /// The tensor to sum, and (optional, ignored) the previous sum's result: a data dependency that makes ORT run the
  /// sums in the same order on every replica (trainer/graph/onnx.ts writes it).
  fn inputs(&self) -> impl IntoIterator<Item = OperatorInput> {
    [OperatorInput::required(TensorElementType::Float32), OperatorInput::optional(TensorElementType::Float32)]
  }

  fn outputs(&self) -> impl IntoIterator<Item = OperatorOutput> {
    [OperatorOutput::required(TensorElementType::Float32)]
  }

  /// The output has the input's type and shape. Without this ORT knows no shape downstream of the sum, and WebGPU's
  /// BatchNormalization then indexed a [N, C] input's channels wrongly (measured: y off by 0.1 on [8, 32]).
  fn infer_shape(&self, ctx: &mut ShapeInferenceContext) -> ort::Result<()> {
    let input = ctx.inputs().into_iter().next().ok_or_else(|| ort::Error::new("AllReduceSum: no input"))?;
    ctx.set_output(0, &input)
  }

  fn create_kernel<'attr>(&self, _: &KernelContext<'attr>) -> ort::Result<Self::Kernel<'attr>> {
    let gloo = Arc::clone(&self.0);
    Ok(Box::new(move |ctx: &ComputeContext| {
      let input = ctx.input(0)?.ok_or_else(|| ort::Error::new("AllReduceSum: no input"))?;
      let (shape, x) = input.try_extract_tensor::<f32>()?;
      let mut output = ctx.output(0, shape.to_vec())?.ok_or_else(|| ort::Error::new("AllReduceSum: no output"))?;
      let (_, y) = output.try_extract_tensor_mut::<f32>()?;
      y.copy_from_slice(x);
      gloo.allreduce_sum(y)
    }))
  }
}

/// The operator domain a session with collectives registers.
pub fn domain(group: &CollectiveGroup) -> napi::Result<OperatorDomain> {
  let gloo = Arc::new(Gloo::open(group)?);
  OperatorDomain::new(DOMAIN)
    .and_then(|d| d.add(AllReduceSum(gloo)))
    .map_err(|e| ort_error("collective operators", e))
}

/// Session option that makes ORT record which provider runs each node (read back by `host_nodes_beyond_collectives`).
pub const RECORD_ASSIGNMENT: &str = "session.record_ep_graph_assignment_info";

/// The nodes (`domain:op`) ORT placed on the CPU provider other than our collective operators. A GPU session with
/// collectives has to let ORT place nodes on the CPU (for those operators, whose few floats ORT copies across), so
/// this is how it still refuses a silent CPU fallback: every other node must run on the device provider.
pub fn host_nodes_beyond_collectives(session: &ort::session::Session) -> napi::Result<Vec<String>> {
  use ort::AsPointer;
  let api = ort::api();
  let check = |status: ort::sys::OrtStatusPtr| -> napi::Result<()> {
    if status.0.is_null() {
      return Ok(());
    }
    // SAFETY: a non-null status from the call just made; read, then released once.
    let message = unsafe { CStr::from_ptr((api.GetErrorMessage)(status.0)) }.to_string_lossy().into_owned();
    unsafe { (api.ReleaseStatus)(status.0) };
    Err(napi::Error::from_reason(format!("reading the graph's placement: {message}")))
  };
  let text = |p: *const c_char| if p.is_null() { String::new() } else { unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned() };
  let mut subgraphs: *const *const ort::sys::OrtEpAssignedSubgraph = std::ptr::null();
  let mut count = 0usize;
  // SAFETY: the session is live; the arrays returned are owned by it and only read here.
  check(unsafe { (api.Session_GetEpGraphAssignmentInfo)(session.ptr(), &mut subgraphs, &mut count) })?;
  let mut found = Vec::new();
  for i in 0..count {
    let subgraph = unsafe { *subgraphs.add(i) };
    let mut ep: *const c_char = std::ptr::null();
    check(unsafe { (api.EpAssignedSubgraph_GetEpName)(subgraph, &mut ep) })?;
    if text(ep) != "CPUExecutionProvider" {
      continue;
    }
    let mut nodes: *const *const ort::sys::OrtEpAssignedNode = std::ptr::null();
    let mut node_count = 0usize;
    check(unsafe { (api.EpAssignedSubgraph_GetNodes)(subgraph, &mut nodes, &mut node_count) })?;
    for j in 0..node_count {
      let node = unsafe { *nodes.add(j) };
      let (mut domain, mut op): (*const c_char, *const c_char) = (std::ptr::null(), std::ptr::null());
      check(unsafe { (api.EpAssignedNode_GetDomain)(node, &mut domain) })?;
      check(unsafe { (api.EpAssignedNode_GetOperatorType)(node, &mut op) })?;
      let domain = text(domain);
      if domain != DOMAIN {
        found.push(if domain.is_empty() { text(op) } else { format!("{domain}:{}", text(op)) });
      }
    }
  }
  Ok(found)
}
