"""Fused RMSNorm, add+RMSNorm and SwiGLU for the norm/MLP hot path (DESIGN.md §5).

Each op has Triton forward and backward kernels registered as torch custom ops (so torch.compile
traces them without a graph break), a plain-PyTorch reference with the same semantics, and a
`backend` switch: None/"auto" (Triton on CUDA or under TRITON_INTERPRET=1, PyTorch otherwise),
"triton" or "torch". Importable without Lightning, and without Triton (PyTorch only).
"""

from ._triton_utils import HAS_TRITON
from .dispatch import BACKENDS, resolve_backend
from .fused_add_rms_norm import FusedAddRMSNormFunction, fused_add_rms_norm
from .reference import fused_add_rms_norm_ref, rms_norm_ref, swiglu_ref
from .rms_norm import RMSNormFunction, rms_norm
from .swiglu import SwiGLUFunction, swiglu

__all__ = [
    "BACKENDS",
    "HAS_TRITON",
    "FusedAddRMSNormFunction",
    "RMSNormFunction",
    "SwiGLUFunction",
    "fused_add_rms_norm",
    "fused_add_rms_norm_ref",
    "resolve_backend",
    "rms_norm",
    "rms_norm_ref",
    "swiglu",
    "swiglu_ref",
]
