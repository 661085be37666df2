"""The peak-FLOPs table behind MFU: device names as torch reports them, dense figures, precision to dtype."""

import pytest

from lightning_iter.errors import ConfigError
from lightning_iter.model.hardware import chip_of, compute_dtype, mfu, peak_flops


@pytest.mark.parametrize(
    ("name", "chip"),
    [
        ("NVIDIA H100 80GB HBM3", "h100-sxm"),
        ("NVIDIA H100 PCIe", "h100-pcie"),
        ("NVIDIA H100 NVL", "h100-nvl"),
        ("NVIDIA H200", "h200-sxm"),
        ("NVIDIA H200 NVL", "h200-nvl"),
        ("NVIDIA A100-SXM4-80GB", "a100"),
        ("NVIDIA A100 80GB PCIe", "a100"),
        ("NVIDIA GeForce RTX 3090", None),
    ],
)
def test_device_names_map_to_their_chip(name, chip):
    assert chip_of(name) == chip


def test_peaks_are_the_dense_datasheet_figures():
    assert peak_flops("NVIDIA H100 80GB HBM3", "bf16") == 989.4e12  # 1979 TFLOPS is the 2:4-sparse figure
    assert peak_flops("NVIDIA H200", "bf16") == peak_flops("NVIDIA H100 80GB HBM3", "bf16")
    assert peak_flops("NVIDIA A100-SXM4-40GB", "bf16") == 312e12
    assert peak_flops("NVIDIA A100-SXM4-40GB", "tf32") == 156e12
    assert peak_flops("NVIDIA GeForce RTX 3090", "bf16") is None
    with pytest.raises(ConfigError, match="compute dtype='int8'"):
        peak_flops("NVIDIA H200", "int8")


@pytest.mark.parametrize(
    ("precision", "tf32", "dtype"),
    [
        ("bf16-mixed", False, "bf16"),
        ("bf16-true", True, "bf16"),
        ("16-mixed", False, "fp16"),
        ("32-true", True, "tf32"),
        ("32-true", False, "fp32"),
        ("64-true", True, "fp32"),
    ],
)
def test_precision_gives_the_compute_dtype(precision, tf32, dtype):
    assert compute_dtype(precision, tf32) == dtype


def test_unknown_precision_and_mfu():
    with pytest.raises(ConfigError, match="trainer.precision='transformer-engine'"):
        compute_dtype("transformer-engine", False)
    assert mfu(494.7e12, 989.4e12) == pytest.approx(0.5)
    assert mfu(1e12, None) is None
