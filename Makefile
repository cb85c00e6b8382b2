# The front door. `make run` trains on the embedded default; `make test` runs every test.
# Both install what they need first (Debian packages via apt-get when root, npm packages, the native
# addons incl. the Rust ONNX Runtime backend, and for tests a real kube-apiserver + etcd built from Go modules into
# $(CACHE)).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
CACHE ?= $(HOME)/.cache/simclr-k8s
export SIMCLR_CACHE := $(CACHE)

# Debian packages: Fashion-MNIST (real data), Gloo (collectives), a compiler for the addon.
APT_PACKAGES := dataset-fashion-mnist libgloo-dev g++ make python3
# The dashboard's browser test drives Debian's Chromium (test/e2e/dashboard.test.ts).
CHROMIUM := /usr/bin/chromium
FASHION_MNIST := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
GLOO_HEADER := /usr/include/gloo/allreduce_ring.h

.PHONY: images all deps system-deps browser-deps python-deps build native cuda controlplane lavapipe cluster test run baseline bench clean crds
# Node 20's `--test DIR` also runs every .js under any test/ folder (helpers included): list test files instead.
TEST_FILES = $$(find dist -name '*.test.js' -not -path 'dist/test/webgpu/*' | sort)
# Run a second time on WebGPU over lavapipe: the gradient rules' finite differences and the JAX fixtures (on the
# forms chosen for WebGPU), and test/webgpu (training against the CPU provider, no node on the CPU).
WEBGPU_TEST_FILES = $$(ls dist/trainer/graph/rules/*.test.js dist/trainer/graph/autodiff.test.js dist/test/model-gradients.test.js dist/test/webgpu/*.test.js)

all: build

system-deps:
	@missing=""; \
	[ -f $(FASHION_MNIST) ] || missing="$$missing dataset-fashion-mnist"; \
	[ -f $(GLOO_HEADER) ] || missing="$$missing libgloo-dev"; \
	command -v g++ >/dev/null || missing="$$missing g++"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "missing Debian packages:$$missing -- run: sudo apt-get install$$missing" >&2; exit 1; \
	  fi; \
	fi

# onnxruntime-node's install script would fetch CUDA libraries from outside the registries: .npmrc says skip, and so
# does the variable it reads first (npm warns that a later npm may stop passing .npmrc keys it does not know).
node_modules/.package-lock.json: package.json package-lock.json
	ONNXRUNTIME_NODE_INSTALL="$${ONNXRUNTIME_NODE_INSTALL:-skip}" npm ci --no-audit --no-fund
	@touch $@

deps: system-deps node_modules/.package-lock.json

# The operator's dashboard (browser code in operator/dashboard/) is type-checked apart (DOM, not Node) and bundled into
# dist/dashboard/, which the operator serves.
build: deps
	rm -rf dist && npx tsc -p tsconfig.json
	npx tsc -p operator/dashboard/tsconfig.json
	node dist/scripts/build-dashboard.js

native: deps
	bash native/build.sh

controlplane:
	bash test/controlplane/build.sh

# Mesa's software Vulkan driver from Debian bookworm-backports, unpacked under $(CACHE)/lavapipe (no root needed):
# WebGPU on a CPU. `source "$$(scripts/lavapipe.sh)/env.sh"` sets VK_DRIVER_FILES and LD_LIBRARY_PATH for a shell.
lavapipe:
	bash scripts/lavapipe.sh >/dev/null

# ONNX Runtime's CUDA provider (`--execution-provider cuda`) and NVIDIA's CUDA 13 libraries, from PyPI wheels pinned
# by sha256 (scripts/cuda/wheels.txt): ~1.5 GB downloaded once into $(CACHE)/cuda, unpacked there (~2.1 GB), linked
# beside onnxruntime-node's libonnxruntime.so.1. Needs no GPU; `make test` checks every library resolves.
cuda: deps
	bash scripts/cuda/install.sh

# Regenerates the CRD from the zod schema and keeps the chart's copy identical (tests compare both), and the
# README's SimCLRJob reference (test/docs/readme-reference.test.ts compares it with the schema).
crds: build
	node dist/operator/api/gen-crd.js
	cp crds/simclr.dev_simclrjobs.yaml charts/simclr-operator/crds/
	node dist/scripts/gen-reference.js

# A local cluster in the foreground until Ctrl-C: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, the
# operator, and the test node agent that runs scheduled pods as local processes. Prints the KUBECONFIG to use.
cluster: build native controlplane
	node dist/test/controlplane/cluster.js

# Needs a Docker engine (none on our development machines).
images:
	docker build -f operator/Dockerfile -t simclr-operator:0.1.0 .
	docker build -f trainer/Dockerfile -t simclr-trainer:0.1.0 .

# Reference readers our file formats are checked against (TensorBoard event files, safetensors).
python-deps:
	python3 -m pip install -q --disable-pip-version-check tensorboard safetensors numpy pillow

browser-deps:
	@if [ ! -x $(CHROMIUM) ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian package: chromium"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "missing Debian package: chromium (for the dashboard's browser test) -- run: sudo apt-get install chromium" >&2; exit 1; \
	  fi; \
	fi

# The WebGPU pass gets lavapipe's libraries through the environment of its node processes only (ld.so reads
# LD_LIBRARY_PATH when a process starts), so no other test loads them.
test: build native controlplane python-deps lavapipe cuda browser-deps
	node --test --test-concurrency=1 $(TEST_FILES)
	source "$$(bash scripts/lavapipe.sh)/env.sh" && SIMCLR_TEST_PROVIDER=webgpu node --test --test-concurrency=1 $(WEBGPU_TEST_FILES)

# The default recipe: a ResNet-18 (CIFAR stem) at width 1/2 on Fashion-MNIST, trained on 16 px crops, batch 128,
# Adam, 2 epochs, evaluated and exported at 24 px (--eval-image-size: crops magnify objects, so whole images match them
# at ~1.5x the crop size). Prints kNN and linear top-1 on the test set, then exports the encoder. `make baseline` scores
# the same encoder at random initialisation and raw pixels with the same kNN and linear-probe protocol.
RECIPE := --dataset fashion-mnist --epochs 2 --batch-size 128 --image-size-override 16 --eval-image-size 24 \
	--width-multiplier 0.5 --optimizer adam --lr 8e-3 --warmup 0.1 --nce-temperature 0.1 --head-latent-size 256 \
	--nce-size 64 --threads 2

# Each `make run` gets its own uid, so an earlier run's checkpoints and encoder are never overwritten.
RUN_UID := default-$(shell date +%Y%m%d-%H%M%S)
run: build native
	node dist/trainer/cli/main.js train --uid $(RUN_UID) $(RECIPE)
	@echo "encoder: models/$(RUN_UID)/encoder.onnx"

baseline: build native
	node dist/trainer/cli/main.js baseline --uid default $(RECIPE)

bench: build native lavapipe
	node dist/bench/conv-grad.js
	node dist/bench/allreduce.js
	node dist/bench/stop-vote.js
	node dist/bench/distributed-step.js
	node dist/bench/image-kernels.js
	node dist/bench/data-pipeline.js
	node dist/bench/train-step.js
	node dist/bench/eval-forward.js
	node dist/bench/knn.js
	node dist/bench/batchnorm.js
	node dist/bench/vs-pytorch.js
	source "$$(bash scripts/lavapipe.sh)/env.sh" && node dist/bench/webgpu-forms.js
	node dist/bench/device-state.js
	source "$$(bash scripts/lavapipe.sh)/env.sh" && node dist/bench/device-state.js --provider webgpu --batch 32 --rounds 1 --steps 2
	node dist/bench/operator.js --entry dist

clean:
	rm -rf dist native/build
