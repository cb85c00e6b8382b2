//! ORT errors as JS errors: the message is ORT's, prefixed with what we were doing.

pub fn ort_error(context: &str, e: impl std::fmt::Display) -> napi::Error {
  napi::Error::from_reason(format!("{context}: {e}"))
}

pub fn invalid(message: impl Into<String>) -> napi::Error {
  napi::Error::new(napi::Status::InvalidArg, message.into())
}
