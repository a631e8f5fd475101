#!/usr/bin/env bash
# Gather, into .whl/ at the repository root (git-ignored), the pure-Python wheels that a GPU
# machine without a package index lacks, so that it can install them offline
# (docs/gpu.md). Run it here, on a machine with pip and a package index; carry .whl/ along
# with the working tree; scripts/gpu_check.sh installs them there.
#
#   bash scripts/prepare_gpu_wheels.sh                                  # keras and gymnasium
#   bash scripts/prepare_gpu_wheels.sh minigrid==3.2.0 pygame-ce==2.5.8  # plus more NAME==VERSION
#
# The wheels are chosen for the GPU machine's Python, not this one's: CPython
# $GPU_PYTHON_VERSION (default 3.12) on x86-64 Linux (manylinux). The GPU machine's Python
# is assumed to bring JAX with CUDA, NumPy, OpenCV (opencv-python-headless), h5py,
# ml-dtypes, absl-py, rich, matplotlib and tqdm itself; it needs no TensorFlow (the GPU path
# is KERAS_BACKEND=jax). Large wheels stay behind: imageio-ffmpeg (about 68 MB) among them,
# so record videos on the CPU machine.
set -euo pipefail
top=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
cd "$top"
python_version=${GPU_PYTHON_VERSION:-3.12}
mkdir -p .whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$python_version" \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
  -d .whl keras==3.15.1 namex==0.1.0 optree==0.20.0 gymnasium==1.4.0 farama-notifications==0.0.6 "$@"
ls -la .whl
du -sh .whl
