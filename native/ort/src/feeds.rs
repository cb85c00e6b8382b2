//! NativeFeeds: the inputs of one run, collected on the JS thread. Host arrays are copied into ORT tensors here, so
//! the run that follows on another thread touches no JS memory.
use std::sync::Arc;

use napi::bindgen_prelude::Uint8Array;
use napi_derive::napi;
use ort::value::DynTensor;

use crate::dtype::host_value;
use crate::error::invalid;
use crate::session::LiveSession;
use crate::tensor::NativeTensor;

pub(crate) struct Feed {
  pub name: String,
  pub value: Arc<DynTensor>,
  /// Bytes that came from JS memory (0 for a NativeTensor).
  pub host_bytes: usize,
  /// A NativeTensor's session, kept alive (with its provider) while the run uses the tensor.
  pub _producer: Option<LiveSession>,
}

#[napi]
#[derive(Default)]
pub struct NativeFeeds {
  pub(crate) items: Vec<Feed>,
}

#[napi]
impl NativeFeeds {
  #[napi(constructor)]
  pub fn new() -> Self {
    NativeFeeds::default()
  }

  /// A host array (its bytes, e.g. `new Uint8Array(f32.buffer, f32.byteOffset, f32.byteLength)`).
  #[napi]
  pub fn host(&mut self, name: String, dtype: String, shape: Vec<i64>, data: Uint8Array) -> napi::Result<()> {
    let value = host_value(&dtype, &shape, &data).map_err(|e| invalid(format!("input {name}: {}", e.reason)))?;
    let tensor = value.downcast().map_err(|e| invalid(format!("input {name}: {e}")))?;
    self.items.push(Feed { name, value: Arc::new(tensor), host_bytes: data.len(), _producer: None });
    Ok(())
  }

  /// A tensor already in a provider's memory.
  #[napi]
  pub fn tensor(&mut self, name: String, tensor: &NativeTensor) {
    self.items.push(Feed { name, value: Arc::clone(&tensor.value), host_bytes: 0, _producer: Some(Arc::clone(&tensor.producer)) });
  }

  #[napi(getter)]
  pub fn length(&self) -> u32 {
    self.items.len() as u32
  }
}
