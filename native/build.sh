#!/usr/bin/env bash
# Builds the addons: native/build/Release/simclr_gloo.node (Gloo collectives; needs Debian's libgloo-dev),
# simclr_image.node (the augmentation's resample and blur kernels; no dependency), both with a C++17 compiler, and
# simclr_ort.node (the native ONNX Runtime backend, Rust: cargo fetches its crates from crates.io).
# npm does not run dependencies' install scripts here, so this is invoked explicitly: `npm run build:native`.
set -euo pipefail
cd "$(dirname "$0")"

CXX_BIN="${CXX:-c++}"
if ! command -v "$CXX_BIN" >/dev/null 2>&1; then
  echo "native/build.sh: no C++ compiler ($CXX_BIN) found. Install one: apt-get install -y g++ make python3" >&2
  exit 1
fi
if ! echo '#include <gloo/rendezvous/store.h>
#include <gloo/transport/tcp/device.h>' | "$CXX_BIN" -std=c++17 -fsyntax-only -x c++ - >/dev/null 2>&1; then
  echo "native/build.sh: Gloo headers not found (gloo/rendezvous/store.h, gloo/transport/tcp/device.h)." >&2
  echo "  Install the Debian package libgloo-dev (runtime: libgloo0):  apt-get install -y libgloo-dev" >&2
  exit 1
fi

# Build against the headers of the node that runs us (no download: machines here are offline).
NODEDIR="$(node -p "require('path').resolve(process.execPath, '..', '..')")"
NODEDIR_ARGS=()
if [ -f "$NODEDIR/include/node/node_api.h" ]; then NODEDIR_ARGS=(--nodedir="$NODEDIR"); fi

JOBS="${JOBS:-2}"
# Incremental: configure once (or with REBUILD=1), then let make rebuild only what changed.
if [ "${REBUILD:-0}" = 1 ] || [ ! -f build/Makefile ]; then
  nice -n 10 npx --no-install node-gyp configure --directory . "${NODEDIR_ARGS[@]}"
fi
nice -n 10 npx --no-install node-gyp build --directory . "${NODEDIR_ARGS[@]}" -j "$JOBS"

# The ORT backend. Its build folder lives outside the clone (crates and objects survive a fresh clone); cargo rebuilds
# only what changed. --locked: the crates are exactly those in Cargo.lock.
if ! command -v cargo >/dev/null 2>&1; then
  echo "native/build.sh: cargo not found; the ORT backend is Rust. Install a Rust toolchain (https://rustup.rs or apt-get install -y cargo)" >&2
  exit 1
fi
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${SIMCLR_CACHE:-$HOME/.cache/simclr-k8s}/cargo-target}"
export CARGO_TARGET_DIR
nice -n 10 cargo build --release --locked --jobs "$JOBS" --manifest-path ort/Cargo.toml
cp "$CARGO_TARGET_DIR/release/libsimclr_ort.so" build/Release/simclr_ort.node.tmp
mv build/Release/simclr_ort.node.tmp build/Release/simclr_ort.node
echo "native/build.sh: built $(pwd)/build/Release/simclr_gloo.node, simclr_image.node and simclr_ort.node"
