# Two commands set up a fresh machine:  `make demo`  (the main job)  and  `make test`.
# Both create and reuse a virtual environment in $(VENV). torch is installed first, on its
# own, so that pip never pulls a CUDA build: override TORCH_SPEC for a GPU machine.

PYTHON     ?= python3
VENV       ?= .venv
TORCH_SPEC ?= torch==2.13.0
PY         := $(VENV)/bin/python
PIP        := $(PY) -m pip --disable-pip-version-check -q

.PHONY: demo aperture-demo depth-demo sample export notebook test test-fast bench gpu-runtime clean-venv

$(VENV)/.base: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install "$(TORCH_SPEC)"
	$(PIP) install -e ".[dev]"
	touch $@

$(VENV)/.export: $(VENV)/.base
	$(PIP) install -e ".[dev,export]"
	$(PY) -m pip check
	touch $@

# LiteRT's GPU accelerator on this machine: Mesa's software Vulkan driver (lavapipe, from Debian's backports,
# unpacked privately) and a runtime-only environment (ai-edge-litert 2.3.0 + numpy); idempotent, no root.
GPU_RUNTIME := $(VENV)/litert-gpu
$(GPU_RUNTIME)/.ready: src/bggan/litert_gpu/setup.sh
	bash src/bggan/litert_gpu/setup.sh $(GPU_RUNTIME)

gpu-runtime: $(GPU_RUNTIME)/.ready

## the main job: synthetic pairs -> pretrain -> adversarial (tiny model, CPU) -> scores vs identity
## -> TFLite export with parity -> render with the TFLite model -> eval (VGG=/path/to/vgg19-dcbb9e9d.pth
## turns the perceptual term on)
demo: $(VENV)/.export $(GPU_RUNTIME)/.ready
	$(VENV)/bin/bggan-demo --out outputs/demo --overwrite $(if $(VGG),--vgg-weights $(VGG))

## the aperture demo: one small Glass-Net for every f-number (synthetic pairs f/1.4 to f/22 and no blur) -> its
## control curve on held-out scenes -> TFLite export with the strength as a second input -> a strip f/16 ... f/1.4
aperture-demo: $(VENV)/.export $(GPU_RUNTIME)/.ready
	$(VENV)/bin/bggan-aperture-demo --out outputs/aperture_demo --overwrite

## the depth demo: a depth-aware Glass-Net (the photo and its defocus map in) trained on synthetic pairs with a phone's
## depth -> scored beside the classical renderer on held-out scenes and a real photo with measured depth -> pictures
## -> TFLite export with the defocus map as a second input, through the GPU hop -> the real photo rendered with it
depth-demo: $(VENV)/.export $(GPU_RUNTIME)/.ready
	$(VENV)/bin/bggan-depth-demo --out outputs/depth_demo --overwrite

## render the built-in test scene with a generator: make sample WEIGHTS=generator.safetensors
sample: $(VENV)/.base
	mkdir -p outputs
	$(VENV)/bin/bggan-sample --out outputs/sample.png --overwrite $(if $(WEIGHTS),--weights $(WEIGHTS))

## a generator to ONNX, SavedModel and TFLite: make export WEIGHTS=path [SIZE=1024,1536]
SIZE ?= 1024,1536
export: $(VENV)/.export
	$(VENV)/bin/bggan-export weights=$(WEIGHTS) size=[$(SIZE)]

## run notebooks/explore_outputs.ipynb on the demo's artifacts, outputs kept in outputs/explore_outputs.ipynb
notebook: $(VENV)/.export
	mkdir -p outputs
	$(VENV)/bin/jupyter execute --output=../outputs/explore_outputs.ipynb notebooks/explore_outputs.ipynb

## the whole suite, as CI runs it: slow, export and GPU-runtime tests included (none of them may skip),
## a test file per worker (pytest-xdist), one thread each: the tests' models are tiny, and two threads per
## worker on two cores only fight
TEST_WORKERS ?= 2
test: $(VENV)/.export $(GPU_RUNTIME)/.ready
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 BGGAN_REQUIRE_EXPORT=1 BGGAN_REQUIRE_GPU_RUNTIME=1 \
		$(PY) -m pytest -m "not gpu" -n $(TEST_WORKERS) --dist loadfile

## the fast default: no slow tests; export tests skip if TensorFlow is missing
test-fast: $(VENV)/.base
	$(PY) -m pytest

bench: $(VENV)/.base
	$(PY) bench/forward_cpu.py

clean-venv:
	rm -rf $(VENV)
