//! NCCL collectives on tensors in CUDA memory: the process group of the CUDA provider, beside Gloo's for the host.
//! NCCL and the CUDA runtime are opened at run time from the paths given (NVIDIA's wheels, which `make cuda` installs),
//! never linked, so the addon loads on machines without CUDA and `ncclVersion` checks the library without a GPU.
//! Calls that wait on other ranks (communicator setup, the collectives) run on libuv's workers.
use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::{Arc, Mutex};

use libloading::Library;
use napi::bindgen_prelude::{AsyncTask, Buffer, Env, Task};
use napi_derive::napi;
use ort::memory::AllocationDevice;
use ort::value::{DynTensor, TensorElementType, ValueType};

use crate::error::invalid;
use crate::feeds::{FeedValue, NativeFeeds};
use crate::session::LiveSession;

const UNIQUE_ID_BYTES: usize = 128; // NCCL_UNIQUE_ID_BYTES
const NCCL_FLOAT32: c_int = 7; // ncclFloat32
const NCCL_SUM: c_int = 0; // ncclSum

#[repr(C)]
#[derive(Clone, Copy)]
struct UniqueId {
  internal: [u8; UNIQUE_ID_BYTES],
}

type Comm = *mut c_void;

/// The entry points used, resolved once per library pair.
pub struct Api {
  _nccl: Library,
  _cudart: Library,
  get_version: unsafe extern "C" fn(*mut c_int) -> c_int,
  get_unique_id: unsafe extern "C" fn(*mut UniqueId) -> c_int,
  comm_init_rank: unsafe extern "C" fn(*mut Comm, c_int, UniqueId, c_int) -> c_int,
  all_reduce: unsafe extern "C" fn(*const c_void, *mut c_void, usize, c_int, c_int, Comm, *mut c_void) -> c_int,
  group_start: unsafe extern "C" fn() -> c_int,
  group_end: unsafe extern "C" fn() -> c_int,
  comm_destroy: unsafe extern "C" fn(Comm) -> c_int,
  error_string: unsafe extern "C" fn(c_int) -> *const c_char,
  set_device: unsafe extern "C" fn(c_int) -> c_int,
  stream_synchronize: unsafe extern "C" fn(*mut c_void) -> c_int,
  cuda_error_string: unsafe extern "C" fn(c_int) -> *const c_char,
}

impl Api {
  fn open(nccl_path: &str, cudart_path: &str) -> napi::Result<Api> {
    // SAFETY: loading NVIDIA's libraries runs their initialisers, which have no preconditions; every symbol below is
    // declared with the signature of nccl.h (2.30) / cuda_runtime_api.h (13).
    unsafe {
      let nccl = Library::new(nccl_path).map_err(|e| napi::Error::from_reason(format!("NCCL does not load from {nccl_path}: {e}")))?;
      let cudart =
        Library::new(cudart_path).map_err(|e| napi::Error::from_reason(format!("the CUDA runtime does not load from {cudart_path}: {e}")))?;
      macro_rules! sym {
        ($lib:expr, $name:literal) => {
          *$lib.get(concat!($name, "\0").as_bytes()).map_err(|e| napi::Error::from_reason(format!("{} has no {}: {e}", stringify!($lib), $name)))?
        };
      }
      Ok(Api {
        get_version: sym!(nccl, "ncclGetVersion"),
        get_unique_id: sym!(nccl, "ncclGetUniqueId"),
        comm_init_rank: sym!(nccl, "ncclCommInitRank"),
        all_reduce: sym!(nccl, "ncclAllReduce"),
        group_start: sym!(nccl, "ncclGroupStart"),
        group_end: sym!(nccl, "ncclGroupEnd"),
        comm_destroy: sym!(nccl, "ncclCommDestroy"),
        error_string: sym!(nccl, "ncclGetErrorString"),
        set_device: sym!(cudart, "cudaSetDevice"),
        stream_synchronize: sym!(cudart, "cudaStreamSynchronize"),
        cuda_error_string: sym!(cudart, "cudaGetErrorString"),
        _nccl: nccl,
        _cudart: cudart,
      })
    }
  }

