"""Instruction templates with synonyms, split into training and held-out phrasings.

Held-out phrasings recombine words seen in training (so a tokenizer built on training
missions knows every word) into templates never used in training, the way Room-to-Room's
unseen split tests generalisation rather than vocabulary.
"""

from __future__ import annotations

import numpy as np

SPLITS = ("train", "seen", "unseen")

GOTO = {
    "train": (
        "go to the {obj}",
        "walk over to the {obj}",
        "find the {obj} and stop next to it",
        "navigate to the {obj}",
        "please go to the {obj}",
        "get next to the {obj}",
        "move to the {obj}",
    ),
    "heldout": (
        "walk to the {obj}",
        "go over to the {obj} and stop",
        "find the {obj}",
        "please navigate to the {obj} and stop next to it",
    ),
}

ROUTE = {
    "exit": {
        "train": ("leave the room through the {door} door", "exit through the {door} door", "go out the {door} door"),
        "heldout": ("walk out through the {door} door", "leave through the {door} door"),
    },
    "door": {
        "train": ("go through the {door} door", "pass through the {door} door", "walk through the {door} door"),
        "heldout": ("go out through the {door} door",),
    },
    "turn": {
        "train": ("turn {side}", "take a {side}", "then turn {side}"),
        "heldout": ("then take a {side}",),
    },
    "landmark": {
        "train": ("walk past the {obj}", "go past the {obj}", "pass the {obj}"),
        "heldout": ("walk by the {obj}",),
    },
    "goal": {
        "train": ("stop next to the {obj}", "stop by the {obj}", "wait next to the {obj}"),
        "heldout": ("wait by the {obj}", "go to the {obj} and stop"),
    },
}


def check_split(split: str) -> str:
    """``split`` itself if it is one of ``SPLITS``, else a ValueError naming them."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return split


#: The phrasing groups: the templates training uses, and the held-out ones.
PHRASINGS = ("train", "heldout")


def check_phrasings(phrasings: str | None) -> str | None:
    """``phrasings`` itself if it is None or one of ``PHRASINGS``, else a ValueError naming them."""
    if phrasings is not None and phrasings not in PHRASINGS:
        raise ValueError(f"phrasings must be None or one of {PHRASINGS}, got {phrasings!r}")
    return phrasings


def phrasing_group(split: str, phrasings: str | None = None) -> str:
    """Training and val-seen episodes use the training phrasings; val-unseen the held-out ones.

    ``phrasings`` ("train" or "heldout") overrides the split's group: unseen layouts with the
    training phrasings, say, to tell failures of layout from failures of language apart.
    """
    check_split(split)
    if check_phrasings(phrasings) is not None:
        return phrasings
    return "heldout" if split == "unseen" else "train"


def choose(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


def goto_instruction(rng: np.random.Generator, obj: str, split: str, phrasings: str | None = None) -> str:
    return choose(rng, GOTO[phrasing_group(split, phrasings)]).format(obj=obj)


def route_instruction(rng: np.random.Generator, clauses: list[tuple[str, dict]], split: str,
                      phrasings: str | None = None) -> str:
    """Join route clauses ((kind, fields) in order) into one sentence (``phrasing_group``'s templates)."""
    group = phrasing_group(split, phrasings)
    parts = [choose(rng, ROUTE[kind][group]).format(**fields) for kind, fields in clauses]
    if len(parts) == 1:
        return parts[0]
    joiner = choose(rng, JOINERS)
    return ", ".join(parts[:-1]) + joiner + parts[-1]


#: How ``route_instruction`` joins the last clause to the others.
JOINERS = (", then ", ", ", " and ")


def all_training_words() -> set[str]:
    """Every word a training-phrased mission can use, minus the slots (for tests)."""
    words: set[str] = set()
    for text in GOTO["train"]:
        words |= set(text.replace("{obj}", "").split())
    for kind in ROUTE.values():
        for text in kind["train"]:
            words |= set(text.replace("{obj}", "").replace("{door}", "").replace("{side}", "").split())
    return words
