"""Test-wide set-up.

TRITON_INTERPRET must be set before Triton is imported anywhere, so that the Triton kernels run on
the CPU through the interpreter (DESIGN.md §5). Model code defaults to `kernels: auto`, which picks
the PyTorch path off-GPU, so only tests that ask for Triton pay the interpreter's cost.
"""

import os

os.environ.setdefault("TRITON_INTERPRET", "1")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
