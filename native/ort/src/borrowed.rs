//! Host arrays bound to a run where they are: an ORT tensor over the JS array's memory (no copy), released after the
//! run. Through ORT's C API directly, because the `ort` crate's IoBinding copies a borrowed tensor before binding it.
use std::ffi::{CStr, CString};

use ort::memory::{AllocationDevice, AllocatorType, MemoryInfo, MemoryType};
use ort::session::IoBinding;
use ort::sys::{OrtStatusPtr, OrtValue};
use ort::AsPointer;

use crate::error::ort_error;
use crate::feeds::HostArray;

/// The borrowed tensors of one run; dropped after the binding that uses them.
#[derive(Default)]
pub(crate) struct BorrowedInputs {
  values: Vec<*mut OrtValue>,
}

impl BorrowedInputs {
  /// Binds `host` as input `name` of `binding`, viewing its memory; the array must outlive this struct.
  pub fn bind(&mut self, binding: &mut IoBinding, name: &str, host: &HostArray) -> napi::Result<()> {
    let api = ort::api();
    let info = MemoryInfo::new(AllocationDevice::CPU, 0, AllocatorType::Device, MemoryType::Default).map_err(|e| ort_error("host memory info", e))?;
    let mut value: *mut OrtValue = std::ptr::null_mut();
    // SAFETY: the data pointer and length describe the JS array's bytes (checked against dtype and shape when fed),
    // which the feed keeps alive and nobody writes during the run; ORT only reads it.
    check(unsafe {
      (api.CreateTensorWithDataAsOrtValue)(
        info.ptr(),
        host.bytes.as_ptr() as *mut std::ffi::c_void,
        host.bytes.len(),
        host.shape.as_ptr(),
        host.shape.len(),
        host.dtype.into(),
        &mut value,
      )
    })
    .map_err(|m| napi::Error::from_reason(format!("input {name}: {m}")))?;
    self.values.push(value);
    let cname = CString::new(name).map_err(|_| napi::Error::from_reason(format!("input name {name:?} has a NUL byte")))?;
    // SAFETY: a valid binding and value; ORT keeps its own reference to the value until the binding is cleared.
    check(unsafe { (api.BindInput)(binding.ptr_mut(), cname.as_ptr(), value) }).map_err(|m| napi::Error::from_reason(format!("binding input {name}: {m}")))
  }
}

impl Drop for BorrowedInputs {
  fn drop(&mut self) {
    for v in self.values.drain(..) {
      // SAFETY: each value was created above and is released once.
      unsafe { (ort::api().ReleaseValue)(v) };
    }
  }
}

fn check(status: OrtStatusPtr) -> Result<(), String> {
  if status.0.is_null() {
    return Ok(());
  }
  let api = ort::api();
  // SAFETY: a non-null status from ORT, read then released once.
  unsafe {
    let message = CStr::from_ptr((api.GetErrorMessage)(status.0)).to_string_lossy().into_owned();
    (api.ReleaseStatus)(status.0);
    Err(message)
  }
}
