#!/usr/bin/env bash
# Packs what bench/gpu/run.sh needs on a GPU machine that has no network and no Node.js (but python3 with PyTorch and
# its CUDA 13 libraries) into .gpu/ (ignored by git), split so that each device call carries at most 64 MiB together
# with the working tree. Each .gpu/call-N/ is what call N carries:
#   node.xz               this machine's node binary
#   modules.tar.xz        node_modules for Linux x64 (no TypeScript, no other platforms' binaries, no CUDA links), dist/
#                         and the native ORT backend (native/build/Release/simclr_ort.node; the image kernels too)
#   debs/*.deb            the Vulkan loader and GL dispatch libraries the WebGPU provider needs (NVIDIA's Vulkan driver
#                         fails vkCreateInstance without libglvnd)
#   cuda.tar.xz.part-NN   ORT's CUDA provider (libonnxruntime_providers_{cuda,shared}.so, from make cuda's install) and
#                         cuRAND: PyTorch 2.15's wheels bring cuBLAS, cudart, NVRTC and cuDNN 9 but not cuRAND, which
#                         the provider links (its metadata: cuda-toolkit[cublas,cudart,...,nvrtc,...]==13.2.2, no curand)
#   SHA256SUMS (call-1)   of the files the parts unpack to, checked there after reassembly
# Usage (after make build native cuda): bash bench/gpu/pack.sh [--no-cuda]     then see the call list it prints.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
cuda=1
case "${1:-}" in
  --no-cuda) cuda=0 ;;
  '') ;;
  *) echo "pack.sh: unknown argument '$1': expected --no-cuda or nothing" >&2; exit 2 ;;
esac
ort_dir=node_modules/onnxruntime-node/bin/napi-v6/linux/x64
[ -f dist/bench/vs-pytorch.js ] || { echo "pack.sh: no dist/: run make build first" >&2; exit 1; }
[ -f native/build/Release/simclr_ort.node ] || { echo "pack.sh: no native ORT backend: run make native first" >&2; exit 1; }
[ "$cuda" = 0 ] || [ -e "$ort_dir/libonnxruntime_providers_cuda.so" ] || { echo "pack.sh: no CUDA provider: run make cuda first (or --no-cuda)" >&2; exit 1; }

MiB=$((1024 * 1024))
# What a call may carry: 64 MiB less the working tree that travels with every call (tracked and untracked files that
# git does not ignore), less 1 MiB of slack.
tree=$( (git ls-files -z; git ls-files -z --others --exclude-standard) | xargs -0 -r stat -c %s -- 2>/dev/null | awk '{s += $1} END {print s + 0}')
budget=$((64 * MiB - tree - MiB))
echo "working tree $((tree / 1024)) KiB: each call may carry $((budget / MiB)) MiB"

work=.gpu/work
rm -rf .gpu && mkdir -p "$work/debs"
xz -T2 -6 -c "$(command -v node)" > "$work/node.xz"
tar -cf - --exclude="$ort_dir/nvidia" --exclude="$ort_dir/libonnxruntime_providers_cuda.so" \
  --exclude="$ort_dir/libonnxruntime_providers_shared.so" \
  --exclude='node_modules/onnxruntime-node/bin/napi-v6/darwin' --exclude='node_modules/onnxruntime-node/bin/napi-v6/win32' \
  --exclude='node_modules/onnxruntime-node/bin/napi-v6/linux/arm64' \
  --exclude='node_modules/@img/sharp-*darwin*' --exclude='node_modules/@img/sharp-*win32*' \
  --exclude='node_modules/typescript' --exclude='node_modules/@typescript' --exclude='node_modules/@esbuild' \
  --exclude='node_modules/.cache' node_modules dist native/build/Release/simclr_ort.node native/build/Release/simclr_image.node \
  | xz -T2 -6 > "$work/modules.tar.xz"
debs="libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2"
( cd "$work/debs" && apt-get download $debs >/dev/null 2>&1 ) || { apt-get update >/dev/null && ( cd "$work/debs" && apt-get download $debs ); }

if [ "$cuda" = 1 ]; then
  # The files themselves (tar -h follows make cuda's links), flat, as boot.sh unpacks them into .gpu/cuda/.
  files="$ort_dir/libonnxruntime_providers_cuda.so $ort_dir/libonnxruntime_providers_shared.so $ort_dir/nvidia/cu13/lib/libcurand.so.10"
  for f in $files; do echo "$(sha256sum < "$f" | cut -d' ' -f1)  $(basename "$f")"; done | sort -k2 > "$work/SHA256SUMS"
  # xz -9: every 58 MiB saved is one device call fewer (406 MB -> 218 MB), but it costs ~5 CPU-minutes, so the
  # result is kept in the cache, named by the files' sums, for the next pack.
  packed="${SIMCLR_CACHE:-$HOME/.cache/simclr-k8s}/gpu-pack/cuda-$(sha256sum < "$work/SHA256SUMS" | cut -c1-16).tar.xz"
  if [ ! -f "$packed" ]; then
    mkdir -p "$(dirname "$packed")"
    tar -chf - -C "$ort_dir" libonnxruntime_providers_cuda.so libonnxruntime_providers_shared.so \
      -C nvidia/cu13/lib libcurand.so.10 | xz -T2 -9 > "$packed.tmp"
    mv "$packed.tmp" "$packed"
  fi
  split -b "$budget" -d -a 2 "$packed" "$work/cuda.tar.xz.part-"
fi

# First fit, biggest first: each file into the first call with room for it.
declare -a room=()
place() { # file size
  local i=0
  while [ "$i" -lt "${#room[@]}" ] && [ "${room[$i]}" -lt "$2" ]; do i=$((i + 1)); done
  if [ "$i" -eq "${#room[@]}" ]; then room+=("$budget"); fi
  room[$i]=$((room[$i] - $2))
  local dest=".gpu/call-$((i + 1))/$(dirname "${1#"$work"/}")"
  mkdir -p "$dest" && mv "$1" "$dest/"
}
[ -f "$work/SHA256SUMS" ] && { mkdir -p .gpu/call-1 && mv "$work/SHA256SUMS" .gpu/call-1/; room=($((budget - 4096))); }
while read -r size file; do
  [ "$size" -le "$budget" ] || { echo "pack.sh: $file is $((size / MiB)) MiB, over one call's $((budget / MiB)) MiB" >&2; exit 1; }
  place "$file" "$size"
done < <(find "$work" -type f -printf '%s %p\n' | sort -rn)
rm -rf "$work"

calls=${#room[@]}
echo "packed $(du -sh .gpu | cut -f1) into $calls device calls:"
for n in $(seq 1 "$calls"); do
  echo "  call $n carries .gpu/call-$n ($(du -sh ".gpu/call-$n" | cut -f1)): $(cd ".gpu/call-$n" && find . -type f | sed 's|^\./||' | sort | tr '\n' ' ')"
done
echo "Send calls 1..$((calls - 1)) with a command that only lists what arrived (ls -lR .gpu), then call $calls with"
echo "  bash bench/gpu/run.sh       (unpacks .gpu/ there, then runs the check)"
echo "one right after another: files carried earlier stay on the machine only while it stays warm."
