"""MIDAS / LIDAS selection (seed 004 §3.1, Fig. 2) and the growth transaction on model + AdamW state."""

import copy

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lightning_iter.depth import LIDAS, MIDAS, get_strategy, grow_layers
from lightning_iter.errors import ConfigError
from lightning_iter.model import ModelConfig, Transformer


def sequence(op, start, end):
    """(depth, sources, insert_at) for every growth step from `start` to `end` layers."""
    steps, depth = [], start
    while depth < end:
        sources, insert_at = op.select(depth)
        steps.append((depth, sources, insert_at))
        depth += len(sources)
    return steps


MIDAS_TO_32 = [
    (4, [0, 1, 2, 3], 4),
    (8, [0, 1, 2, 3], 4),
    (12, [4, 5, 6, 7], 8),
    (16, [4, 5, 6, 7], 8),
    (20, [8, 9, 10, 11], 12),
    (24, [8, 9, 10, 11], 12),
    (28, [12, 13, 14, 15], 16),
]
LIDAS_TO_32 = [
    (4, [0, 1, 2, 3], 4),
    (8, [2, 3, 4, 5], 6),
    (12, [4, 5, 6, 7], 8),
    (16, [6, 7, 8, 9], 10),
    (20, [8, 9, 10, 11], 12),
    (24, [10, 11, 12, 13], 14),
    (28, [12, 13, 14, 15], 16),
]


@pytest.mark.parametrize("target", [24, 32])
def test_midas_and_lidas_sequences_from_one_block(target):
    midas = get_strategy("midas", block_size=4, horizon=1000, target_depth=target)
    lidas = get_strategy("lidas", block_size=4, horizon=1000, target_depth=target)
    expected_steps = (target - 4) // 4
    assert sequence(midas, 4, target) == MIDAS_TO_32[:expected_steps]
    assert sequence(lidas, 4, target) == LIDAS_TO_32[:expected_steps]


@settings(max_examples=60, deadline=None)
@given(b=st.integers(1, 8), n=st.integers(1, 12))
def test_lidas_is_midas_for_odd_block_counts_and_centred_otherwise(b, n):
    depth = n * b
    midas = MIDAS(block_size=b, horizon=10_000, target_depth=depth + b)
    lidas = LIDAS(block_size=b, horizon=10_000, target_depth=depth + b)
    m_sources, m_at = midas.select(depth)
    l_sources, l_at = lidas.select(depth)
    assert len(l_sources) == b and l_sources == list(range(l_sources[0], l_sources[0] + b))
    assert l_at == l_sources[-1] + 1 and m_at == m_sources[-1] + 1
    if n % 2 == 1:
        assert l_sources == m_sources
    # centred: as many layers before the copied block as after it (off by one only when L - b is odd)
    before, after = l_sources[0], depth - l_sources[-1] - 1
    assert 0 <= after - before <= 1
    if b % 2 == 0 and n % 2 == 0:
        half = b // 2
        m = -(-n // 2) - 1
        assert l_sources == list(range((m + 1) * b - half, (m + 1) * b + half))


@settings(max_examples=40, deadline=None)
@given(b=st.integers(1, 6), n=st.integers(1, 8), name=st.sampled_from(["midas", "lidas"]))
def test_growth_from_one_block_yields_a_relaxed_loop(b, n, name):
    """Grown from one block, layer i descends from initial layer i mod b: the weight pattern of Loop(b×k)."""
    if name == "lidas" and b % 2:
        b += 1  # for odd b an even block count puts the LIDAS centre between blocks, off the cycle
    depth, origin = b, list(range(b))
    op = get_strategy(name, block_size=b, horizon=10_000, target_depth=b * (n + 1))
    for _ in range(n):
        sources, at = op.select(depth)
        origin[at:at] = [origin[s] for s in sources]
        depth += b
    assert origin == [i % b for i in range(b * (n + 1))]


def small_model(n_layers=4):
    torch.manual_seed(0)
    return Transformer(
        ModelConfig.from_name("tiny", n_layers=n_layers, d_model=32, n_heads=2, n_kv_heads=1, ffn_dim=48)
    )


def trained(model, steps=3):
    matrices = [p for p in model.parameters() if p.ndim >= 2]
    gains = [p for p in model.parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": matrices}, {"params": gains, "weight_decay": 0.0}], lr=1e-2)
    x = torch.randint(0, 259, (2, 9), generator=torch.Generator().manual_seed(0))
    for _ in range(steps):
        model.loss(x[:, :-1], x[:, 1:]).backward()
        opt.step()
        opt.zero_grad()
    return opt, x


def test_growth_deep_copies_layers_and_adamw_state():
    model = small_model(4)
    opt, x = trained(model)
    before = [copy.deepcopy(layer.state_dict()) for layer in model.layers]
    pairs = grow_layers(model, [1, 2], 3, opt)
    assert model.n_unique == 6 and model.plan == tuple(range(6))
    origin = [0, 1, 2, 1, 2, 3]
    for layer, src in zip(model.layers, origin):
        for key, value in layer.state_dict().items():
            torch.testing.assert_close(value, before[src][key], rtol=0, atol=0)
    assert len(pairs) == 2 * len(list(model.layers[0].parameters()))
    for src, new in pairs:
        assert src is not new and src.data_ptr() != new.data_ptr()
        s, n = opt.state[src], opt.state[new]
        assert set(s) == set(n) == {"step", "exp_avg", "exp_avg_sq"}
        for key in ("step", "exp_avg", "exp_avg_sq"):
            torch.testing.assert_close(n[key], s[key], rtol=0, atol=0)
            assert n[key] is not s[key]
        group_src = next(g for g in opt.param_groups if any(p is src for p in g["params"]))
        group_new = next(g for g in opt.param_groups if any(p is new for p in g["params"]))
        assert group_src is group_new
    # copies diverge independently afterwards and training continues
    model.loss(x[:, :-1], x[:, 1:]).backward()
    opt.step()
    assert all(new.grad is not None for _, new in pairs)


def test_param_group_order_matches_a_fresh_optimizer_so_resume_loads_the_right_state():
    model = small_model(4)
    opt, _ = trained(model)
    grow_layers(model, [1, 2], 3, opt)
    state = opt.state_dict()
    fresh_matrices = [p for p in model.parameters() if p.ndim >= 2]
    fresh_gains = [p for p in model.parameters() if p.ndim < 2]
    assert [id(p) for p in opt.param_groups[0]["params"]] == [id(p) for p in fresh_matrices]
    assert [id(p) for p in opt.param_groups[1]["params"]] == [id(p) for p in fresh_gains]
    fresh = torch.optim.AdamW([{"params": fresh_matrices}, {"params": fresh_gains, "weight_decay": 0.0}], lr=1e-2)
    fresh.load_state_dict(state)
    for p in model.parameters():
        torch.testing.assert_close(fresh.state[p]["exp_avg"], opt.state[p]["exp_avg"], rtol=0, atol=0)


def test_failed_growth_leaves_model_and_optimizer_untouched():
    model = small_model(4)
    opt, _ = trained(model)
    foreign = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))])
    with pytest.raises(ConfigError, match="not in the optimizer"):
        grow_layers(model, [0], 1, foreign)
    assert model.n_unique == 4 and len(foreign.param_groups[0]["params"]) == 1
    with pytest.raises(ConfigError, match="out of range"):
        grow_layers(model, [7], 1, opt)
    assert model.n_unique == 4


