//! NativeSession: one compiled graph on one execution provider. Runs go through IO binding on a libuv worker thread:
//! each input is a host array (copied into ORT when fed) or a NativeTensor (used where it lives); each output is either
//! kept in the provider's memory (a NativeTensor for later runs) or fetched to the host (a Uint8Array over ORT's own
//! buffer, no second copy). A fresh binding per run: ORT writes a reused binding's outputs into the buffers of the
//! previous run, which JS may still hold.
use std::sync::{Arc, Mutex};

use napi::bindgen_prelude::{AsyncTask, Buffer, Env, Task, Uint8Array};
use napi_derive::napi;
use ort::logging::LogLevel;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::{DynTensor, ValueType};

use crate::collectives;
use crate::device::{exclusive, release_on};
use crate::dtype::{element_bytes, name_of};
use crate::environment::environment;
use crate::error::{invalid, ort_error};
use crate::borrowed::BorrowedInputs;
use crate::feeds::{Feed, FeedValue, NativeFeeds};
use crate::providers::{execution_providers, host_memory, Provider, SessionConfig};
use crate::tensor::NativeTensor;
use crate::traffic::{count_to_host, count_to_provider};

/// The session, shared by the NativeSession (until release) and by every tensor a run kept in the provider's memory:
/// a device buffer must be freed while its provider still exists (ORT's WebGPU context dies with its last session,
/// and freeing a buffer after that aborts the process), so tensors keep their session alive.
pub(crate) type LiveSession = Arc<Mutex<Session>>;
type SharedSession = Arc<Mutex<Option<LiveSession>>>;

#[napi]
pub struct NativeSession {
  session: SharedSession,
  provider: Provider,
  device_id: i32,
  input_names: Vec<String>,
  output_names: Vec<String>,
}

#[napi(object)]
pub struct Fetch {
  pub name: String,
  /// true: the output stays in the provider's memory (returned as `tensor`); false: copied to the host (`data`).
  pub keep: bool,
}

#[napi(object, object_from_js = false)]
pub struct Fetched {
  pub name: String,
  pub dtype: String,
  pub shape: Vec<i64>,
  /// The output's bytes in host memory (when not kept).
  pub data: Option<Uint8Array>,
  pub tensor: Option<NativeTensor>,
}

/// Compiles `model` (serialized ONNX) for the configured provider.
#[napi]
pub fn create_session(model: Buffer, config: SessionConfig) -> AsyncTask<CreateTask> {
  AsyncTask::new(CreateTask { model: model.to_vec(), config })
}

pub struct CreateTask {
  model: Vec<u8>,
  config: SessionConfig,
}

pub struct Compiled {
  session: Session,
  provider: Provider,
}

impl Task for CreateTask {
  type Output = Compiled;
  type JsValue = NativeSession;

  fn compute(&mut self) -> napi::Result<Compiled> {
    let provider = Provider::parse(self.config.provider.as_deref().unwrap_or("cpu"))?;
    let session = if provider.is_device() { exclusive(|| build(provider, &self.config, &self.model))? } else { build(provider, &self.config, &self.model)? };
    Ok(Compiled { session, provider })
  }

  fn resolve(&mut self, _env: Env, c: Compiled) -> napi::Result<NativeSession> {
    let input_names = c.session.inputs().iter().map(|o| o.name().to_string()).collect();
    let output_names = c.session.outputs().iter().map(|o| o.name().to_string()).collect();
    Ok(NativeSession {
      session: Arc::new(Mutex::new(Some(Arc::new(Mutex::new(c.session))))),
      provider: c.provider,
      device_id: self.config.device_id.unwrap_or(0),
      input_names,
      output_names,
    })
  }
}

