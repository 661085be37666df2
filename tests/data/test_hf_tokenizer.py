"""HFTokenizer: loads any tokenizer.json, finds its special ids, round-trips through a self-contained spec."""

import json
import pickle

import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers

from lightning_iter.data import HFTokenizer, tokenizer_from_spec
from lightning_iter.data import Tokenizer as TokenizerProtocol
from lightning_iter.data.prepare import tokenizer_fingerprint
from lightning_iter.errors import ConfigError


def word_tokenizer(specials: list[str]) -> Tokenizer:
    vocab = {t: i for i, t in enumerate([*specials, "hello", "world", "the", "cat", "[UNK]"])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.decoder = decoders.WordPiece()
    backend.add_special_tokens(specials)
    return backend


def write(tmp_path, specials, config=None):
    path = tmp_path / "tokenizer.json"
    word_tokenizer(specials).save(str(path))
    if config is not None:
        (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    return path


def test_cosmo2_style_specials_are_found_from_the_file(tmp_path):
    tok = HFTokenizer.from_file(write(tmp_path, ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]))
    assert isinstance(tok, TokenizerProtocol)
    assert (tok.eos_id, tok.bos_id, tok.pad_id, tok.vocab_size) == (0, None, None, 8)
    assert tok.encode("hello world", eos=True) == [3, 4, 0]
    assert tok.decode([3, 0, 4, 999]) == "hello world"  # special and out-of-range ids are dropped


def test_llama_style_specials_and_bos(tmp_path):
    tok = HFTokenizer.from_file(write(tmp_path, ["<s>", "</s>", "<pad>"]))
    assert (tok.bos_id, tok.eos_id, tok.pad_id) == (0, 1, 2)
    assert tok.encode("the cat", bos=True, eos=True) == [0, 5, 6, 1]


def test_tokenizer_config_and_explicit_arguments_win(tmp_path):
    path = write(
        tmp_path,
        ["<|endoftext|>", "<|im_end|>", "<pad>"],
        config={"eos_token": {"content": "<|im_end|>"}, "bos_token": "<|endoftext|>", "pad_token": None},
    )
    tok = HFTokenizer.from_file(tmp_path)  # a directory works like the file inside it
    assert (tok.eos_id, tok.bos_id, tok.pad_id) == (1, 0, 2)
    explicit = HFTokenizer.from_file(path, eos="<|endoftext|>", pad=1)
    assert (explicit.eos_id, explicit.pad_id) == (0, 1)


def test_no_eos_is_a_clear_error(tmp_path):
    path = write(tmp_path, ["<mask>"])
    with pytest.raises(ConfigError, match="no end-of-text token.*eos="):
        HFTokenizer.from_file(path)
    assert HFTokenizer.from_file(path, eos="<mask>").eos_id == 0
    with pytest.raises(ConfigError, match="'<nope>' is not a token"):
        HFTokenizer.from_file(path, eos="<nope>")


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        HFTokenizer.from_file(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not a valid Hugging Face tokenizer.json"):
        HFTokenizer.from_file(bad)


def test_spec_is_self_contained_and_registered(tmp_path):
    tok = HFTokenizer.from_file(write(tmp_path, ["<|endoftext|>", "<pad>"]))
    spec = tok.to_spec()
    assert spec["kind"] == "hf" and json.loads(spec["json"])["model"]["type"] == "WordLevel"
    (tmp_path / "tokenizer.json").unlink()  # the spec must not need the file any more
    rebuilt = tokenizer_from_spec(json.loads(json.dumps(spec)))
    assert isinstance(rebuilt, HFTokenizer)
    assert (rebuilt.eos_id, rebuilt.pad_id, rebuilt.vocab_size) == (tok.eos_id, tok.pad_id, tok.vocab_size)
    assert rebuilt.encode("the cat hello") == tok.encode("the cat hello")
    assert pickle.loads(pickle.dumps(tok)).encode_batch(["cat", "the"], eos=True) == [[5, 0], [4, 0]]
    assert tokenizer_fingerprint(HFTokenizer.from_str(spec["json"])) == tokenizer_fingerprint(tok)
