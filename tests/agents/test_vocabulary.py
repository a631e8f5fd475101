"""Tests for agents.vocabulary.Vocabulary."""

import json

import numpy as np

from agents.vocabulary import PAD_ID, UNK_ID, Vocabulary

TEXTS = ["Go to the red ball.", "Turn LEFT at the blue door, then go to the ball!"]


def test_specials_and_sorted_words():
    v = Vocabulary.build(TEXTS)
    assert v.words[:2] == ["<pad>", "<unk>"]
    assert v.words[2:] == sorted(v.words[2:])
    assert len(v) == len(v.words)
    assert "red" in v and "Red" not in v


def test_deterministic_regardless_of_order():
    assert Vocabulary.build(TEXTS) == Vocabulary.build(list(reversed(TEXTS)))
    assert Vocabulary.build(TEXTS).words == Vocabulary.build(TEXTS).words


def test_unknown_words_map_to_unk():
    v = Vocabulary.build(TEXTS)
    ids = v.encode("go to the GREEN key")
    assert ids[:3] == [v.words.index("go"), v.words.index("to"), v.words.index("the")]
    assert ids[3:] == [UNK_ID, UNK_ID]
    assert v.encode("") == []
    assert v.decode(ids) == "go to the <unk> <unk>"


def test_tokens_match_encode():
    v = Vocabulary.build(TEXTS)
    text = "Go to the red ball."
    assert v.tokens(text) == ["go", "to", "the", "red", "ball"]
    assert len(v.tokens(text)) == len(v.encode(text))


def test_min_count():
    v = Vocabulary.build(TEXTS, min_count=2)
    assert set(v.words[2:]) == {"ball", "go", "the", "to"}


def test_encode_batch_padding_and_truncation():
    v = Vocabulary.build(TEXTS)
    arr = v.encode_batch(["go", "go to the ball", ""])
    assert arr.dtype == np.int32 and arr.shape == (3, 4)
    assert (arr[0, 1:] == PAD_ID).all() and (arr[2] == PAD_ID).all()
    assert list(arr[1]) == v.encode("go to the ball")
    short = v.encode_batch(["go to the ball"], max_len=2)
    assert short.shape == (1, 2) and list(short[0]) == v.encode("go to")
    long = v.encode_batch(["go"], max_len=6)
    assert long.shape == (1, 6) and (long[0, 1:] == PAD_ID).all()
    assert v.encode_batch([]).shape == (0, 1)


def test_config_round_trip_is_json():
    v = Vocabulary.build(TEXTS)
    cfg = json.loads(json.dumps(v.to_config()))
    w = Vocabulary.from_config(cfg)
    assert w == v and w.encode(TEXTS[1]) == v.encode(TEXTS[1])