fn build(provider: Provider, config: &SessionConfig, model: &[u8]) -> napi::Result<Session> {
  let fail = |what: &str| {
    let what = what.to_string();
    move |e: ort::Error<ort::session::builder::SessionBuilder>| ort_error(&what, e)
  };
  let mut b = Session::builder(environment()?)
    .map_err(|e| ort_error("session options", e))?
    .with_optimization_level(GraphOptimizationLevel::All)
    .map_err(fail("optimization level"))?
    .with_log_level(LogLevel::Error)
    .map_err(fail("log level"))?
    .with_parallel_execution(false)
    .map_err(fail("execution mode"))?;
  if let Some(threads) = config.threads {
    b = b.with_intra_threads(threads as usize).map_err(fail("threads"))?.with_inter_threads(1).map_err(fail("threads"))?;
  }
  if config.spinning == Some(false) {
    b = b
      .with_config_entry("session.intra_op.allow_spinning", "0")
      .map_err(fail("spinning"))?
      .with_config_entry("session.inter_op.allow_spinning", "0")
      .map_err(fail("spinning"))?;
  }
  // A node the device provider cannot run fails the compile instead of silently running on the host: ORT refuses
  // any CPU node, or, where the graph's collective operators must run on the host, we check the placement after.
  let collectives_on_device = provider != Provider::Cpu && config.collectives.is_some();
  if provider != Provider::Cpu && !collectives_on_device {
    b = b.with_config_entry("session.disable_cpu_ep_fallback", "1").map_err(fail("CPU fallback"))?;
  }
  if collectives_on_device {
    b = b.with_config_entry(collectives::RECORD_ASSIGNMENT, "1").map_err(fail("placement record"))?;
  }
  if let Some(group) = config.collectives.as_ref() {
    b = b.with_operators(collectives::domain(group)?).map_err(fail("collective operators"))?;
  }
  if let Some(prefix) = config.profile_prefix.as_deref() {
    b = b.with_profiling(prefix).map_err(fail("profiling"))?;
  }
  let eps = execution_providers(provider, config)?;
  b = b.with_execution_providers(eps).map_err(fail(&format!("execution provider '{}'", provider.name())))?;
  let session = b.commit_from_memory(model).map_err(|e| ort_error("compiling the graph", e))?;
  if collectives_on_device {
    let on_host = collectives::host_nodes_beyond_collectives(&session)?;
    if !on_host.is_empty() {
      // Worded as ORT's own refusal, which the engine recognises and turns into the list of nodes without a kernel.
      return Err(napi::Error::from_reason(format!(
        "compiling the graph: This session contains graph nodes that are assigned to the default CPU EP, but fallback to CPU EP has been explicitly disabled by the user ({} on the host: {})",
        provider.name(),
        on_host.join(", ")
      )));
    }
  }
  Ok(session)
}

#[napi]
impl NativeSession {
  #[napi(getter)]
  pub fn input_names(&self) -> Vec<String> {
    self.input_names.clone()
  }

  #[napi(getter)]
  pub fn output_names(&self) -> Vec<String> {
    self.output_names.clone()
  }

  #[napi(getter)]
  pub fn provider(&self) -> String {
    self.provider.name().to_string()
  }

  /// Runs once with `feeds` (emptied) and returns the `fetches` in their order.
  #[napi]
  pub fn run(&self, feeds: &mut NativeFeeds, fetches: Vec<Fetch>) -> napi::Result<AsyncTask<RunTask>> {
    for f in &fetches {
      if !self.output_names.contains(&f.name) {
        return Err(invalid(format!("the graph has no output named {}", f.name)));
      }
    }
    for f in &feeds.items {
      if !self.input_names.contains(&f.name) {
        return Err(invalid(format!("the graph has no input named {}", f.name)));
      }
    }
    Ok(AsyncTask::new(RunTask {
      session: Some(live(&self.session)?),
      provider: self.provider,
      device_id: self.device_id,
      feeds: std::mem::take(&mut feeds.items),
      fetches,
    }))
  }

  /// Ends profiling and returns the profile's file name.
  #[napi]
  pub fn end_profiling(&self) -> napi::Result<String> {
    let live = live(&self.session)?;
    let mut session = live.lock().map_err(|_| napi::Error::from_reason("session lock poisoned"))?;
    session.end_profiling().map_err(|e| ort_error("ending the profile", e))
  }

  /// Drops this handle's session (later runs fail); ORT frees it once no tensor it kept is left.
  #[napi]
  pub fn release(&self) -> napi::Result<()> {
    let mut guard = self.session.lock().map_err(|_| napi::Error::from_reason("session lock poisoned"))?;
    if let Some(session) = guard.take() {
      release_on(self.provider, session);
    }
    Ok(())
  }
}

impl Drop for NativeSession {
  fn drop(&mut self) {
    if let Some(session) = self.session.lock().ok().and_then(|mut guard| guard.take()) {
      release_on(self.provider, session);
    }
  }
}

fn live(session: &SharedSession) -> napi::Result<LiveSession> {
  let guard = session.lock().map_err(|_| napi::Error::from_reason("session lock poisoned"))?;
  guard.as_ref().map(Arc::clone).ok_or_else(|| napi::Error::from_reason("session was released"))
}

