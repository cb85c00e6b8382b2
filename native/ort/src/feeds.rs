//! NativeFeeds: the inputs of one run, collected on the JS thread: tensors already in a provider's memory, and host
//! arrays, which the run reads where they are (no copy; `HostArray`) while the feed holds a reference to the JS array.
//! The caller must not change an array until its run settles (the engine awaits every run).
use std::sync::Arc;

use napi::bindgen_prelude::Uint8Array;
use napi_derive::napi;
use ort::value::{DynTensor, TensorElementType};

use crate::dtype::element_type;
use crate::error::invalid;
use crate::session::LiveSession;
use crate::tensor::NativeTensor;

/// A JS array's memory, viewed by the run as a tensor of `dtype` and `shape`.
pub(crate) struct HostArray {
  pub bytes: Uint8Array,
  pub dtype: TensorElementType,
  pub shape: Vec<i64>,
}

pub(crate) enum FeedValue {
  Host(HostArray),
  Tensor(Arc<DynTensor>, LiveSession),
}

pub(crate) struct Feed {
  pub name: String,
  pub value: FeedValue,
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

  /// A host array (its bytes, e.g. `new Uint8Array(f32.buffer, f32.byteOffset, f32.byteLength)`), read in place.
  #[napi]
  pub fn host(&mut self, name: String, dtype: String, shape: Vec<i64>, data: Uint8Array) -> napi::Result<()> {
    let ty = element_type(&dtype).map_err(|e| invalid(format!("input {name}: {}", e.reason)))?;
    if shape.iter().any(|&d| d < 0) {
      return Err(invalid(format!("input {name}: negative dimension in shape {shape:?}")));
    }
    let want = shape.iter().product::<i64>() as usize * crate::dtype::element_bytes(ty);
    if data.len() != want {
      return Err(invalid(format!("input {name}: {} bytes do not fill a {dtype} tensor of shape {shape:?}", data.len())));
    }
    if (data.as_ptr() as usize) % crate::dtype::element_bytes(ty) != 0 {
      return Err(invalid(format!("input {name}: the array's memory is not aligned to its {dtype} elements")));
    }
    self.items.push(Feed { name, value: FeedValue::Host(HostArray { bytes: data, dtype: ty, shape }) });
    Ok(())
  }

  /// A tensor already in a provider's memory (its session is kept alive, with its provider, through the run).
  #[napi]
  pub fn tensor(&mut self, name: String, tensor: &NativeTensor) {
    self.items.push(Feed { name, value: FeedValue::Tensor(Arc::clone(&tensor.value), Arc::clone(&tensor.producer)) });
  }

  #[napi(getter)]
  pub fn length(&self) -> u32 {
    self.items.len() as u32
  }
}
