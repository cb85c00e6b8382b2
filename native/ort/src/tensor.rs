//! NativeTensor: an ORT value in a provider's memory (host memory for the CPU provider, a GPU buffer for WebGPU and
//! CUDA), fed to later runs without crossing into JS. JS reads it only through a session run that fetches to the host.
use std::mem::ManuallyDrop;
use std::sync::Arc;

use napi_derive::napi;
use ort::value::{DynTensor, ValueType};

use crate::dtype::{element_bytes, name_of};
use crate::device::release_on;
use crate::providers::Provider;
use crate::session::LiveSession;

#[napi]
pub struct NativeTensor {
  pub(crate) value: ManuallyDrop<Arc<DynTensor>>,
  /// The session whose run made it (its provider owns the memory).
  pub(crate) producer: ManuallyDrop<LiveSession>,
  /// Whose memory it is in (a GPU provider's is freed through device.rs).
  provider: Provider,
}

impl Drop for NativeTensor {
  fn drop(&mut self) {
    // SAFETY: each field is taken once, here, and not used after.
    let (value, producer) = unsafe { (ManuallyDrop::take(&mut self.value), ManuallyDrop::take(&mut self.producer)) };
    // The value first: the provider it lives on (kept alive by its session) outlives it.
    release_on(self.provider, (value, producer));
  }
}

impl NativeTensor {
  pub(crate) fn new(value: DynTensor, producer: LiveSession, provider: Provider) -> Self {
    NativeTensor { value: ManuallyDrop::new(Arc::new(value)), producer: ManuallyDrop::new(producer), provider }
  }

  fn tensor_type(&self) -> Option<(ort::value::TensorElementType, Vec<i64>)> {
    match self.value.dtype() {
      ValueType::Tensor { ty, shape, .. } => Some((*ty, shape.iter().copied().collect())),
      _ => None,
    }
  }
}

#[napi]
impl NativeTensor {
  #[napi(getter)]
  pub fn shape(&self) -> Vec<i64> {
    self.tensor_type().map(|(_, s)| s).unwrap_or_default()
  }

  #[napi(getter)]
  pub fn dtype(&self) -> String {
    self.tensor_type().map(|(t, _)| name_of(t)).unwrap_or("unsupported").to_string()
  }

  /// ORT's name of the memory holding it: "Cpu", "WebGPU_Buffer", "Cuda".
  #[napi(getter)]
  pub fn location(&self) -> String {
    self.value.memory_info().allocation_device().as_str().to_string()
  }

  #[napi(getter)]
  pub fn byte_length(&self) -> f64 {
    self.tensor_type().map(|(t, s)| (s.iter().product::<i64>() as usize * element_bytes(t)) as f64).unwrap_or(0.0)
  }
}
