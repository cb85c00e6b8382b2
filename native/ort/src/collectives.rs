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
use ort::operator::{BoxedKernel, ComputeContext, KernelContext, Operator, OperatorDomain, OperatorInput, OperatorOutput};
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

  fn inputs(&self) -> impl IntoIterator<Item = OperatorInput> {
    [OperatorInput::required(TensorElementType::Float32)]
  }

  fn outputs(&self) -> impl IntoIterator<Item = OperatorOutput> {
    [OperatorOutput::required(TensorElementType::Float32)]
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
