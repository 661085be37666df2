"""The analyses' options and names, without torch: what `lightning_iter analyze --help` shows (a fast `--help`).

The analysis modules import these from here; the command's parser reads its defaults from `AnalysisOptions`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import check_int

OPERATIONS = ("skip", "swap", "reverse", "repeat")
DEFAULT_SIZES = (1, 2, 4, 8)
SCORINGS = ("greedy", "choice")
INPUTS = ("files", "heldout")
DEFAULT_DATA = "data/analysis"  # where --data points unless given (relative to the working directory)

# Each dataset's hub name and the fields each record must have (`datasets.FORMATS` reads them).
DATASET_SOURCES: dict[str, tuple[str, tuple[str, ...]]] = {
    "gsm8k": ("openai/gsm8k", ("question", "answer")),
    "math": ("hendrycks/competition_math (EleutherAI/hendrycks_math)", ("problem", "solution")),
    "mquake": ("MQuAKE-CF-3k.json (princeton-nlp/MQuAKE)", ("questions", "answer")),
    "fineweb_edu": ("HuggingFaceFW/fineweb-edu", ("text",)),
    "lambada": ("EleutherAI/lambada_openai", ("text",)),
}
DATASETS = tuple(DATASET_SOURCES)

# The papers' input of each analysis. Seed 004 App. B / seed 000 App. J: one fixed set of GSM8K prompts for
# early exit, skip, swap and relative contributions; seed 004 Fig. 1A: depth score on MATH and MQuAKE;
# §4.1 / App. B: tuned lens trained on FineWeb-Edu, top-5 overlap on 20 GSM8K prompts; Figs. 8-11: early exit
# and interventions on Lambada and Variable Assignment Math (generated, no file).
PAPER_INPUTS: dict[str, tuple[str, ...]] = {
    "depth_score": ("gsm8k", "math", "mquake"),
    "future_effects": ("gsm8k",),
    "contributions": ("gsm8k",),
    "tuned_lens": ("fineweb_edu", "gsm8k", "lambada"),
    "interventions": ("gsm8k", "lambada"),
}


@dataclass
class AnalysisOptions:
    """Sizes of the work; the defaults run every analysis of a tiny model on a CPU in seconds."""

    batch_size: int = 8
    boundaries: list[int] | None = None  # future-setting boundaries t (default: n_boundaries spread evenly)
    n_boundaries: int = 4
    sizes: Sequence[int] = DEFAULT_SIZES
    operations: Sequence[str] = OPERATIONS
    repeat_extra: int = 1
    # tuned lens: defaults are the tuned-lens library's recipe (tuned_lens.LensRecipe); a CPU run wants far less
    lens_steps: int = 250
    lens_tokens_per_step: int = 2**18
    lens_lr_scale: float = 1.0
    lens_momentum: float = 0.9
    lens_weight_decay: float = 1e-3
    lens_warmup_steps: int = 0
    lens_clip: float = 1.0
    tuned_lens_path: str | None = None  # `--lens FILE`: reuse translators instead of training
    lens_eval_prompts: int = 20  # GSM8K prompts for KL / top-5 overlap (seed 004 Fig. 1B: 20)
    task: str = "assign_math"
    task_depth: int = 0
    shots: int = 5
    n_items: int = 32  # early-exit accuracy items
    intervention_items: int = 32  # Lambada / primitive items scored under every intervention plan (0: loss only)
    intervention_scoring: str = "greedy"  # greedy top-1 (the papers) or "choice" (our multiple-choice primitive)
    depth_score_sets: Sequence[str] = ("gsm8k", "math", "mquake")  # App. B GSM8K; Fig. 1A MATH, MQuAKE
    block_size: int | None = None  # weight-similarity blocks (default: the growth block size, else 1)
    seed: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        for name, minimum in (("batch_size", 1), ("n_boundaries", 1), ("repeat_extra", 1), ("shots", 0)):
            check_int(f"--{name}", getattr(self, name), minimum)
        for name in ("n_items", "intervention_items"):
            check_int(f"--{name}", getattr(self, name), 0, allowed="it must be an integer >= 0 (0 turns it off)")
