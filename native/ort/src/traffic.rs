//! Bytes that crossed between JS memory and a session's memory: host feeds in, host fetches out. Tensors kept in the
//! provider's memory (NativeTensor feeds and device fetches) cost nothing here, which is the point of them.
use std::sync::atomic::{AtomicU64, Ordering};

use napi_derive::napi;

static TO_PROVIDER: AtomicU64 = AtomicU64::new(0);
static TO_HOST: AtomicU64 = AtomicU64::new(0);

pub fn count_to_provider(bytes: usize) {
  TO_PROVIDER.fetch_add(bytes as u64, Ordering::Relaxed);
}

pub fn count_to_host(bytes: usize) {
  TO_HOST.fetch_add(bytes as u64, Ordering::Relaxed);
}

#[napi(object)]
pub struct Traffic {
  /// Bytes of host arrays fed to sessions.
  pub to_provider: f64,
  /// Bytes of outputs fetched into host arrays.
  pub to_host: f64,
}

/// The counters since the process started (or the last reset).
#[napi]
pub fn traffic() -> Traffic {
  Traffic { to_provider: TO_PROVIDER.load(Ordering::Relaxed) as f64, to_host: TO_HOST.load(Ordering::Relaxed) as f64 }
}

#[napi]
pub fn reset_traffic() {
  TO_PROVIDER.store(0, Ordering::Relaxed);
  TO_HOST.store(0, Ordering::Relaxed);
}
