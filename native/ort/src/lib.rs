//! simclr_ort.node: the trainer's native ONNX Runtime backend (native/README.md).
//!
//! JS sees four things: `init` (load onnxruntime-node's libonnxruntime.so.1 once), `NativeSession` (a compiled graph
//! on one execution provider, run through IO binding off the JS thread), `NativeTensor` (an ORT value that stays in
//! the provider's memory between runs) and `NativeFeeds` (the inputs of one run, host arrays or tensors), plus the
//! byte counters of what crossed between JS memory and the provider.
mod borrowed;
mod collectives;
mod device;
mod dtype;
mod environment;
mod error;
mod feeds;
mod nccl;
mod providers;
mod session;
mod tensor;
mod traffic;
