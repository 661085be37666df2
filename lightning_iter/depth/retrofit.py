"""The `retrofit:` stage of any depth strategy: from a step on, a block of the plan runs `extra` more times.

Retrofitted recurrence (seed 000 §4, Table 2; Koishekenov et al. 2025): during the cooldown a middle block
of a trained model (e.g. layers 8-11 of LIDAS 1.7B) runs one more time per forward. No weights are added:
the plan repeats the block (`repeat_block`) and the tied layers' gradients sum over their passes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError, PlanError, check_int
from ..model.plan import Plan, parse_repeat, repeat_block

FIELDS = ("start_step", "block", "block_index", "block_size", "extra")


@dataclass(frozen=True)
class Retrofit:
    """Plan positions `start..end-1` run `extra` more times from global step `start_step` on."""

    start_step: int
    start: int
    end: int
    extra: int = 1

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any] | Retrofit) -> Retrofit:
        """Parse `depth.retrofit`: `{start_step, block: [START, END] | block_index + block_size, extra}`.

        `block` may also be the string `"START:END"` (as `--repeat` spells it); END is exclusive either way."""
        if isinstance(spec, Retrofit):
            return spec
        if not isinstance(spec, Mapping):
            raise ConfigError(
                f"depth.retrofit={spec!r} is not allowed: give a mapping, e.g. {{start_step: 170000, block: '8:12'}}"
            )
        unknown = sorted(set(spec) - set(FIELDS))
        if unknown:
            raise ConfigError(
                f"depth.retrofit.{unknown[0]} is not a field of the retrofit stage: "
                f"allowed fields are {', '.join(FIELDS)}"
            )
        if "start_step" not in spec:
            raise ConfigError("depth.retrofit needs start_step: the first global step trained with the repeated block")
        start_step = check_int("depth.retrofit.start_step", spec["start_step"], 0)
        extra = check_int("depth.retrofit.extra", spec.get("extra", 1), 1)
        block, block_index = spec.get("block"), spec.get("block_index")
        if (block is None) == (block_index is None):
            raise ConfigError(
                "depth.retrofit needs exactly one of block (e.g. '8:12') or block_index + block_size "
                f"(got block={block!r}, block_index={block_index!r})"
            )
        if block is not None:
            if spec.get("block_size") is not None:
                raise ConfigError(
                    f"depth.retrofit.block_size={spec['block_size']!r} is not allowed with block={block!r}: "
                    "give block, or block_index + block_size"
                )
            start, end = _parse_block(block)
        else:
            index = check_int("depth.retrofit.block_index", block_index, 0)
            size = check_int("depth.retrofit.block_size", spec.get("block_size"), 1)
            start, end = index * size, (index + 1) * size
        return cls(start_step, start, end, extra)

    def spec(self) -> dict[str, Any]:
        """The recorded form (`block` as `"START:END"`), so `Retrofit.from_spec(spec())` rebuilds this stage."""
        return {"start_step": self.start_step, "block": f"{self.start}:{self.end}", "extra": self.extra}

    def plan_at(self, step: int, base: Plan) -> Plan:
        """`base` with the block repeated from `start_step` on, `base` itself before."""
        return repeat_block(base, self.start, self.end, self.extra) if step >= self.start_step else base

    def check(self, growth_steps: list[int], full_plan: Plan) -> None:
        """Reject a start before the last growth step, or a block outside the full-depth plan it refers to."""
        if growth_steps and self.start_step < max(growth_steps):
            raise ConfigError(
                f"depth.retrofit.start_step={self.start_step} is before the last growth step {max(growth_steps)}: "
                "the block refers to the full-depth plan, so start at or after the end of growth"
            )
        if self.end > len(full_plan):
            raise ConfigError(
                f"depth.retrofit.block={self.start}:{self.end} is outside the full-depth plan: it has effective depth "
                f"{len(full_plan)}, so the block must lie within plan positions 0:{len(full_plan)}"
            )

    def label(self) -> str:
        return f"retrofitted recurrence, plan positions {self.start}..{self.end - 1} x{self.extra + 1}"

    def describe(self) -> str:
        return f"{self.label()} from step {self.start_step}"


def _parse_block(block: Any) -> tuple[int, int]:
    """`[START, END]` or `"START:END"` (END exclusive) as two ints with 0 <= START < END."""
    if isinstance(block, int) and not isinstance(block, bool):
        raise ConfigError(
            f"depth.retrofit.block={block!r} is not allowed: write the plan positions as [START, END], e.g. "
            "[8, 12] for layers 8-11 (YAML reads an unquoted 8:12 as the base-60 number 492, and LightningCLI "
            "writes a quoted '8:12' back unquoted into the run's config.yaml)"
        )
    if isinstance(block, (list, tuple)) and len(block) == 2:
        start = check_int("depth.retrofit.block[0]", block[0], 0)
        end = check_int("depth.retrofit.block[1]", block[1], 0)
    else:
        try:
            start, end, _ = parse_repeat(f"{block}x1")
        except PlanError:
            start, end = -1, -1
    if not 0 <= start < end:
        raise ConfigError(
            f"depth.retrofit.block={block!r} is not allowed: give plan positions [START, END] (END exclusive, "
            "START < END), e.g. [8, 12] for layers 8-11"
        )
    return start, end