  fn nccl(&self, what: &str, code: c_int) -> napi::Result<()> {
    if code == 0 {
      return Ok(());
    }
    // SAFETY: ncclGetErrorString returns a static string for any code.
    let text = unsafe { CStr::from_ptr((self.error_string)(code)) }.to_string_lossy();
    Err(napi::Error::from_reason(format!("NCCL {what} failed: {text} (ncclResult {code})")))
  }

  fn cuda(&self, what: &str, code: c_int) -> napi::Result<()> {
    if code == 0 {
      return Ok(());
    }
    // SAFETY: cudaGetErrorString returns a static string for any code.
    let text = unsafe { CStr::from_ptr((self.cuda_error_string)(code)) }.to_string_lossy();
    Err(napi::Error::from_reason(format!("CUDA {what} failed: {text} (cudaError {code})")))
  }
}

/// NCCL's version as an integer (e.g. 23007 for 2.30.7); needs no GPU.
#[napi]
pub fn nccl_version(nccl_path: String, cudart_path: String) -> napi::Result<u32> {
  let api = Api::open(&nccl_path, &cudart_path)?;
  let mut version: c_int = 0;
  // SAFETY: the out-pointer is valid for the call.
  api.nccl("getVersion", unsafe { (api.get_version)(&mut version) })?;
  Ok(version as u32)
}

/// A new communicator id (rank 0 makes it and shares it with the others, e.g. through Gloo's broadcast).
#[napi]
pub fn nccl_unique_id(nccl_path: String, cudart_path: String) -> napi::Result<Buffer> {
  let api = Api::open(&nccl_path, &cudart_path)?;
  let mut id = UniqueId { internal: [0; UNIQUE_ID_BYTES] };
  // SAFETY: the out-pointer is valid for the call.
  api.nccl("getUniqueId", unsafe { (api.get_unique_id)(&mut id) })?;
  Ok(id.internal.to_vec().into())
}

pub struct SendComm(Comm);
// SAFETY: an NCCL communicator may be used from any thread; calls on it are serialised by NcclGroup's mutex.
unsafe impl Send for SendComm {}

#[napi]
pub struct NcclGroup {
  api: Arc<Api>,
  comm: Arc<Mutex<Option<SendComm>>>,
  device_id: i32,
}

/// Joins the communicator `unique_id` as `rank` of `world_size` on CUDA device `device_id` (waits for every rank).
#[napi]
pub fn nccl_connect(
  nccl_path: String,
  cudart_path: String,
  unique_id: Buffer,
  rank: u32,
  world_size: u32,
  device_id: i32,
) -> napi::Result<AsyncTask<ConnectTask>> {
  if unique_id.len() != UNIQUE_ID_BYTES {
    return Err(invalid(format!("an NCCL unique id has {UNIQUE_ID_BYTES} bytes, got {}", unique_id.len())));
  }
  if rank >= world_size {
    return Err(invalid(format!("rank {rank} is not below the world size {world_size}")));
  }
  let mut id = UniqueId { internal: [0; UNIQUE_ID_BYTES] };
  id.internal.copy_from_slice(&unique_id);
  Ok(AsyncTask::new(ConnectTask { api: Some(Arc::new(Api::open(&nccl_path, &cudart_path)?)), id, rank, world_size, device_id }))
}

pub struct ConnectTask {
  api: Option<Arc<Api>>,
  id: UniqueId,
  rank: u32,
  world_size: u32,
  device_id: i32,
}

impl Task for ConnectTask {
  type Output = SendComm;
  type JsValue = NcclGroup;

  fn compute(&mut self) -> napi::Result<SendComm> {
    let api = self.api.as_ref().expect("api until resolve");
    // SAFETY: plain calls with valid arguments; the communicator is written through a valid out-pointer.
    unsafe {
      api.cuda("setDevice", (api.set_device)(self.device_id))?;
      let mut comm: Comm = std::ptr::null_mut();
      api.nccl("commInitRank", (api.comm_init_rank)(&mut comm, self.world_size as c_int, self.id, self.rank as c_int))?;
      Ok(SendComm(comm))
    }
  }

  fn resolve(&mut self, _env: Env, comm: SendComm) -> napi::Result<NcclGroup> {
    let api = self.api.take().expect("resolved once");
    Ok(NcclGroup { api, comm: Arc::new(Mutex::new(Some(comm))), device_id: self.device_id })
  }
}

