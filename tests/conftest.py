"""Test-wide set-up.

TRITON_INTERPRET must be set before Triton is imported anywhere, so that the Triton kernels run on
the CPU through the interpreter (DESIGN.md §5). Model code defaults to `kernels: auto`, which picks
the PyTorch path off-GPU, so only tests that ask for Triton pay the interpreter's cost.

The test models are tiny: one intra-op thread per test worker (and per CLI subprocess, through
OMP_NUM_THREADS) avoids OpenMP hand-off costs that dominate on a shared 2-core machine.
"""

import os

os.environ.setdefault("TRITON_INTERPRET", "1")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402 - after the environment above

torch.set_num_threads(1)
