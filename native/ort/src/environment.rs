//! One ORT environment per process, on the library onnxruntime-node already loaded (the same path dlopens the same
//! library, so the JS binding and this backend share one ORT).
use std::sync::{Mutex, OnceLock};

use napi_derive::napi;
use ort::environment::Environment;

use crate::error::ort_error;

static ENVIRONMENT: OnceLock<Environment> = OnceLock::new();
static LIBRARY: Mutex<Option<String>> = Mutex::new(None);

/// Loads ONNX Runtime from `library_path` and creates the environment; a second call with the same path is a no-op.
#[napi]
pub fn init(library_path: String) -> napi::Result<()> {
  let mut loaded = LIBRARY.lock().map_err(|_| napi::Error::from_reason("ORT init lock poisoned"))?;
  if let Some(path) = loaded.as_ref() {
    if *path == library_path {
      return Ok(());
    }
    return Err(napi::Error::from_reason(format!(
      "ONNX Runtime is already loaded from {path}; cannot load a second one from {library_path}"
    )));
  }
  let builder = ort::init_from(&library_path)
    .map_err(|e| napi::Error::from_reason(format!("cannot load ONNX Runtime from {library_path}: {e}")))?;
  let environment = builder.with_name("simclr").with_telemetry(false).build().map_err(|e| ort_error("creating the ORT environment", e))?;
  ENVIRONMENT.set(environment).map_err(|_| napi::Error::from_reason("ORT environment created twice"))?;
  *loaded = Some(library_path);
  Ok(())
}

pub fn environment() -> napi::Result<&'static Environment> {
  ENVIRONMENT.get().ok_or_else(|| napi::Error::from_reason("the native backend is not initialised: call init(libraryPath) first"))
}
