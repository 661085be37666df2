"""The contract every registered depth strategy keeps (issue 12): a valid plan at every step, depth a pure function
of the step, `get_strategy(**spec())` rebuilds it, `describe()`, and a checkpoint round trip; with and without the
`retrofit:` stage, which any strategy accepts."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightning_iter.depth import get_strategy, list_strategies
from lightning_iter.loading import load_model
from lightning_iter.model import ModelConfig
from lightning_iter.model.plan import validate_plan
from lightning_iter.module import LanguageModel
from tests.helpers import write_checkpoint

N_LAYERS = 3
# One small valid parameter set per registered strategy: a new strategy fails here until it has one.
PARAMS = {
    "baseline": {},
    "lidas": {"block_size": 1, "initial_depth": 1, "horizon": 6},  # growth at steps 1 and 3
    "loop": {"layers": 2, "repeats": 2, "encode": 1, "decode": 1},
    "midas": {"block_size": 1, "initial_depth": 1, "horizon": 6},
}
RETROFIT = {"start_step": 4, "block": "1:3", "extra": 1}  # after the last growth, inside every full-depth plan
STEPS = range(10)
STAGES = pytest.mark.parametrize("retrofit", [None, RETROFIT], ids=["plain", "retrofit"])
NAMES = pytest.mark.parametrize("name", list_strategies())


def build(name, retrofit=None):
    assert name in PARAMS, f"registered depth strategy {name!r} has no parameter set in tests/depth/test_contract.py"
    stages = {} if retrofit is None else {"retrofit": retrofit}
    strategy = get_strategy(name, **PARAMS[name], **stages)
    strategy.setup(ModelConfig.from_name("tiny", n_layers=N_LAYERS))
    return strategy


def depth_over(strategy):
    return [(strategy.n_unique_at(step), strategy.plan_at(step)) for step in STEPS]


@NAMES
@STAGES
def test_plan_is_valid_at_every_step(name, retrofit):
    strategy = build(name, retrofit)
    for step, (n_unique, plan) in zip(STEPS, depth_over(strategy)):
        assert validate_plan(plan, n_unique, field=f"{name}.plan_at({step})") == plan
    assert strategy.initial_layers() == depth_over(strategy)[0]


@NAMES
@STAGES
def test_depth_is_a_pure_function_of_the_step(name, retrofit):
    strategy = build(name, retrofit)
    first = depth_over(strategy)
    assert depth_over(strategy) == first
    unique = [n for n, _ in first]
    assert unique == sorted(unique), f"{name}: unique-layer count must never shrink, got {unique}"
    growth = strategy.growth_steps()
    assert [step for step in STEPS[1:] if unique[step] != unique[step - 1]] == [s for s in growth if s in STEPS]


@NAMES
@STAGES
def test_spec_rebuilds_the_same_strategy(name, retrofit):
    strategy = build(name, retrofit)
    spec = strategy.spec()
    rebuilt = get_strategy(**spec)
    rebuilt.setup(ModelConfig.from_name("tiny", n_layers=N_LAYERS))
    assert rebuilt.spec() == spec and depth_over(rebuilt) == depth_over(strategy)
    assert ("retrofit" in spec) == (retrofit is not None)


@NAMES
@STAGES
def test_describe_is_one_line_that_names_the_stages(name, retrofit):
    text = build(name, retrofit).describe()
    assert isinstance(text, str) and text.strip() and "\n" not in text
    assert ("retrofitted recurrence" in text) == (retrofit is not None)


@NAMES
def test_checkpoint_round_trip_keeps_unique_layers_and_plan(name, tmp_path):
    """A 5-step fit with the retrofit stage (active from step 4), saved and loaded."""
    depth = {"name": name, **PARAMS[name], "retrofit": RETROFIT}
    trained = write_checkpoint(tmp_path / "run.ckpt", depth, n_layers=N_LAYERS, max_steps=5)
    strategy = build(name, RETROFIT)
    assert (trained.model.n_unique, trained.model.plan) == (strategy.n_unique_at(4), strategy.plan_at(4))
    loaded = load_model(tmp_path / "run.ckpt")
    assert (loaded.model.n_unique, loaded.model.plan) == (trained.model.n_unique, trained.model.plan)
    assert loaded.info["depth"] == trained.depth_strategy.spec()
    resumed = LanguageModel.load_from_checkpoint(tmp_path / "run.ckpt")
    assert (resumed.model.n_unique, resumed.model.plan) == (trained.model.n_unique, trained.model.plan)
    assert resumed.depth_strategy.spec() == trained.depth_strategy.spec()


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from(sorted(PARAMS)),
    start_step=st.integers(3, 8),
    bounds=st.tuples(st.integers(0, 2), st.integers(1, 3)).filter(lambda b: b[0] < b[1]),
    extra=st.integers(1, 3),
    step=st.integers(0, 12),
)
def test_retrofit_repeats_the_block_from_its_start_step_only(name, start_step, bounds, extra, step):
    """plan_at = base plan before start_step; after it, the base plan with (end - start) · extra more positions."""
    start, end = bounds
    plain = build(name)
    stage = build(name, {"start_step": start_step, "block": f"{start}:{end}", "extra": extra})
    base, plan = plain.plan_at(step), stage.plan_at(step)
    assert stage.n_unique_at(step) == plain.n_unique_at(step)
    if step < start_step:
        assert plan == base
    else:
        assert len(plan) == len(base) + (end - start) * extra
        assert plan[:end] == base[:end] and plan[end + (end - start) * extra :] == base[end:]
        assert plan[end : end + (end - start) * extra] == base[start:end] * extra
