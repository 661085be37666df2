"""`model.init_from=hf:DIR` against the data's tokenizer: imported embeddings mean the tokens of DIR's tokenizer.

Data tokenized by another tokenizer would train the imported model on ids that mean other tokens, so a
different tokenizer is an error at start-up; an `eos_token_id` in config.json that differs from the data's
end-of-text id (the model would stop generating at another token than the one it is trained to end with) warns.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lightning.pytorch.utilities import rank_zero_warn

from .errors import CheckpointError, ConfigError

_IGNORED_JSON_KEYS = ("truncation", "padding")  # encoding-time settings, not the vocabulary or the pipeline


def _describe(spec: dict[str, Any]) -> str:
    if spec.get("kind") == "hf":
        return f"'hf' tokenizer {spec.get('name')!r} ({spec.get('vocab_size')} tokens, eos id {spec.get('eos_id')})"
    return f"{spec.get('kind')!r} tokenizer"


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Same kind and, for Hugging Face tokenizers, the same tokenizer.json (up to truncation/padding) and eos."""
    if a.get("kind") != b.get("kind"):
        return False
    if a.get("kind") != "hf":
        return {k: v for k, v in a.items() if k != "name"} == {k: v for k, v in b.items() if k != "name"}
    ja, jb = ({k: v for k, v in json.loads(spec["json"]).items() if k not in _IGNORED_JSON_KEYS} for spec in (a, b))
    return ja == jb and a.get("eos_id") == b.get("eos_id")


def check_init_tokenizer(source: str, data_spec: dict[str, Any] | None) -> None:
    """ConfigError when the data's tokenizer (`Tokenizer.to_spec()`) is not `hf:DIR`'s; warnings where it cannot
    tell (DIR has no tokenizer) or DIR's config.json names another eos id than the data's tokenizer."""
    from .data.tokenizer import tokenizer_from_spec
    from .loading import _hf_tokenizer
    from .model.hf import CONFIG_FILE, EXTRA_KEY

    if not isinstance(data_spec, dict):
        return  # a data module without a tokenizer: nothing to compare
    directory = Path(source.partition(":")[2])
    config = json.loads((directory / CONFIG_FILE).read_text(encoding="utf-8"))  # load_hf has read it already
    try:
        own = _hf_tokenizer(directory, config, EXTRA_KEY).to_spec()
    except CheckpointError:
        rank_zero_warn(
            f"model.init_from={source} has no tokenizer.json (and no tokenizer recorded by our export): cannot check "
            f"that the data's {_describe(data_spec)} is the one its weights were trained with"
        )
        own = None
    if own is not None and not _same(own, data_spec):
        raise ConfigError(
            f"data tokenizer: the data is tokenized with the {_describe(data_spec)}, but model.init_from={source} "
            f"was trained with the {_describe(own)}: its embeddings would read ids that mean other tokens. "
            f"Prepare the data with its tokenizer (--tokenizer {directory / 'tokenizer.json'}) or train from scratch"
        )
    eos, data_eos = config.get("eos_token_id"), tokenizer_from_spec(data_spec).eos_id
    eos_ids = eos if isinstance(eos, list) else [eos]  # Llama 3 lists several
    if eos is not None and all(isinstance(i, int) for i in eos_ids) and data_eos not in eos_ids:
        rank_zero_warn(
            f"model.init_from={source}: config.json has eos_token_id={eos}, but the data's {_describe(data_spec)} "
            f"ends documents with id {data_eos}: generation from the trained model would stop at another token "
            "than the one it learns to end with (fix eos_token_id in config.json or the tokenizer's eos)"
        )
