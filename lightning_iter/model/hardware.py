"""Peak dense FLOP/s per accelerator and compute dtype: the denominator of model FLOPs utilisation (MFU).

MFU = achieved model FLOP/s (our analytic count, model/flops.py) / the device's peak dense tensor-core rate in
the compute dtype (Chowdhery et al. 2022, PaLM App. B). Figures are NVIDIA's datasheet numbers *without*
structured sparsity (the datasheets' headline bf16/tf32 figures are the 2:4-sparse ones, twice these). Lightning's
own table (lightning.fabric.utilities.throughput) lists the sparse figures for H200 and does not match a plain
"NVIDIA H200" device name, hence this one.
"""

from __future__ import annotations

from ..errors import ConfigError, check_choice

COMPUTE_DTYPES = ("bf16", "fp16", "tf32", "fp32")

# dense FLOP/s: bf16 (= fp16) and tf32 tensor cores, fp32 without them
PEAK_FLOPS: dict[str, dict[str, float]] = {
    "h100-sxm": {"bf16": 989.4e12, "fp16": 989.4e12, "tf32": 494.7e12, "fp32": 66.9e12},
    "h100-pcie": {"bf16": 756.0e12, "fp16": 756.0e12, "tf32": 378.0e12, "fp32": 51.2e12},
    "h100-nvl": {"bf16": 835.5e12, "fp16": 835.5e12, "tf32": 417.6e12, "fp32": 60.0e12},
    "h200-sxm": {"bf16": 989.4e12, "fp16": 989.4e12, "tf32": 494.7e12, "fp32": 66.9e12},
    "h200-nvl": {"bf16": 835.5e12, "fp16": 835.5e12, "tf32": 417.6e12, "fp32": 60.0e12},
    "a100": {"bf16": 312.0e12, "fp16": 312.0e12, "tf32": 156.0e12, "fp32": 19.5e12},
}


def chip_of(device_name: str) -> str | None:
    """The `PEAK_FLOPS` key for a CUDA device name (`torch.cuda.get_device_name`), or None if it is not listed.

    E.g. "NVIDIA H100 80GB HBM3" -> h100-sxm, "NVIDIA H100 PCIe" -> h100-pcie, "NVIDIA H200" -> h200-sxm,
    "NVIDIA A100-SXM4-80GB" -> a100.
    """
    name = device_name.lower()
    for family in ("h200", "h100"):
        if family in name:
            if "nvl" in name:
                return f"{family}-nvl"
            if "pcie" in name or "hbm2e" in name:
                return f"{family}-pcie" if family == "h100" else None
            return f"{family}-sxm"
    return "a100" if "a100" in name else None


def peak_flops(device_name: str, dtype: str) -> float | None:
    """Peak dense FLOP/s of `device_name` in compute dtype `dtype` (one of COMPUTE_DTYPES); None when unknown."""
    check_choice("compute dtype", dtype, COMPUTE_DTYPES)
    chip = chip_of(device_name)
    return None if chip is None else PEAK_FLOPS[chip][dtype]


def compute_dtype(precision: str, tf32: bool) -> str:
    """The matmul dtype a Lightning `precision` string trains in; `tf32`: fp32 matmuls run on tf32 tensor cores
    (`torch.get_float32_matmul_precision() != "highest"`)."""
    text = str(precision)
    if text.startswith("bf16"):
        return "bf16"
    if text.startswith("16"):
        return "fp16"
    if text.startswith("32") or text.startswith("64"):
        return "tf32" if tf32 and text.startswith("32") else "fp32"
    raise ConfigError(f"trainer.precision={precision!r} has no known compute dtype for MFU: use bf16-mixed or 32-true")


def mfu(flops_per_second: float, peak: float | None) -> float | None:
    """Model FLOPs utilisation: achieved over peak FLOP/s (None without a peak, e.g. on CPU)."""
    return None if not peak else flops_per_second / peak
