//! Element types by the names the engine uses (trainer/graph's DType, plus uint8/float16), and host bytes <-> ORT
//! values of each.
use ort::value::{DynValue, Tensor, TensorElementType};

use crate::error::{invalid, ort_error};

pub fn name_of(t: TensorElementType) -> &'static str {
  match t {
    TensorElementType::Float32 => "float32",
    TensorElementType::Float64 => "float64",
    TensorElementType::Float16 => "float16",
    TensorElementType::Int64 => "int64",
    TensorElementType::Int32 => "int32",
    TensorElementType::Uint8 => "uint8",
    TensorElementType::Bool => "bool",
    _ => "unsupported",
  }
}

pub fn element_bytes(t: TensorElementType) -> usize {
  match t {
    TensorElementType::Float64 | TensorElementType::Int64 => 8,
    TensorElementType::Float32 | TensorElementType::Int32 => 4,
    TensorElementType::Float16 => 2,
    _ => 1,
  }
}

/// Copies `bytes` (the host array's memory, native byte order) into a new CPU tensor of `dtype` and `shape`.
pub fn host_value(dtype: &str, shape: &[i64], bytes: &[u8]) -> napi::Result<DynValue> {
  let count: i64 = shape.iter().product();
  if shape.iter().any(|&d| d < 0) {
    return Err(invalid(format!("negative dimension in shape {shape:?}")));
  }
  macro_rules! typed {
    ($t:ty) => {{
      let width = std::mem::size_of::<$t>();
      if bytes.len() != count as usize * width {
        return Err(invalid(format!("{} bytes do not fill a {dtype} tensor of shape {shape:?}", bytes.len())));
      }
      let mut data: Vec<$t> = Vec::with_capacity(count as usize);
      // SAFETY: the capacity holds `count` elements, exactly bytes.len() bytes, and every bit pattern is valid for
      // these plain numeric types.
      unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), data.as_mut_ptr() as *mut u8, bytes.len());
        data.set_len(count as usize);
      }
      Tensor::from_array((shape.to_vec(), data)).map(|t| t.into_dyn()).map_err(|e| ort_error("creating an input tensor", e))
    }};
  }
  match dtype {
    "float32" => typed!(f32),
    "float64" => typed!(f64),
    "int64" => typed!(i64),
    "int32" => typed!(i32),
    "uint8" => typed!(u8),
    "bool" => {
      if bytes.len() != count as usize {
        return Err(invalid(format!("{} bytes do not fill a bool tensor of shape {shape:?}", bytes.len())));
      }
      let data: Vec<bool> = bytes.iter().map(|&b| b != 0).collect();
      Tensor::from_array((shape.to_vec(), data)).map(|t| t.into_dyn()).map_err(|e| ort_error("creating an input tensor", e))
    }
    other => Err(invalid(format!("unsupported input dtype '{other}' (float32, float64, int64, int32, uint8, bool)"))),
  }
}
