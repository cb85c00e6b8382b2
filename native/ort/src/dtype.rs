//! Element types by the names the engine uses (trainer/graph's DType, plus uint8/float16), and host bytes <-> ORT
//! values of each.
use ort::value::TensorElementType;

use crate::error::invalid;

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

/// The element type the engine calls `name`.
pub fn element_type(name: &str) -> napi::Result<TensorElementType> {
  match name {
    "float32" => Ok(TensorElementType::Float32),
    "float64" => Ok(TensorElementType::Float64),
    "int64" => Ok(TensorElementType::Int64),
    "int32" => Ok(TensorElementType::Int32),
    "uint8" => Ok(TensorElementType::Uint8),
    "bool" => Ok(TensorElementType::Bool),
    other => Err(invalid(format!("unsupported input dtype '{other}' (float32, float64, int64, int32, uint8, bool)"))),
  }
}