def test_growth_refuses_non_identity_plans():
    model = small_model(2)
    model.plan = (0, 1, 0, 1)
    with pytest.raises(ConfigError, match="plan is not the identity"):
        grow_layers(model, [0], 1)


def test_apply_grows_by_one_block():
    model = small_model(4)
    op = get_strategy("lidas", block_size=2, horizon=10, target_depth=8)
    op.apply(model)
    assert model.n_unique == 6


@pytest.mark.parametrize(
    "name, params, message",
    [
        (
            "midas",
            dict(block_size=4, horizon=100, target_depth=30),
            "block_size=4 cannot reach the target depth 30 from depth.initial_depth=4",
        ),
        (
            "lidas",
            dict(block_size=4, horizon=100, initial_depth=12, target_depth=8),
            "initial_depth=12 is above the target depth 8",
        ),
        (
            "lidas",
            dict(block_size=4, horizon=100, initial_depth=2, target_depth=10),
            "initial_depth=2 is smaller than depth.block_size=4",
        ),
        (
            "midas",
            dict(block_size=4, horizon=100, initial_depth=6, target_depth=14),
            "midas needs depths that are multiples",
        ),
        ("lidas", dict(block_size=4, horizon=3, target_depth=24), "depth.horizon=3 is too short for 6 stages"),
        ("lidas", dict(block_size=0, horizon=100), r"depth.block_size=0 is not allowed"),
        (
            "lidas",
            dict(block_size=4, horizon=100, blocksize=3),
            "depth.blocksize is not a parameter of depth strategy 'lidas': allowed parameters are block_size, horizon",
        ),
        ("lidas", dict(block_size=4), "depth strategy 'lidas' needs depth.horizon"),
    ],
)
def test_bad_growth_configs_give_one_clear_error(name, params, message):
    with pytest.raises(ConfigError, match=message):
        get_strategy(name, **params)


def test_lidas_handles_depths_that_are_not_multiples_of_the_block():
    op = get_strategy("lidas", block_size=4, horizon=100, initial_depth=6, target_depth=14)
    assert op.select(6) == ([1, 2, 3, 4], 5)
    assert op.select(10) == ([3, 4, 5, 6], 7)


def test_odd_block_size_follows_the_papers_one_based_middle():
    op = get_strategy("lidas", block_size=3, horizon=100, target_depth=12)
    assert op.select(6) == ([1, 2, 3], 4)  # 1-based middle layer ⌈6/2⌉ = 3 is 0-based layer 2, the copy's centre
    assert op.select(9) == ([3, 4, 5], 6)  # odd block count: equals MIDAS block 1
