# Sourced by bench/gpu/run.sh on the GPU machine: unpacks what bench/gpu/pack.sh packed into .gpu/call-*/ (node,
# node_modules + dist, the Vulkan/GL libraries, and ORT's CUDA provider + cuRAND), and puts the CUDA provider where the
# trainer looks for it (beside libonnxruntime.so.1, as make cuda does) with the CUDA libraries of the machine's
# PyTorch: its wheels' nvidia/cu13/lib and nvidia/cudnn/lib, plus the packed cuRAND where PyTorch has none.
# Idempotent: a second run finds the work done.
gpu_boot() {
  local ort_dir=node_modules/onnxruntime-node/bin/napi-v6/linux/x64
  [ -d .gpu/call-1 ] || { echo "boot.sh: no .gpu/call-1 here: run bench/gpu/pack.sh and send its calls" >&2; return 1; }
  # Each piece only where it is missing, so a machine that has it (or a rehearsal elsewhere) is left as it is.
  local f debs=(.gpu/call-*/debs/*.deb)
  for f in node.xz modules.tar.xz; do
    [ -n "$(ls .gpu/call-*/"$f" 2>/dev/null)" ] || { echo "boot.sh: .gpu/call-*/$f missing: send every call pack.sh listed" >&2; return 1; }
  done
  command -v node >/dev/null || { xz -d -c .gpu/call-*/node.xz > /usr/local/bin/node && chmod +x /usr/local/bin/node; }
  [ -f dist/bench/vs-pytorch.js ] || xz -d -c .gpu/call-*/modules.tar.xz | tar -xf -
  export VK_DRIVER_FILES="${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}"
  # The Vulkan loader only serves to reach NVIDIA's Vulkan driver: installed (into /) only next to one.
  if [ -e "${debs[0]}" ] && [ -f "$VK_DRIVER_FILES" ] && ! ldconfig -p | grep -q 'libvulkan\.so\.1 '; then
    for f in "${debs[@]}"; do dpkg -x "$f" /; done
    ldconfig
  fi

  local parts
  parts=$(ls .gpu/call-*/cuda.tar.xz.part-* 2>/dev/null | awk -F/ '{print $NF " " $0}' | sort | cut -d' ' -f2)
  if [ -n "$parts" ] && [ ! -f .gpu/cuda/.complete ]; then
    rm -rf .gpu/cuda && mkdir -p .gpu/cuda
    # The parts are numbered from 00 without gaps; a missing one breaks the xz stream, and the sums catch the rest.
    cat $parts | xz -d | tar -C .gpu/cuda -xf - \
      && (cd .gpu/cuda && sha256sum --quiet -c ../call-1/SHA256SUMS) \
      || { echo "boot.sh: the CUDA parts ($(echo $parts | wc -w) here) do not reassemble: send every call pack.sh listed" >&2; return 1; }
    touch .gpu/cuda/.complete
  fi
  # Only where no CUDA provider is installed yet (make cuda's stays as it is).
  if [ -f .gpu/cuda/.complete ] && { [ ! -e "$ort_dir/libonnxruntime_providers_cuda.so" ] || [ -L "$ort_dir/nvidia/cudnn" ]; }; then
    # PyTorch's CUDA 13 wheels (the nvidia namespace package beside torch), linked one by one beside ORT.
    local nv
    nv=$("${python:-python3}" -c 'import nvidia, os; print([p for p in nvidia.__path__ if os.path.isdir(os.path.join(p, "cu13", "lib"))][0])') \
      || { echo "boot.sh: python3 has no nvidia/cu13 wheels (PyTorch built for CUDA 13)" >&2; return 1; }
    rm -rf "$ort_dir/nvidia" && mkdir -p "$ort_dir/nvidia/cu13/lib"
    ln -sf "$nv"/cu13/lib/lib*.so* "$ort_dir/nvidia/cu13/lib/"
    ln -s "$nv/cudnn" "$ort_dir/nvidia/cudnn"
    [ -e "$ort_dir/nvidia/cu13/lib/libcurand.so.10" ] || ln -s "$PWD/.gpu/cuda/libcurand.so.10" "$ort_dir/nvidia/cu13/lib/"
    ln -sf "$PWD/.gpu/cuda/libonnxruntime_providers_cuda.so" "$PWD/.gpu/cuda/libonnxruntime_providers_shared.so" "$ort_dir/"
    echo "CUDA: ORT's provider from .gpu/cuda; libraries from $nv ($(ls "$ort_dir/nvidia/cu13/lib" | tr '\n' ' '))"
  fi
  if command -v nvidia-smi >/dev/null; then nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; fi
  echo "node $(node --version); $("${python:-python3}" -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda, "cuDNN", torch.backends.cudnn.version())')"
}
gpu_boot
