"""Build the Hugging Face fixtures of tests/model/test_hf.py with `transformers`, or check an exported directory.

Runs in a separate environment where `transformers` imports (see DEVELOPERS.md); the project's own
environment never imports it. Two tiny random `LlamaForCausalLM` models (fixed seed) are saved with
`save_pretrained` under tests/fixtures/hf/, each with `reference_logits.safetensors`: transformers'
fp32 logits on fixed token ids, which our import must reproduce. A third fixture, `looped_remote`, goes the
other way: a tiny looped lightning_iter model exported with `--format remote_code` (our modeling file, each
unique layer once) and byte tokenizer, loaded by transformers with `trust_remote_code=True`; its logits and
`AutoTokenizer`'s ids/decodes on a few texts are the reference the CI test compares our model with.

    /tmp/hf-venv/bin/python scripts/make_hf_fixtures.py                 # (re)write the fixtures
    /tmp/hf-venv/bin/python scripts/make_hf_fixtures.py --only looped_remote   # just our remote-code export
    /tmp/hf-venv/bin/python scripts/make_hf_fixtures.py --check-export DIR [--ckpt CKPT] [--repeat 2:6x1]
    /tmp/hf-venv/bin/python scripts/make_hf_fixtures.py --out /tmp/fx
    /tmp/hf-venv/bin/python scripts/make_hf_fixtures.py --check-import /tmp/fx
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "hf"
SEED = 1234
TOKENS_SHAPE = (2, 12)

# name -> (LlamaConfig kwargs, save_pretrained kwargs)
MODELS = {
    # tied embeddings, grouped-query attention (2 query heads per KV head), one safetensors file, a tokenizer
    "tied_gqa": (
        dict(
            vocab_size=128,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=64,
            rms_norm_eps=1e-5,
            tie_word_embeddings=True,
            rope_theta=10_000.0,
        ),
        dict(),
    ),
    # untied embeddings, multi-head attention, another RoPE base, sharded weights with an index file
    "untied_mha": (
        dict(
            vocab_size=128,
            hidden_size=32,
            intermediate_size=48,
            num_hidden_layers=3,
            num_attention_heads=4,
            num_key_value_heads=4,
            max_position_embeddings=64,
            rms_norm_eps=1e-6,
            tie_word_embeddings=False,
            rope_theta=500_000.0,
        ),
        dict(max_shard_size="40KB"),
    ),
}


def _tokenizer(vocab_size: int):
    """A deterministic byte-level BPE tokenizer with `vocab_size` entries, wrapped for save_pretrained."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>", "<|im_start|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()[:90],
        show_progress=False,
    )
    text = ["the cat sat on the mat", "a dog ran to the cat", "count 1 2 3 4 then stop"] * 10
    backend.train_from_iterator(text, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|endoftext|>", bos_token="<|endoftext|>")


def _randomize(model: torch.nn.Module, generator: torch.Generator) -> None:
    """Weights far from the default init (norm gains != 1), so that a wrong mapping shows in the logits."""
    with torch.no_grad():
        for param in model.parameters():
            noise = torch.randn(param.shape, generator=generator)
            param.copy_(1.0 + 0.2 * noise if param.ndim == 1 else 0.15 * noise)


def make_fixtures(root: Path) -> None:
    import transformers
    from safetensors.torch import save_file
    from transformers import LlamaConfig, LlamaForCausalLM

    generator = torch.Generator().manual_seed(SEED)
    for name, (config_kwargs, save_kwargs) in MODELS.items():
        out = root / name
        out.mkdir(parents=True, exist_ok=True)
        for old in out.glob("*"):
            old.unlink()
        model = LlamaForCausalLM(LlamaConfig(**config_kwargs)).eval()
        _randomize(model, generator)
        if config_kwargs["tie_word_embeddings"]:
            assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
        model.save_pretrained(out, **save_kwargs)
        if name == "tied_gqa":
            _tokenizer(config_kwargs["vocab_size"]).save_pretrained(out)
        tokens = torch.randint(0, config_kwargs["vocab_size"], TOKENS_SHAPE, generator=generator)
        with torch.no_grad():
            logits = model(tokens).logits.float()
        save_file(
            {"input_ids": tokens, "logits": logits.contiguous()},
            str(out / "reference_logits.safetensors"),
            metadata={"transformers_version": transformers.__version__, "torch_version": torch.__version__},
        )
        size = sum(p.stat().st_size for p in out.iterdir())
        print(
            f"{name}: {sorted(p.name for p in out.iterdir())} ({size / 1024:.0f} KiB), "
            f"logits {tuple(logits.shape)} max |logit| {logits.abs().max():.3f}"
        )


LOOPED = dict(vocab_size=259, d_model=32, n_heads=4, n_kv_heads=2, ffn_dim=64, max_seq_len=64, n_layers=4)
LOOPED_PLAN = (0, 1, 2, 1, 2, 1, 2, 3)  # Loop(1-2x3-1): encode 1, loop 2 layers three times, decode 1
TOKENIZER_TEXTS = ["the cat sat", "naïve café, 日本語 🎉", "a <eos> is text here", "  tabs\tand\nnewlines "]


def make_looped_remote(root: Path) -> None:
    """Export a seeded tiny looped model as `remote_code`; record transformers' logits and tokenizer outputs."""
    import transformers
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    sys.path.insert(0, str(ROOT))
    from lightning_iter.data import ByteTokenizer
    from lightning_iter.model import ModelConfig, Transformer
    from lightning_iter.model.export import save_hf, tokenizer_files

    out = root / "looped_remote"
    generator = torch.Generator().manual_seed(SEED)
    model = Transformer(ModelConfig(**LOOPED), LOOPED_PLAN).eval()
    _randomize(model, generator)
    tok = ByteTokenizer()
    ids = {"bos": tok.bos_id, "eos": tok.eos_id, "pad": tok.pad_id}
    files = tokenizer_files(tok.to_tokenizer_json(), ids, split_special_tokens=True)
    extra = {"tokenizer": tok.to_spec(), "source": "scripts/make_hf_fixtures.py"}
    save_hf(model, out, format="remote_code", token_ids=ids, extra=extra, files=files, overwrite=True)
    hf = AutoModelForCausalLM.from_pretrained(out, trust_remote_code=True).eval()
    assert type(hf).__name__ == "LightningIterForCausalLM" and hf.config.plan == list(LOOPED_PLAN)
    tokens = torch.randint(0, LOOPED["vocab_size"], TOKENS_SHAPE, generator=generator)
    with torch.no_grad():
        logits = hf(tokens).logits.float()
        ours = model(tokens)
    hf_tok = AutoTokenizer.from_pretrained(out, trust_remote_code=True)  # v5 reads config.json (auto_map) first
    texts = {
        "texts": TOKENIZER_TEXTS,
        "ids": [hf_tok(t, add_special_tokens=False).input_ids for t in TOKENIZER_TEXTS],
        "decoded": [hf_tok.decode(list(t.encode()) + [tok.eos_id], skip_special_tokens=True) for t in TOKENIZER_TEXTS],
        "eos_token": hf_tok.eos_token,
        "eos_token_id": hf_tok.eos_token_id,
        "tokenizer_class": type(hf_tok).__name__,
    }
    (out / "tokenizer_reference.json").write_text(json.dumps(texts, indent=2, ensure_ascii=False) + "\n")
    save_file(
        {"input_ids": tokens, "logits": logits.contiguous()},
        str(out / "reference_logits.safetensors"),
        metadata={"transformers_version": transformers.__version__, "torch_version": torch.__version__},
    )
    err = ((ours - logits).abs().max() / logits.abs().max()).item()
    print(
        f"looped_remote: {sorted(p.name for p in out.iterdir())}, {type(hf).__name__} plan {hf.config.plan}, "
        f"{sum(p.numel() for p in hf.parameters())} parameters; ours vs transformers relative error {err:.3e}; "
        f"{texts['tokenizer_class']} ids == UTF-8 bytes: "
        f"{all(i == list(t.encode()) for i, t in zip(texts['ids'], TOKENIZER_TEXTS))}"
    )


def check_import(root: Path) -> int:
    """Our import of fixtures written by this transformers version (e.g. an older one) against their logits."""
    import transformers
    from safetensors.torch import load_file

    sys.path.insert(0, str(ROOT))
    from lightning_iter.model.hf import from_hf

    worst = 0.0
    for name in MODELS:
        reference = load_file(root / name / "reference_logits.safetensors")
        with torch.no_grad():
            logits = from_hf(root / name)(reference["input_ids"])
        err = ((logits - reference["logits"]).abs().max() / reference["logits"].abs().max()).item()
        worst = max(worst, err)
        keys = sorted(k for k in json.loads((root / name / "config.json").read_text()) if "rope" in k or "dtype" in k)
        print(f"transformers {transformers.__version__} {name} (config keys {keys}): relative error {err:.3e}")
    return 0 if worst <= 1e-5 else 1


def check_export(directory: Path, ckpt: str | None, repeat: str | None) -> int:
    """Load an exported directory in transformers; compare its logits with our import (and the checkpoint)."""
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    sys.path.insert(0, str(ROOT))
    from lightning_iter.loading import load_model
    from lightning_iter.model.hf import from_hf

    remote = json.loads((directory / "config.json").read_text()).get("model_type") == "lightning_iter"
    hf = AutoModelForCausalLM.from_pretrained(directory, trust_remote_code=remote).float().eval()
    config = json.loads((directory / "config.json").read_text())
    tokens = torch.randint(0, config["vocab_size"], (2, 24), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        reference = hf(tokens).logits.float()
        rows = [("our import of the exported dir", from_hf(directory).float()(tokens))]
        if ckpt:
            rows.append(
                (
                    f"original {ckpt}" + (f" --repeat {repeat}" if repeat else ""),
                    load_model(ckpt, repeat=repeat, dtype="float32").model(tokens),
                )
            )
    stored = len({n.split(".")[2] for n, _ in hf.named_parameters() if n.startswith("model.layers.")})
    print(
        f"transformers {transformers.__version__}: {type(hf).__name__} with {hf.config.num_hidden_layers} layers "
        f"({stored} stored, {sum(p.numel() for p in hf.parameters())} parameters) loaded from {directory}"
    )
    scale = reference.abs().max().item()
    worst = 0.0
    for label, logits in rows:
        err = (logits.float() - reference).abs().max().item()
        worst = max(worst, err / scale)
        print(f"  vs {label}: max |diff| {err:.3e}, relative {err / scale:.3e} (max |logit| {scale:.3f})")
    if (directory / "tokenizer.json").is_file():
        tok = AutoTokenizer.from_pretrained(directory, trust_remote_code=remote)
        ids = tok("the café", add_special_tokens=False).input_ids
        print(
            f"  tokenizer: {type(tok).__name__}, eos={tok.eos_token!r} ({tok.eos_token_id}), "
            f"'the café' -> {ids} -> {tok.decode(ids)!r}"
        )
    ok = worst <= 1e-5
    print("  OK: logits agree within 1e-5 relative" if ok else "  MISMATCH")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=FIXTURES, help="where the fixtures go (default tests/fixtures/hf)")
    parser.add_argument(
        "--check-import", type=Path, help="compare our import of DIR/<fixture> with its reference logits"
    )
    parser.add_argument("--check-export", type=Path, help="an exported directory to load in transformers")
    parser.add_argument("--ckpt", help="the checkpoint it was exported from (compared too)")
    parser.add_argument("--repeat", help="the --repeat the export used")
    parser.add_argument(
        "--only", choices=["transformers", "looped_remote"], help="write only transformers' two or only our fixture"
    )
    args = parser.parse_args()
    torch.manual_seed(SEED)
    if args.check_export:
        return check_export(args.check_export, args.ckpt, args.repeat)
    if args.check_import:
        return check_import(args.check_import)
    if args.only != "looped_remote":
        make_fixtures(args.out)
    if args.only != "transformers":
        make_looped_remote(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
