"""`lightning_iter export`: write a checkpoint as a Hugging Face model directory.

`--format llama` (the default) writes a plain `LlamaForCausalLM` that
`transformers.AutoModelForCausalLM.from_pretrained(DIR)` loads with the same logits, no remote code needed.
A looped or `--repeat`ed plan is unrolled: the file holds one copy of a layer per pass, and
`config.json["lightning_iter"]` records the plan so that `--ckpt_path hf:DIR` ties the copies again.
`--format remote_code` keeps the weight tying instead: each unique layer once, the plan in config.json and our
modeling files beside them, for `from_pretrained(DIR, trust_remote_code=True)`. Every export carries a
`tokenizer.json` (the byte tokenizer's too), and weights above `--max_shard_size` are sharded with an index.
"""

from __future__ import annotations

from jsonargparse import ArgumentParser

from ._common import add_model_arguments, load_from_arguments


def main(argv: list[str]) -> None:
    """Export `--ckpt_path` (after `--repeat`) to `--out` as safetensors + config.json + tokenizer.json."""
    parser = ArgumentParser(prog="lightning_iter export", description=main.__doc__)
    add_model_arguments(parser)
    parser.add_argument("--out", type=str, required=True, help="directory to write (must not exist or be empty)")
    parser.add_argument("--overwrite", type=bool, default=False, help="replace a non-empty --out directory")
    parser.add_argument(
        "--format",
        type=str,
        default="llama",
        help="llama: plain LlamaForCausalLM, a looped plan unrolled into copies (loads everywhere); remote_code: "
        "each unique layer once + the plan + our modeling file (from_pretrained(DIR, trust_remote_code=True))",
    )
    parser.add_argument(
        "--max_shard_size",
        type=str,
        default="50GB",
        help="split the weights into model-0000k-of-0000n.safetensors + model.safetensors.index.json above this "
        "size, e.g. 5GB, 500MB, 2GiB (default: transformers' save_pretrained default)",
    )
    cfg = parser.parse_args(argv)

    from ..errors import check_choice
    from ..loading import DTYPES
    from ..model.export import FORMATS, parse_shard_size, save_hf, tokenizer_files
    from ..model.hf import INDEX_FILE
    from ..model.plan import format_plan

    check_choice("--format", cfg.format, FORMATS)
    parse_shard_size(cfg.max_shard_size)  # a bad size fails before the checkpoint loads
    loaded = load_from_arguments(cfg)
    tokenizer = loaded.tokenizer
    spec = tokenizer.to_spec()
    token_ids = {"bos": tokenizer.bos_id, "eos": tokenizer.eos_id, "pad": tokenizer.pad_id}
    to_json = getattr(tokenizer, "to_tokenizer_json", None)
    json_text = to_json() if callable(to_json) else spec.get("json")
    files = tokenizer_files(json_text, token_ids, split_special_tokens=callable(to_json))
    extra = {"tokenizer": {k: v for k, v in spec.items() if k != "json"}, "source": loaded.source}
    dtype = DTYPES[cfg.dtype] if cfg.dtype else None
    out = save_hf(
        loaded.model,
        cfg.out,
        dtype=dtype,
        token_ids=token_ids,
        extra=extra,
        files=files,
        overwrite=cfg.overwrite,
        format=cfg.format,
        max_shard_size=cfg.max_shard_size,
    )
    model = loaded.model
    used = len(set(model.plan))
    if cfg.format == "remote_code":
        print(
            f"[lightning_iter] exported {loaded.source}: plan {format_plan(model.plan)} over {used} unique layers, "
            f"stored once (trust_remote_code model LightningIterForCausalLM, effective depth {model.depth})"
        )
    else:
        print(
            f"[lightning_iter] exported {loaded.source}: {model.n_unique} unique layers, plan "
            f"{format_plan(model.plan)} -> {model.depth} LlamaForCausalLM layers"
        )
        if model.depth != used:
            print(
                "[lightning_iter] the plan repeats layers: the file holds one copy per pass; "
                "`--ckpt_path hf:DIR` ties them again (or export with --format remote_code to store each once)"
            )
    if not files:
        print(
            f"[lightning_iter] tokenizer {spec.get('kind')!r} has no tokenizer.json; config.json records it "
            f"under 'lightning_iter.tokenizer' "
            f"(bos={tokenizer.bos_id}, eos={tokenizer.eos_id}, pad={tokenizer.pad_id})"
        )
    shards = sorted(p.name for p in out.glob("model-*-of-*.safetensors"))
    if shards:
        print(f"[lightning_iter] weights in {len(shards)} shards of at most {cfg.max_shard_size} + {INDEX_FILE}")
    print(f"[lightning_iter] wrote {out.resolve()}")
