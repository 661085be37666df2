"""`kernels: triton` in the model config runs the Triton kernels (interpreted on CPU) with the same training losses."""

import pytest
import torch

from lightning_iter import kernels
from lightning_iter.model import ModelConfig, Transformer
from lightning_iter.model.ops import _backend

SHAPE = dict(n_layers=2, d_model=32, n_heads=2, n_kv_heads=1, ffn_dim=48, vocab_size=64)


def losses(choice: str, steps: int = 3) -> list[float]:
    torch.manual_seed(0)
    model = Transformer(ModelConfig.from_name("tiny", kernels=choice, **SHAPE))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    x = torch.randint(0, 64, (2, 9), generator=torch.Generator().manual_seed(0))
    out = []
    for _ in range(steps):
        loss = model.loss(x[:, :-1], x[:, 1:])
        loss.backward()
        opt.step()
        opt.zero_grad()
        out.append(loss.item())
    return out


def test_triton_and_torch_kernels_train_alike(monkeypatch):
    launches_before = dict(kernels._triton_utils.LAUNCHES)
    triton_losses = losses("triton")
    assert kernels._triton_utils.LAUNCHES != launches_before  # the Triton code really ran
    torch.testing.assert_close(triton_losses, losses("torch"), rtol=1e-5, atol=1e-6)


def test_auto_means_triton_on_cuda_and_torch_elsewhere():
    assert _backend("auto", torch.zeros(1)) == "torch"
    assert _backend("triton", torch.zeros(1)) == "triton"
    assert _backend("torch", torch.zeros(1)) == "torch"


def test_bf16_autocast_trains_with_an_fp32_residual_stream():
    """`precision: bf16-mixed` (the paper recipes): attention outputs come out of autocast in bf16 while the residual
    stream stays fp32; the fused add+norm must take them together (it refuses mixed dtypes)."""
    torch.manual_seed(0)
    model = Transformer(ModelConfig.from_name("tiny", kernels="torch", **SHAPE))
    x = torch.randint(0, 64, (2, 9), generator=torch.Generator().manual_seed(0))
    reference = model.loss(x[:, :-1], x[:, 1:])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        hidden = model.hidden_states(x[:, :-1])
        loss = model.loss(x[:, :-1], x[:, 1:])
    assert hidden.dtype == torch.float32
    loss.backward()
    assert torch.isfinite(loss) and float(loss) == pytest.approx(float(reference), rel=2e-2)
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
