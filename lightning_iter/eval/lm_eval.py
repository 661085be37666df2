"""lm-evaluation-harness backend: the `lightning_iter` model type (loglikelihood, rolling, generate_until).

Importing this module registers the model with lm-eval (an optional extra: `pip install lightning-iter[eval]`).
lm-eval 0.4 has no plugin entry point for models, so the registration has to be imported before lm-eval
looks the name up: `lightning_iter lm_eval --model lightning_iter --model_args ckpt_path=...` does that
and then runs lm-eval's own command line; from Python, import this module and call `lm_eval.simple_evaluate`.
The reasoning primitives ship as lm-eval tasks in `LM_EVAL_TASKS_DIR` (pass it as `--include_path`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lm_eval.models  # noqa: F401 - fills lm-eval's registry first: it imports the built-ins only when empty
import torch
from lm_eval.api.model import LM
from lm_eval.api.registry import register_model
from lm_eval.utils import get_rolling_token_windows, make_disjoint_window
from tqdm.auto import tqdm

from ..loading import LoadedModel, load_model
from .scoring import context_window, encode_pair, score_requests

LM_EVAL_TASKS_DIR = Path(__file__).resolve().parent / "lm_eval_tasks"
DEFAULT_BATCH_SIZE = 16


def _batch_size(value: Any) -> int:
    """lm-eval passes `--batch_size` as an int, a digit string or `auto` (we take `auto` as the default)."""
    if value is None or str(value).startswith("auto"):
        return DEFAULT_BATCH_SIZE
    return max(1, int(value))


@register_model("lightning_iter", "lightning-iter")
class LightningIterLM(LM):
    """A `lightning_iter` checkpoint (any plan; `repeat=START:ENDxEXTRA` for block repetition) as an lm-eval model.

    model_args: `ckpt_path` (required unless `loaded` is given from Python), `repeat`, `dtype`,
    `max_length` (context window; default the model's `max_seq_len`), `max_gen_toks` (default 256).
    """

    def __init__(
        self,
        ckpt_path: str | None = None,
        repeat: str | None = None,
        device: str | None = None,
        dtype: str | None = None,
        batch_size: int | str | None = None,
        max_batch_size: int | None = None,
        max_length: int | None = None,
        max_gen_toks: int = 256,
        loaded: LoadedModel | None = None,
        **_: Any,
    ) -> None:
        super().__init__()
        if loaded is None:
            if not ckpt_path:
                raise ValueError("model_args needs ckpt_path=PATH (a `lightning_iter fit` checkpoint)")
            if not device or (str(device).startswith("cuda") and not torch.cuda.is_available()):
                device = "cpu"  # lm-eval's default is cuda, even on machines without one
            loaded = load_model(ckpt_path, repeat=repeat, device=device, dtype=dtype)
        self.loaded = loaded
        self.model = loaded.model.eval()
        self.tok = loaded.tokenizer
        self.batch_size = _batch_size(batch_size)
        self.max_length = int(max_length) if max_length else context_window(self.model)
        self.max_gen_toks = int(max_gen_toks)

    @property
    def eot_token_id(self) -> int:
        return self.tok.eos_id

    @property
    def tokenizer_name(self) -> str:
        return str(getattr(self.tok, "name", "lightning_iter"))

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _score(self, pairs: list[tuple[list[int], list[int]]], disable_tqdm: bool) -> list:
        pad = self.tok.pad_id if self.tok.pad_id is not None else 0
        return score_requests(
            self.model,
            pairs,
            batch_size=self.batch_size,
            max_len=self.max_length,
            pad_id=pad,
            progress=not disable_tqdm,
            desc="loglikelihood",
        )

    def loglikelihood(self, requests: list[Any], disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        """(summed log-prob of the continuation, whether greedy decoding gives it) for each (context, continuation)."""
        pairs = []
        for request in requests:
            context, continuation = request.args
            if context == "":
                pairs.append(([self.eot_token_id], self.tok.encode(continuation)))
            else:
                pairs.append(encode_pair(self.tok, context, continuation))
        return [(s.logprob, s.greedy) for s in self._score(pairs, disable_tqdm)]

    def loglikelihood_rolling(self, requests: list[Any], disable_tqdm: bool = False) -> list[float]:
        """Log-likelihood of whole strings, in disjoint windows of the model's context (perplexity tasks)."""
        pairs, owners = [], []
        for n, request in enumerate(requests):
            (text,) = request.args[:1]
            windows = get_rolling_token_windows(
                token_list=self.tok.encode(text),
                prefix_token=self.eot_token_id,
                max_seq_len=self.max_length,
                context_len=1,
            )
            for window in map(make_disjoint_window, windows):
                pairs.append((list(window[0]), list(window[1])))
                owners.append(n)
        totals = [0.0] * len(requests)
        for owner, score in zip(owners, self._score(pairs, disable_tqdm)):
            totals[owner] += score.logprob
        return totals

    def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[str]:
        """Greedy continuation of each context, cut at the first stop string (`until`) or EOS (KV-cached)."""
        from ..generation import generate

        outputs = []
        for request in tqdm(requests, desc="generate_until", disable=disable_tqdm, leave=False):
            context, gen_kwargs = request.args
            gen_kwargs = dict(gen_kwargs or {})
            until = gen_kwargs.get("until") or []
            until = [until] if isinstance(until, str) else list(until)
            max_new = int(gen_kwargs.get("max_gen_toks", self.max_gen_toks))
            ids = self.tok.encode(context) or [self.eot_token_id]
            ids = ids[-max(1, self.max_length - max_new) :]
            prompt = torch.tensor([ids], dtype=torch.long, device=self.device)
            result = generate(self.model, prompt, max_new, eos_id=self.eot_token_id)
            new = [t for t in result.new_tokens[0].tolist()]
            if self.eot_token_id in new:
                new = new[: new.index(self.eot_token_id)]
            text = self.tok.decode(new)
            for stop in until:
                if stop and stop in text:
                    text = text[: text.index(stop)]
            outputs.append(text)
        return outputs
