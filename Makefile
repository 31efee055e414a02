# patchlm — the two commands: `make demo` and `make test`. Everything else is a building block of those.
SHELL := /bin/bash
ROOT := $(CURDIR)
VENV := $(ROOT)/.venv
PYTHON ?= $(VENV)/bin/python
BUILD_DIR ?= build
BUILD_TYPE ?= Release
ASAN_DIR ?= build-asan
CMAKE_EXTRA ?=
JOBS ?= $(shell nproc)

# ccache: relative paths (CCACHE_BASEDIR) so a fresh clone in another folder still hits the cache.
export CCACHE_BASEDIR := $(ROOT)
export CCACHE_NOHASHDIR := 1
export CCACHE_MAXSIZE ?= 8G
# LibTorch's CMake would otherwise try to detect GPUs by compiling and running a CUDA program.
export TORCH_CUDA_ARCH_LIST ?= 8.0;9.0a

TORCH_PREFIX = $(shell $(PYTHON) -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')
# Deferred (=, not :=): looked up when the configure recipe runs, after set-up may have installed ccache, so the
# first `make demo` on a fresh machine already configures the launcher a later `make test` uses (one build, not two).
CCACHE = $(shell command -v ccache)
LAUNCHERS = $(if $(CCACHE),-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
CMAKE_COMMON = -G Ninja -DCMAKE_PREFIX_PATH="$(TORCH_PREFIX)" -DPATCHLM_PYTHON="$(PYTHON)" $(LAUNCHERS) $(CMAKE_EXTRA)

.PHONY: all setup configure build test test-asan demo gpu-build clean help
all: build

help:
	@echo "make demo       set up, build, run the end-to-end job on the packaged real model"
	@echo "make test       set up, build, run every test (C++ + Python oracles)"
	@echo "make test-asan  build the torch-free core with ASan+UBSan and run its tests"
	@echo "make gpu-build  build with an existing python3 that has torch 2.11 (GPU machine), CUDA kernels on"

setup:
	@[[ "$(PATCHLM_SKIP_SETUP)" == 1 ]] || bash scripts/setup.sh

configure: setup
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_COMMON) > $(BUILD_DIR).configure.log 2>&1 \
	  || { cat $(BUILD_DIR).configure.log; exit 1; }

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	@ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS)

test-asan: setup
	@cmake -S . -B $(ASAN_DIR) -DCMAKE_BUILD_TYPE=Debug -DPATCHLM_SANITIZE=ON $(CMAKE_COMMON) > $(ASAN_DIR).configure.log 2>&1 \
	  || { cat $(ASAN_DIR).configure.log; exit 1; }
	@cmake --build $(ASAN_DIR) -j $(JOBS)
	@ctest --test-dir $(ASAN_DIR) --output-on-failure -j $(JOBS)

demo: build
	@bash scripts/demo.sh $(BUILD_DIR)/patchlm

# On the GPU machine: no network, torch already installed in its python3; do not create .venv. The Debian -dev
# packages come along in .gpu-deps/ (scripts/gpu_deps.sh download, here) and are unpacked there.
gpu-build:
	@if [ -d .gpu-deps/debs ]; then bash scripts/gpu_deps.sh unpack; fi
	@$(MAKE) --no-print-directory build PYTHON=python3 PATCHLM_SKIP_SETUP=1 \
	  CMAKE_EXTRA="-DPATCHLM_CUDA=ON -DCMAKE_FIND_ROOT_PATH=$(ROOT)/.gpu-deps/root -DCMAKE_FIND_ROOT_PATH_MODE_PACKAGE=BOTH -DCMAKE_FIND_ROOT_PATH_MODE_INCLUDE=BOTH -DCMAKE_FIND_ROOT_PATH_MODE_LIBRARY=BOTH $(CMAKE_EXTRA)"

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR) $(BUILD_DIR).configure.log $(ASAN_DIR).configure.log
