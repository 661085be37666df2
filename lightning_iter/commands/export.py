"""`lightning_iter export`: write a checkpoint as a Hugging Face `LlamaForCausalLM` directory.

`transformers.AutoModelForCausalLM.from_pretrained(DIR)` loads the result with the same logits. A
looped or `--repeat`ed plan is unrolled: the file holds one copy of a layer per pass, and
`config.json["lightning_iter"]` records the plan so that `--ckpt_path hf:DIR` ties the copies again.
"""

from __future__ import annotations

from jsonargparse import ArgumentParser

from ..loading import DTYPES
from ..model.export import save_hf, tokenizer_files
from ..model.plan import format_plan
from ._common import add_model_arguments, load_from_arguments


def main(argv: list[str]) -> None:
    """Export `--ckpt_path` (after `--repeat`) to `--out` as safetensors + config.json (+ tokenizer.json)."""
    parser = ArgumentParser(prog="lightning_iter export", description=main.__doc__)
    add_model_arguments(parser)
    parser.add_argument("--out", type=str, required=True, help="directory to write (must not exist or be empty)")
    parser.add_argument("--overwrite", type=bool, default=False, help="replace a non-empty --out directory")
    cfg = parser.parse_args(argv)
    loaded = load_from_arguments(cfg)
    tokenizer = loaded.tokenizer
    spec = tokenizer.to_spec()
    files = tokenizer_files(spec)
    extra = {"tokenizer": {k: v for k, v in spec.items() if k != "json"}, "source": loaded.source}
    token_ids = {"bos": tokenizer.bos_id, "eos": tokenizer.eos_id, "pad": tokenizer.pad_id}
    dtype = DTYPES[cfg.dtype] if cfg.dtype else None
    out = save_hf(
        loaded.model, cfg.out, dtype=dtype, token_ids=token_ids, extra=extra, files=files, overwrite=cfg.overwrite
    )
    model = loaded.model
    print(
        f"[lightning_iter] exported {loaded.source}: {model.n_unique} unique layers, plan {format_plan(model.plan)} "
        f"-> {model.depth} LlamaForCausalLM layers"
    )
    if model.depth != len(set(model.plan)):
        print(
            "[lightning_iter] the plan repeats layers: the file holds one copy per pass; "
            "`--ckpt_path hf:DIR` ties them again"
        )
    if not files:
        print(
            f"[lightning_iter] tokenizer {spec.get('kind')!r} has no tokenizer.json; config.json records it "
            f"under 'lightning_iter.tokenizer' "
            f"(bos={tokenizer.bos_id}, eos={tokenizer.eos_id}, pad={tokenizer.pad_id})"
        )
    print(f"[lightning_iter] wrote {out.resolve()}")
