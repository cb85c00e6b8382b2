//! Execution providers by the names users pass (cpu, webgpu, cuda), their options, and where their tensors live.
//! A device provider that cannot register is an error (never ORT's silent CPU fallback), and device sessions turn
//! ORT's per-node CPU fallback off, so a node the provider lacks fails the compile instead of running on the host.
use napi_derive::napi;
use ort::ep::{self, ExecutionProviderDispatch};
use ort::memory::{AllocationDevice, AllocatorType, MemoryInfo, MemoryType};

use crate::error::{invalid, ort_error};

#[napi(object)]
#[derive(Clone, Default)]
pub struct CudaOptions {
  /// TF32 tensor-core math for fp32 Conv/MatMul (ORT's `use_tf32`).
  pub tf32: Option<bool>,
  /// cuDNN convolution algorithm search: "exhaustive", "heuristic" or "default".
  pub conv_algo_search: Option<String>,
  /// The CUDA memory arena's limit in bytes (`gpu_mem_limit`).
  pub memory_limit: Option<f64>,
  /// Capture the run as a CUDA graph and replay it (`enable_cuda_graph`).
  pub cuda_graph: Option<bool>,
}

#[napi(object)]
#[derive(Clone, Default)]
pub struct SessionConfig {
  /// "cpu" (default), "webgpu" or "cuda".
  pub provider: Option<String>,
  pub device_id: Option<i32>,
  /// Intra-op threads (default: ORT's choice, all cores).
  pub threads: Option<u32>,
  /// false: idle ORT worker threads sleep instead of spinning.
  pub spinning: Option<bool>,
  /// false: the CPU memory arena gives buffers back after each run.
  pub cpu_arena: Option<bool>,
  /// Write ORT's per-op profile as `<prefix>_<time>.json`.
  pub profile_prefix: Option<String>,
  pub cuda: Option<CudaOptions>,
  /// The process group the graph's collective operators reduce over (collectives.rs); absent: the graph has none.
  pub collectives: Option<crate::collectives::CollectiveGroup>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Provider {
  Cpu,
  WebGpu,
  Cuda,
}

impl Provider {
  /// A GPU provider (its compiles, runs and frees go through device.rs one at a time).
  pub fn is_device(self) -> bool {
    self != Provider::Cpu
  }

  pub fn parse(name: &str) -> napi::Result<Provider> {
    match name {
      "cpu" => Ok(Provider::Cpu),
      "webgpu" => Ok(Provider::WebGpu),
      "cuda" => Ok(Provider::Cuda),
      other => Err(invalid(format!("unknown execution provider '{other}': expected one of cpu, webgpu, cuda"))),
    }
  }

  pub fn name(self) -> &'static str {
    match self {
      Provider::Cpu => "cpu",
      Provider::WebGpu => "webgpu",
      Provider::Cuda => "cuda",
    }
  }

  /// Where tensors that stay on this provider live.
  pub fn device_memory(self, device_id: i32) -> napi::Result<MemoryInfo<'static>> {
    let (device, id) = match self {
      Provider::Cpu => (AllocationDevice::CPU, 0),
      Provider::WebGpu => (AllocationDevice::WEBGPU_BUFFER, device_id),
      Provider::Cuda => (AllocationDevice::CUDA, device_id),
    };
    MemoryInfo::new(device, id, AllocatorType::Device, MemoryType::Default).map_err(|e| ort_error("device memory info", e))
  }
}

pub fn host_memory() -> napi::Result<MemoryInfo<'static>> {
  MemoryInfo::new(AllocationDevice::CPU, 0, AllocatorType::Device, MemoryType::Default).map_err(|e| ort_error("host memory info", e))
}

/// The execution providers to register, in order (a device provider, then the CPU provider ORT always adds).
pub fn execution_providers(provider: Provider, config: &SessionConfig) -> napi::Result<Vec<ExecutionProviderDispatch>> {
  let device_id = config.device_id.unwrap_or(0);
  let cpu = ep::CPU::default().with_arena_allocator(config.cpu_arena.unwrap_or(true)).build().error_on_failure();
  Ok(match provider {
    Provider::Cpu => vec![cpu],
    Provider::WebGpu => vec![ep::WebGPU::default().with_device_id(device_id).build().error_on_failure(), cpu],
    Provider::Cuda => vec![cuda(device_id, config.cuda.clone().unwrap_or_default())?.error_on_failure(), cpu],
  })
}

fn cuda(device_id: i32, o: CudaOptions) -> napi::Result<ExecutionProviderDispatch> {
  let mut cuda = ep::CUDA::default().with_device_id(device_id);
  if let Some(tf32) = o.tf32 {
    cuda = cuda.with_tf32(tf32);
  }
  if let Some(search) = o.conv_algo_search.as_deref() {
    cuda = cuda.with_conv_algorithm_search(match search {
      "exhaustive" => ep::cuda::ConvAlgorithmSearch::Exhaustive,
      "heuristic" => ep::cuda::ConvAlgorithmSearch::Heuristic,
      "default" => ep::cuda::ConvAlgorithmSearch::Default,
      other => return Err(invalid(format!("cuda convAlgoSearch '{other}': expected exhaustive, heuristic or default"))),
    });
  }
  if let Some(limit) = o.memory_limit {
    if !(limit.is_finite() && limit >= 1.0) {
      return Err(invalid(format!("cuda memoryLimit must be a positive number of bytes, got {limit}")));
    }
    cuda = cuda.with_memory_limit(limit as usize);
  }
  if let Some(graph) = o.cuda_graph {
    cuda = cuda.with_cuda_graph(graph);
  }
  Ok(cuda.build())
}
