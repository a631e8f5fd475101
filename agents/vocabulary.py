"""Word-level vocabulary for navigation instructions.

Instructions are lower-cased and split into ``[a-z0-9]+`` word tokens; punctuation is
dropped. Id 0 is the padding token and id 1 stands for any unknown word, so encoding
never fails on words that were not seen when the vocabulary was built.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, Iterable, Sequence

import numpy as np

PAD = "<pad>"
UNK = "<unk>"
PAD_ID = 0
UNK_ID = 1

_WORD_RE = re.compile(r"[a-z0-9]+")


def tokenize(text: str) -> list[str]:
    """Split ``text`` into lower-cased word tokens (punctuation is dropped)."""
    return _WORD_RE.findall(str(text).lower())


class Vocabulary:
    """Maps words to integer ids and back. Id 0 = ``<pad>``, id 1 = ``<unk>``."""

    def __init__(self, words: Sequence[str] = ()) -> None:
        """Create a vocabulary from the list of real words (specials are prepended).

        Args:
            words: the known words, in id order starting at id 2. Special tokens and
                duplicates in the list are ignored.
        """
        self._itos: list[str] = [PAD, UNK]
        seen = set(self._itos)
        for w in words:
            if w not in seen:
                seen.add(w)
                self._itos.append(w)
        self._stoi: dict[str, int] = {w: i for i, w in enumerate(self._itos)}

    @classmethod
    def build(cls, texts: Iterable[str], min_count: int = 1) -> "Vocabulary":
        """Build a vocabulary from ``texts``, keeping words seen at least ``min_count`` times.

        Words are sorted alphabetically so the ids do not depend on the text order.
        """
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(tokenize(text))
        words = sorted(w for w, n in counts.items() if n >= min_count)
        return cls(words)

    @property
    def words(self) -> list[str]:
        """All tokens in id order, including ``<pad>`` and ``<unk>`` (so ``words[i]`` is id i)."""
        return list(self._itos)

    def __len__(self) -> int:
        return len(self._itos)

    def __contains__(self, word: object) -> bool:
        return word in self._stoi

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self._itos == other._itos

    def __repr__(self) -> str:
        return f"Vocabulary(size={len(self)})"

    def tokens(self, text: str) -> list[str]:
        """The word tokens of ``text``, one per id that ``encode`` returns."""
        return tokenize(text)

    def encode(self, text: str) -> list[int]:
        """Word ids of ``text``; unknown words map to ``UNK_ID`` (never raises)."""
        return [self._stoi.get(w, UNK_ID) for w in tokenize(text)]

    def encode_batch(self, texts: Sequence[str], max_len: int | None = None) -> np.ndarray:
        """Encode several texts into an int32 array (B, L) right-padded with ``PAD_ID``.

        L is the longest encoding (at least 1, so an empty batch item still has a
        column), or ``max_len`` when given, in which case longer texts are truncated.
        """
        encoded = [self.encode(t) for t in texts]
        if max_len is None:
            length = max([len(e) for e in encoded] + [1])
        else:
            if max_len < 1:
                raise ValueError(f"max_len must be >= 1, got {max_len}")
            length = int(max_len)
        out = np.full((len(encoded), length), PAD_ID, dtype=np.int32)
        for i, ids in enumerate(encoded):
            ids = ids[:length]
            out[i, : len(ids)] = ids
        return out

    def decode(self, ids: Iterable[int], skip_pad: bool = True) -> str:
        """Turn ids back into a space-joined string (padding skipped by default)."""
        words = []
        for i in ids:
            i = int(i)
            if skip_pad and i == PAD_ID:
                continue
            words.append(self._itos[i] if 0 <= i < len(self._itos) else UNK)
        return " ".join(words)

    def to_config(self) -> dict[str, Any]:
        """A JSON-serialisable description; ``from_config`` rebuilds an equal vocabulary."""
        return {"words": self._itos[2:]}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Vocabulary":
        """Rebuild a vocabulary from ``to_config()`` output."""
        return cls(list(config["words"]))