pub struct RunTask {
  /// Some until the task is dropped (on the JS thread, after resolve or reject), which releases it.
  session: Option<LiveSession>,
  provider: Provider,
  device_id: i32,
  feeds: Vec<Feed>,
  fetches: Vec<Fetch>,
}

impl Task for RunTask {
  type Output = Vec<DynTensor>;
  type JsValue = Vec<Fetched>;

  fn compute(&mut self) -> napi::Result<Vec<DynTensor>> {
    if !self.provider.is_device() {
      return self.run();
    }
    exclusive(|| {
      let out = self.run();
      // The feeds' tensors go here, holding the device, rather than with the task on the JS thread.
      self.feeds.clear();
      out
    })
  }

  fn resolve(&mut self, _env: Env, tensors: Vec<DynTensor>) -> napi::Result<Vec<Fetched>> {
    let session = self.session.as_ref().ok_or_else(|| napi::Error::from_reason("session was released"))?;
    let mut out = Vec::with_capacity(tensors.len());
    for (f, t) in self.fetches.iter().zip(tensors) {
      let (dtype, shape) = match t.dtype() {
        ValueType::Tensor { ty, shape, .. } => (*ty, shape.iter().copied().collect::<Vec<i64>>()),
        _ => return Err(napi::Error::from_reason(format!("output {} is not a tensor", f.name))),
      };
      let name = f.name.clone();
      if f.keep {
        let tensor = NativeTensor::new(t, Arc::clone(session), self.provider);
        out.push(Fetched { name, dtype: name_of(dtype).to_string(), shape, data: None, tensor: Some(tensor) });
        continue;
      }
      let bytes = shape.iter().product::<i64>() as usize * element_bytes(dtype);
      count_to_host(bytes);
      let data = host_bytes(t, bytes, self.provider);
      out.push(Fetched { name, dtype: name_of(dtype).to_string(), shape, data: Some(data), tensor: None });
    }
    Ok(out)
  }
}

impl Drop for RunTask {
  fn drop(&mut self) {
    if let Some(session) = self.session.take() {
      release_on(self.provider, session);
    }
    release_on(self.provider, std::mem::take(&mut self.feeds));
  }
}

impl RunTask {
  fn run(&mut self) -> napi::Result<Vec<DynTensor>> {
    let live = self.session.as_ref().ok_or_else(|| napi::Error::from_reason("session was released"))?;
    let mut session = live.lock().map_err(|_| napi::Error::from_reason("session lock poisoned"))?;
    // Declared before the binding, so dropped after it.
    let mut borrowed = BorrowedInputs::default();
    let mut binding = session.create_binding().map_err(|e| ort_error("IO binding", e))?;
    for f in &self.feeds {
      match &f.value {
        FeedValue::Host(host) => {
          borrowed.bind(&mut binding, &f.name, host)?;
          count_to_provider(host.bytes.len());
        }
        FeedValue::Tensor(t, _) => {
          binding.bind_input(f.name.as_str(), &**t).map_err(|e| ort_error(&format!("binding input {}", f.name), e))?;
        }
      }
    }
    let device = self.provider.device_memory(self.device_id)?;
    let host = host_memory()?;
    for f in &self.fetches {
      let memory = if f.keep { &device } else { &host };
      binding.bind_output_to_device(f.name.as_str(), memory).map_err(|e| ort_error(&format!("binding output {}", f.name), e))?;
    }
    let mut outputs = session.run_binding(&binding).map_err(|e| ort_error("running the graph", e))?;
    let mut tensors = Vec::with_capacity(self.fetches.len());
    for f in &self.fetches {
      let value = outputs.remove(f.name.as_str()).ok_or_else(|| napi::Error::from_reason(format!("output {} was not produced", f.name)))?;
      tensors.push(value.downcast::<ort::value::DynTensorValueType>().map_err(|e| ort_error(&format!("output {}", f.name), e))?);
    }
    drop(outputs);
    drop(binding);
    drop(borrowed);
    Ok(tensors)
  }

}

/// A Uint8Array over the tensor's host buffer, which the array keeps alive.
fn host_bytes(tensor: DynTensor, bytes: usize, provider: Provider) -> Uint8Array {
  if bytes == 0 {
    return Uint8Array::new(Vec::new());
  }
  let ptr = tensor.data_ptr() as *mut u8;
  // SAFETY: the tensor is in host memory (bound to the CPU), holds `bytes` bytes at `ptr`, and is moved into the
  // finalizer, so the memory lives exactly as long as the JS array.
  unsafe { Uint8Array::with_external_data(ptr, bytes, move |_, _| release_on(provider, tensor)) }
}
