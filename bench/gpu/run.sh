#!/usr/bin/env bash
# The GPU check: make run's model (ResNet-18 with the CIFAR stem, 16 px, 1 channel, head 256/64, Adam) at full width
# and batch 512, our training step on each ORT provider against the same step in PyTorch on the same GPU
# (bench/vs-pytorch.ts, which runs bench/train-step.ts and bench/train-step-torch.py): images/s of each, their ratio,
# and both sides' losses after each of the same steps. Where bench/gpu/pack.sh's .gpu/ is present (the GPU machine,
# which has no Node.js and no network), it unpacks that first (bench/gpu/boot.sh).
# First, on CUDA, the correctness pass `make test` runs on WebGPU (lavapipe) in CI: the gradient rules' finite
# differences, the whole-model JAX fixtures, and test/webgpu (device steps and runs against the CPU provider, bytes
# per step, no node on the CPU), with SIMCLR_TEST_PROVIDER=cuda and TF32 off.
# Usage: bash bench/gpu/run.sh [--providers cuda,webgpu] [--device cuda] [--steps 10] [--rounds 2] [--width 1]
#          [--batch 512] [--python python3] [--tests cuda|none]
# Here, without a GPU: bash bench/gpu/run.sh --providers cpu --device cpu --batch 32 --steps 2 --rounds 1
set -euo pipefail
cd "$(dirname "$0")/../.."
providers=cuda,webgpu device=cuda steps=10 rounds=2 width=1 batch=512 python=python3 tests=cuda
while [ $# -gt 0 ]; do
  case "$1" in
    --providers) providers=$2 ;;
    --device) device=$2 ;;
    --steps) steps=$2 ;;
    --rounds) rounds=$2 ;;
    --width) width=$2 ;;
    --batch) batch=$2 ;;
    --python) python=$2 ;;
    --tests) tests=$2 ;;
    *) echo "run.sh: unknown flag $1: expected --providers --device --steps --rounds --width --batch --python --tests" >&2; exit 2 ;;
  esac
  [ $# -ge 2 ] || { echo "run.sh: $1 needs a value" >&2; exit 2; }
  shift 2
done
for p in ${providers//,/ }; do
  case "$p" in cpu|webgpu|cuda) ;; *) echo "run.sh: --providers $p: expected cpu, webgpu or cuda" >&2; exit 2 ;; esac
done
case "$device" in cpu|cuda) ;; *) echo "run.sh: --device $device: expected cpu or cuda" >&2; exit 2 ;; esac
case "$tests" in cuda|none) ;; *) echo "run.sh: --tests $tests: expected cuda or none" >&2; exit 2 ;; esac

if [ -d .gpu/call-1 ]; then source bench/gpu/boot.sh; fi
"$python" -c 'import torch' || { echo "run.sh: $python cannot import torch: pass --python" >&2; exit 1; }

status=0
if [ "$tests" = cuda ]; then
  echo "== correctness on CUDA: gradient rules, JAX fixtures, device steps and runs against the CPU provider"
  SIMCLR_TEST_PROVIDER=cuda CI=true node --test --test-concurrency=1 dist/trainer/graph/rules/*.test.js \
    dist/trainer/graph/autodiff.test.js dist/test/model-gradients.test.js dist/test/webgpu/*.test.js || status=1
fi
for p in ${providers//,/ }; do
  echo "== ours on ORT's $p provider vs PyTorch on $device (make run's model: width $width, batch $batch, 16 px)"
  # One provider failing (no driver, no Vulkan ICD) must not hide the others' numbers.
  node dist/bench/vs-pytorch.js --provider "$p" --device "$device" --python "$python" --width "$width" --batch "$batch" \
    --size 16 --head 256 --nce 64 --threads "$(nproc)" --steps "$steps" --rounds "$rounds" || status=1
done
exit $status
