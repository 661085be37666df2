"""`lightning_iter tokenizer train|info`: a trained BPE tokenizer loads back with its EOS id and vocabulary."""

from lightning_iter.cli import main
from lightning_iter.data import HFTokenizer
from tests.data.corpus_helpers import write_corpus


def test_train_then_info(tmp_path, capsys):
    files = write_corpus(tmp_path, docs=20)
    out = tmp_path / "tok" / "tokenizer.json"
    assert (
        main(
            [
                "tokenizer",
                "train",
                "--files",
                str(files["prose"]),
                str(files["jsonl"]),
                "--vocab_size",
                "290",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert f"tokenizer: {out}" in capsys.readouterr().out
    tokenizer = HFTokenizer.from_file(out)
    assert tokenizer.vocab_size == 290 and tokenizer.eos_id == 0 and tokenizer.pad_id == 3
    text = "the cat sat 12 + 7 = 19 héllo"
    assert tokenizer.decode(tokenizer.encode(text)) == text
    assert main(["tokenizer", "info", str(out.parent), "--text", "the cat"]) == 0
    info = capsys.readouterr().out
    assert "vocab_size  290" in info and "eos_id      0" in info and "decoded     'the cat'" in info


def test_train_errors(tmp_path, capsys):
    files = write_corpus(tmp_path, docs=10)
    assert main(["tokenizer", "train", "--files", str(files["jsonl"]), "--vocab_size", "100"]) == 2
    assert "vocab_size=100 is not allowed: a byte-level BPE needs at least 260" in capsys.readouterr().err
    assert main(["tokenizer", "train", "--files", str(tmp_path / "none.txt"), "--vocab_size", "300"]) == 2
    assert "none.txt does not exist" in capsys.readouterr().err
