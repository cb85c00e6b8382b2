//! One thread at a time on a device. ORT's WebGPU provider shares one Dawn device and one buffer manager between all
//! sessions of the process and does not lock them, while our runs go to libuv's worker threads and JS finalizers
//! free device tensors on the main thread: a tensor freed during another session's run corrupted the heap (WebGPU
//! training runs of an epoch or two aborted with "double free or corruption"). So every compile and run on a device
//! provider holds DEVICE, and a device value dropped while it is held waits in PENDING for the holder to free it.
use std::sync::{Mutex, TryLockError};

use crate::providers::Provider;

static DEVICE: Mutex<()> = Mutex::new(());
static PENDING: Mutex<Vec<Box<dyn Send>>> = Mutex::new(Vec::new());

/// Runs `f` holding the device, freeing what was dropped meanwhile before and after it.
pub(crate) fn exclusive<T>(f: impl FnOnce() -> T) -> T {
  let _device = DEVICE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
  free_pending();
  let out = f();
  free_pending();
  out
}

fn free_pending() {
  let values = std::mem::take(&mut *PENDING.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
  drop(values);
}

/// Drops a value of `provider`'s (a tensor, a session, a run's feeds): for a GPU provider now when the device is free,
/// else after the work that holds it (at the latest, when the next compile or run starts); for the CPU at once.
pub(crate) fn release_on<T: Send + 'static>(provider: Provider, value: T) {
  if provider.is_device() {
    release(value);
  }
}

fn release<T: Send + 'static>(value: T) {
  match DEVICE.try_lock() {
    Ok(_device) => drop(value),
    Err(TryLockError::Poisoned(_device)) => drop(value),
    Err(TryLockError::WouldBlock) => PENDING.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(Box::new(value)),
  }
}
