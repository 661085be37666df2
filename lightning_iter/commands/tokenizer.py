"""`lightning_iter tokenizer train|info`: train a byte-level BPE tokenizer on your files, or describe one."""

from __future__ import annotations

from jsonargparse import ArgumentParser

from ..errors import ConfigError
from ._common import join_items


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="lightning_iter tokenizer", description=__doc__)
    commands = parser.add_subcommands(required=True, dest="action")
    train = ArgumentParser(description="Train a byte-level BPE tokenizer (tokenizers library) on local files.")
    train.add_argument(
        "--files", type=str, nargs="+", required=True, help=".txt/.jsonl/.parquet files, directories or globs"
    )
    train.add_argument("--vocab_size", type=int, required=True, help="ids in the vocabulary, special tokens included")
    train.add_argument("--out", type=str, default="tokenizer.json", help="where to write tokenizer.json")
    train.add_argument("--field", type=str, default="text", help="JSONL field / Parquet column holding the text")
    train.add_argument("--txt_split", type=str, default="file", help="a .txt document is a file, paragraph or line")
    train.add_argument("--min_frequency", type=int, default=2, help="merges need at least this many occurrences")
    train.add_argument(
        "--special_tokens",
        type=str,
        nargs="+",
        default=["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<pad>"],
        help="special tokens, ids 0.. in order; the first is the end-of-text (EOS) token",
    )
    commands.add_subcommand("train", train)
    info = ArgumentParser(description="Print a tokenizer's vocabulary size, special ids and a sample encoding.")
    info.add_argument("path", type=str, help="tokenizer.json, its directory, a prepared dataset, or 'bytes'")
    info.add_argument("--text", type=str, default="Hello world! 12 + 7 = 19", help="text to encode as a sample")
    commands.add_subcommand("info", info)
    return parser


def main(argv: list[str]) -> None:
    cfg = build_parser().parse_args(argv)
    if cfg.action == "train":
        from ..data.bpe import save_tokenizer, train_bpe

        args = cfg.train
        if not args.out:
            raise ConfigError("--out is empty: give the path of the tokenizer.json to write")
        tokenizer = train_bpe(
            join_items(args.files),
            args.vocab_size,
            field=args.field,
            txt_split=args.txt_split,
            min_frequency=args.min_frequency,
            special_tokens=join_items(args.special_tokens),
        )
        path = save_tokenizer(tokenizer, args.out)
        print(
            f"[lightning_iter] trained a byte-level BPE tokenizer: vocab_size {tokenizer.vocab_size}, "
            f"eos_id {tokenizer.eos_id}, pad_id {tokenizer.pad_id}"
        )
        print(f"[lightning_iter] tokenizer: {path.resolve()}")
        return
    from ..data.streaming import load_tokenizer

    args = cfg.info
    tokenizer = load_tokenizer(args.path)
    ids = tokenizer.encode(args.text, eos=True)
    print(f"name        {tokenizer.name}")
    print(f"vocab_size  {tokenizer.vocab_size}")
    print(f"eos_id      {tokenizer.eos_id}")
    print(f"bos_id      {tokenizer.bos_id}")
    print(f"pad_id      {tokenizer.pad_id}")
    print(f"sample      {args.text!r} -> {len(ids)} ids {ids}")
    print(f"decoded     {tokenizer.decode(ids)!r}")
