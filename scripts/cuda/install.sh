#!/usr/bin/env bash
# Installs ONNX Runtime's CUDA provider for onnxruntime-node from PyPI (`make cuda`; the trainer image's CUDA variant):
#   1. pip downloads the wheels of scripts/cuda/wheels.txt, each checked against its sha256 (--require-hashes), once,
#      into $SIMCLR_CACHE/cuda/wheels (~1.5 GB);
#   2. unpacks their shared libraries, keeping the wheels' layout (nvidia/{cu13,cudnn,nccl}/lib: cuDNN finds NVRTC
#      and cuBLAS through its RUNPATH $ORIGIN/../../cu13/lib), once per lock file, into $SIMCLR_CACHE/cuda/<lock hash>;
#   3. checks the provider was built from the same ONNX Runtime commit as onnxruntime-node's libonnxruntime.so.1;
#   4. puts libonnxruntime_providers_{cuda,shared}.so and nvidia/ beside that libonnxruntime.so.1, where ORT looks
#      for providers (symlinks into the cache; --copy copies, for images).
# The trainer (trainer/engine/cuda.ts) preloads the CUDA libraries from there by absolute path before ORT opens the
# provider, so nobody sets LD_LIBRARY_PATH. Nothing here needs a GPU; running on one needs an NVIDIA driver >= 580.
# Usage: scripts/cuda/install.sh [--copy]      (from anywhere; works on the repository it lives in)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
lock="$here/wheels.txt"
cache="${SIMCLR_CACHE:-$HOME/.cache/simclr-k8s}/cuda"
ort_dir="$repo/node_modules/onnxruntime-node/bin/napi-v6/linux/x64"
mode=link
case "${1:-}" in
  --copy) mode=copy ;;
  '') ;;
  *) echo "install.sh: unknown argument '$1': expected --copy or nothing" >&2; exit 2 ;;
esac

fail() { echo "scripts/cuda/install.sh: $*" >&2; exit 1; }
[ "$(uname -sm)" = "Linux x86_64" ] || fail "the CUDA wheels pinned here are for Linux x86_64, not $(uname -sm)"
[ -f "$ort_dir/libonnxruntime.so.1" ] || fail "no $ort_dir/libonnxruntime.so.1: install the npm packages first (npm ci)"
python3 -m pip --version >/dev/null 2>&1 || fail "needs pip: apt-get install python3-pip (or python3 -m ensurepip)"

# 1. Download, unless this lock file's libraries are unpacked already (then nothing here needs the network). pip
# skips a wheel already in the folder whose hash matches, and fetches it again otherwise.
key=$(sha256sum "$lock" | cut -c1-16)
root="$cache/$key"
wheels="$cache/wheels"
# Several checkouts share the cache: one installer at a time downloads and unpacks (the others wait, then find it done).
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
if [ ! -f "$root/.complete" ]; then
  mkdir -p "$wheels"
  start=$SECONDS
  python3 -m pip download --quiet --disable-pip-version-check --no-cache-dir --no-deps --require-hashes \
    --only-binary=:all: --python-version 3.11 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_18_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux_2_12_x86_64 \
    --dest "$wheels" --requirement "$lock"
  echo "wheels: $(du -sh "$wheels" | cut -f1) in $wheels ($((SECONDS - start)) s)"
fi

# 2. Unpack into a folder named by the lock file's hash, so a changed pin never mixes with an older install.
if [ ! -f "$root/.complete" ]; then
  start=$SECONDS
  rm -rf "$root.tmp" && mkdir -p "$root.tmp"
  python3 - "$lock" "$wheels" "$root.tmp" <<'PY'
# The shared libraries and licence files of each pinned wheel (not headers, static libraries, Python modules, or the
# wheel's own libonnxruntime.so: onnxruntime-node brings that one), and that library's git-commit-id.
import re, sys, zipfile, pathlib
lock, wheels, dest = sys.argv[1], pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])
pins = [line.split()[0] for line in open(lock) if line.strip() and not line.startswith('#')]
for pin in pins:
    name, version = pin.split('==')
    stem = f"{name.replace('-', '_')}-{version}-"
    found = [w for w in wheels.glob('*.whl') if w.name.startswith(stem)]
    if len(found) != 1:
        sys.exit(f'expected one wheel for {pin} in {wheels}, found {len(found)}')
    with zipfile.ZipFile(found[0]) as z:
        for m in z.namelist():
            keep = (re.fullmatch(r'nvidia/[^/]+/lib/lib[^/]+\.so[.0-9]*', m) and 'nvblas' not in m) \
                or re.fullmatch(r'onnxruntime/capi/libonnxruntime_providers_(cuda|shared)\.so', m)
            if keep:
                z.extract(m, dest)
            # licences travel with the libraries (nvidia/licenses/<wheel>/), into images too
            if re.fullmatch(r'[^/]+\.dist-info/licenses/[^/]+|onnxruntime/(LICENSE|ThirdPartyNotices\.txt)', m):
                target = dest / 'nvidia' / 'licenses' / f'{name}-{version}' / pathlib.Path(m).name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(z.read(m))
            if m.startswith('onnxruntime/capi/libonnxruntime.so.'):
                commit = re.search(rb'git-commit-id=([0-9a-f]+)', z.read(m))
                (dest / 'ort-git-commit').write_text(commit.group(1).decode() if commit else 'unknown')
PY
  touch "$root.tmp/.complete"
  rm -rf "$root" && mv "$root.tmp" "$root"
  echo "unpacked: $(du -sh "$root" | cut -f1) in $root ($((SECONDS - start)) s)"
fi
flock -u 9

# 3. Same ONNX Runtime build on both sides of the provider bridge.
ours=$(grep -a -o -m1 'git-commit-id=[0-9a-f]*' "$ort_dir/libonnxruntime.so.1" | head -1 | cut -d= -f2)
theirs=$(cat "$root/ort-git-commit")
[ -n "$ours" ] && [ "$ours" = "$theirs" ] \
  || fail "onnxruntime-node's libonnxruntime.so.1 is commit '${ours:-unknown}' but the onnxruntime-gpu wheel's is '$theirs': pin the onnxruntime-gpu release that matches package.json's onnxruntime-node in $lock"

# 4. Beside libonnxruntime.so.1. Old entries go first, so a re-run never leaves a stale link or copy behind.
provider="$root/onnxruntime/capi"
rm -rf "$ort_dir/nvidia" "$ort_dir/libonnxruntime_providers_cuda.so" "$ort_dir/libonnxruntime_providers_shared.so"
if [ "$mode" = copy ]; then
  cp "$provider/libonnxruntime_providers_cuda.so" "$provider/libonnxruntime_providers_shared.so" "$ort_dir/"
  cp -r "$root/nvidia" "$ort_dir/nvidia"
else
  ln -s "$provider/libonnxruntime_providers_cuda.so" "$provider/libonnxruntime_providers_shared.so" "$ort_dir/"
  ln -s "$root/nvidia" "$ort_dir/nvidia"
fi
echo "CUDA provider (ORT commit $ours) and NVIDIA libraries installed ($mode) beside $ort_dir/libonnxruntime.so.1"