#[napi]
impl NcclGroup {
  /// Sums each tensor (float32, in CUDA memory) across ranks in place, as one NCCL group; resolves when done.
  #[napi]
  pub fn allreduce_sum(&self, tensors: &mut NativeFeeds) -> napi::Result<AsyncTask<AllreduceTask>> {
    let mut held = Vec::new();
    for f in std::mem::take(&mut tensors.items) {
      match f.value {
        FeedValue::Tensor(value, producer) => {
          check_cuda_f32(&f.name, &value)?;
          held.push((value, Some(producer)));
        }
        FeedValue::Host(_) => return Err(invalid(format!("NCCL allreduce: {} is a host array, not a CUDA tensor", f.name))),
      }
    }
    Ok(AsyncTask::new(AllreduceTask { api: Arc::clone(&self.api), comm: Arc::clone(&self.comm), device_id: self.device_id, tensors: held }))
  }

  /// Frees the communicator (later collectives fail).
  #[napi]
  pub fn destroy(&self) -> napi::Result<()> {
    let mut guard = self.comm.lock().map_err(|_| napi::Error::from_reason("NCCL lock poisoned"))?;
    if let Some(comm) = guard.take() {
      // SAFETY: the communicator was made by ncclCommInitRank and is destroyed once.
      self.api.nccl("commDestroy", unsafe { (self.api.comm_destroy)(comm.0) })?;
    }
    Ok(())
  }
}

fn check_cuda_f32(name: &str, t: &DynTensor) -> napi::Result<()> {
  let is_f32 = matches!(t.dtype(), ValueType::Tensor { ty: TensorElementType::Float32, .. });
  if !is_f32 || t.memory_info().allocation_device() != AllocationDevice::CUDA {
    return Err(invalid(format!("NCCL allreduce: {name} must be a float32 tensor in CUDA memory")));
  }
  Ok(())
}

pub struct AllreduceTask {
  api: Arc<Api>,
  comm: Arc<Mutex<Option<SendComm>>>,
  device_id: i32,
  tensors: Vec<(Arc<DynTensor>, Option<LiveSession>)>,
}

impl Task for AllreduceTask {
  type Output = ();
  type JsValue = ();

  fn compute(&mut self) -> napi::Result<()> {
    let guard = self.comm.lock().map_err(|_| napi::Error::from_reason("NCCL lock poisoned"))?;
    let comm = guard.as_ref().ok_or_else(|| napi::Error::from_reason("the NCCL group was destroyed"))?.0;
    let api = &self.api;
    // SAFETY: each pointer is the CUDA buffer of a live float32 tensor of `count` elements (checked on the JS thread,
    // kept alive by `tensors`); the sum is written in place, which nothing else reads until this resolves. ORT's runs
    // synchronise their stream before returning, so the inputs are complete; the default stream is synchronised here.
    unsafe {
      api.cuda("setDevice", (api.set_device)(self.device_id))?;
      api.nccl("groupStart", (api.group_start)())?;
      for (t, _) in &self.tensors {
        let count = match t.dtype() {
          ValueType::Tensor { shape, .. } => shape.iter().product::<i64>() as usize,
          _ => 0,
        };
        let ptr = t.data_ptr() as *mut c_void;
        let code = (api.all_reduce)(ptr, ptr, count, NCCL_FLOAT32, NCCL_SUM, comm, std::ptr::null_mut());
        if code != 0 {
          (api.group_end)();
          return api.nccl("allReduce", code);
        }
      }
      api.nccl("groupEnd", (api.group_end)())?;
      api.cuda("streamSynchronize", (api.stream_synchronize)(std::ptr::null_mut()))?;
    }
    Ok(())
  }

  fn resolve(&mut self, _env: Env, _output: ()) -> napi::Result<()> {
    Ok(())
  }
}

impl Drop for AllreduceTask {
  fn drop(&mut self) {
    // CUDA tensors: freed through device.rs like every device value, not on the JS thread beside a run.
    crate::device::release_on(crate::providers::Provider::Cuda, std::mem::take(&mut self.tensors));
  }
}
