"""One token-weighted cross-entropy: training loss, held-out NLL and intervention loss give the same number."""

import pytest
import torch
import torch.nn.functional as F

from lightning_iter.analysis.interventions import heldout_loss
from lightning_iter.eval.nll import heldout_nll
from lightning_iter.model import ModelConfig, Transformer
from lightning_iter.model.loss import mean_token_cross_entropy, token_cross_entropy


def _model() -> Transformer:
    torch.manual_seed(0)
    return Transformer(ModelConfig.from_name("tiny", d_model=32, n_heads=2, n_kv_heads=1, ffn_dim=64, n_layers=2))


def test_sum_and_count_skip_ignored_targets_and_cast_to_fp32():
    torch.manual_seed(1)
    logits = torch.randn(2, 5, 7, dtype=torch.bfloat16)
    targets = torch.randint(0, 7, (2, 5))
    targets[0, :3] = -100
    total, count = token_cross_entropy(logits, targets)
    expected = F.cross_entropy(logits.float().reshape(-1, 7), targets.reshape(-1), reduction="none")
    assert total.dtype == torch.float32
    assert int(count) == 7
    assert total.item() == pytest.approx(expected[targets.reshape(-1) != -100].sum().item(), rel=1e-6)
    assert mean_token_cross_entropy(logits, targets).item() == pytest.approx((total / count).item(), rel=1e-6)


def test_training_loss_is_bit_exact_with_the_fp32_mean_cross_entropy():
    model = _model()
    tokens = torch.randint(0, 259, (3, 9))
    targets = tokens[:, 1:].clone()
    targets[1, :4] = -100
    with torch.no_grad():
        logits = model(tokens[:, :-1])
        expected = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100)
        assert torch.equal(model.loss(tokens[:, :-1], targets), expected)


def test_training_loss_heldout_nll_and_intervention_loss_agree():
    model = _model()
    tokens = torch.randint(0, 259, (4, 10))
    inputs, targets = tokens[:, :-1], tokens[:, 1:]
    with torch.no_grad():
        train = model.loss(inputs, targets).item()
    nll = heldout_nll(model, [(inputs[:3], targets[:3]), (inputs[3:], targets[3:])])["loss"]
    intervention = heldout_loss(model, tokens, batch_size=3)
    assert nll == pytest.approx(train, rel=1e-6)
    assert intervention == pytest.approx(train, rel=1e-6)


def test_training_loss_and_heldout_nll_agree_with_ignored_targets():
    model = _model()
    tokens = torch.randint(0, 259, (3, 9))
    inputs, targets = tokens[:, :-1], tokens[:, 1:].clone()
    targets[0, :5] = -100
    targets[2, -2:] = -100
    with torch.no_grad():
        train = model.loss(inputs, targets).item()
    result = heldout_nll(model, [(inputs[:1], targets[:1]), (inputs[1:], targets[1:])])
    assert result["tokens"] == 3 * 8 - 7
    assert result["loss"] == pytest.approx(train, rel=1e-6)
