"""Failure analysis of an evaluation: success by episode features, and why episodes failed.

Input: one dict per episode with the env's end-of-episode info (the built-in envs' keys
are documented in ``envs.core.outcome``), plus ``mission`` (str) and ``success`` (bool).
Any key may be missing (custom envs, MiniGrid): each part of the breakdown uses what the
episodes give and says ``unknown`` where they do not.

What it computes (``breakdown(episodes)``):

- ``by_instruction_length``: success by the mission's word count (whitespace-separated
  words), in fixed buckets ``<=8``, ``9-16``, ``17-24``, ``25+`` (no quantiles, so two
  evaluations are comparable bucket by bucket). Always present.
- ``by_num_rooms`` (FollowRoute's ``num_rooms``) and ``by_num_distractors`` (GoToObject's
  ``num_distractors``): success per value; None where no episode has the key.
- ``by_start_doors`` (FollowRoute's ``start_doors``): success by how many doors the start
  room has; from two or more the first move is a choice of door. None where no episode has it.
- ``failures``: exactly one category per failed episode, the first that applies in this
  order (precedence):

  1. ``timeout``: it never stopped (``stopped`` False: the step limit ended it);
  2. ``wrong_room``: it stopped outside the goal's room (``in_goal_room`` False, or
     ``final_room != goal_room``; a doorway is no room, so stopping in one is wrong_room);
  3. ``at_distractor``: it stopped in the goal's room next to (within one cell of) an
     object that is not the goal (``near_distractor``);
  4. ``goal_room_not_at_goal``: it stopped in the goal's room, but near no object:
     neither next to the goal nor to a distractor.

  Being in the wrong room comes before being at a distractor: it is the earlier,
  coarser mistake (the route was not followed), and at_distractor then singles out
  picking the wrong object where the goal was within reach. A category is given only
  when every test before it can be decided from the episode's info; otherwise the
  episode is ``unknown`` (e.g. no ``stopped`` key, or rooms not reported).
- ``route_progress`` (FollowRoute's ``route_doors`` and ``doors_passed``): how many of
  the reference route's doors, in order, the agent went through: counts of "passed k of
  n doors" per n, the mean fraction passed, and the share that passed them all. None
  where no episode has the keys.

``breakdown`` returns a JSON-able dict (counts, rates; an undefined rate is None), made
for ``eval.json["breakdown"]``; ``format_breakdown`` prints it as plain-text tables.

Example, from an evaluation's per-episode rows and their trajectories' end infos::

    from vln.breakdown import breakdown, episodes_from_rows, format_breakdown
    from vln.evaluation import evaluate_policy

    summary, rows, trajs = evaluate_policy(venv, policy, episodes=200, seed=1_000_000)
    result = breakdown(episodes_from_rows(rows, [t.info for t in trajs]))
    summary["breakdown"] = result          # JSON-able, as eval.json stores it
    print(format_breakdown(result))
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

#: Failure categories, in precedence order, then ``unknown``.
CATEGORIES = ("timeout", "wrong_room", "at_distractor", "goal_room_not_at_goal")
UNKNOWN = "unknown"
#: Instruction-length buckets: (label, fewest words, most words or None for no limit).
LENGTH_BUCKETS = (("<=8", 0, 8), ("9-16", 9, 16), ("17-24", 17, 24), ("25+", 25, None))


def episodes_from_rows(rows: Sequence[Mapping[str, Any]], infos: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Merge evaluation rows (``mission``, ``success``, ...) with the episodes' end infos.

    The row wins where both have a key (its ``success`` is the one the metrics counted).
    """
    if len(rows) != len(infos):
        raise ValueError(f"{len(rows)} rows but {len(infos)} infos")
    return [{**dict(info), **dict(row)} for row, info in zip(rows, infos)]


def word_count(mission: Any) -> int | None:
    """Whitespace-separated words of a mission; None if it is not a string."""
    return len(mission.split()) if isinstance(mission, str) else None


def length_bucket(mission: Any) -> str:
    """The ``LENGTH_BUCKETS`` label of a mission's word count, or ``unknown``."""
    n = word_count(mission)
    if n is None:
        return UNKNOWN
    for label, lo, hi in LENGTH_BUCKETS:
        if n >= lo and (hi is None or n <= hi):
            return label
    return UNKNOWN  # not reached: the buckets cover every count


def failure_category(episode: Mapping[str, Any]) -> str | None:
    """None for a success, else one of ``CATEGORIES`` or ``unknown`` (see the module docstring)."""
    if _flag(episode.get("success")):
        return None
    stopped = _flag(episode.get("stopped"))
    if stopped is None:
        return UNKNOWN
    if not stopped:
        return "timeout"
    in_room = in_goal_room(episode)
    if in_room is None:
        return UNKNOWN
    if not in_room:
        return "wrong_room"
    near = _flag(episode.get("near_distractor"))
    if near is None:
        return UNKNOWN
    return "at_distractor" if near else "goal_room_not_at_goal"


def in_goal_room(episode: Mapping[str, Any]) -> bool | None:
    """Whether the episode ended in the goal's room: ``in_goal_room``, else from
    ``goal_room`` and ``final_room``; None when neither is given."""
    flag = _flag(episode.get("in_goal_room"))
    if flag is not None:
        return flag
    goal, final = _int(episode.get("goal_room")), _int(episode.get("final_room"))
    if goal is None or final is None:
        return None
    return final == goal


def breakdown(episodes: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The failure analysis of ``episodes`` as a JSON-able dict (see the module docstring).

    Keys: ``episodes``, ``successes``, ``success_rate``, ``by_instruction_length``,
    ``by_num_rooms``, ``by_num_distractors``, ``by_start_doors`` (each {value: group} or None), ``failures``
    and ``route_progress`` (or None). A group is {``episodes``, ``successes``,
    ``success_rate``, ``failures``: {category: count}}.
    """
    eps = list(episodes)
    cats = [failure_category(e) for e in eps]
    lengths = [length_bucket(e.get("mission")) for e in eps]
    order = [label for label, _, _ in LENGTH_BUCKETS] + [UNKNOWN]
    out: dict[str, Any] = {
        "episodes": len(eps),
        "successes": sum(c is None for c in cats),
        "success_rate": _rate(sum(c is None for c in cats), len(eps)),
        "length_buckets": "words = whitespace-separated tokens of the mission; fixed buckets <=8, 9-16, 17-24, 25+",
        "by_instruction_length": _groups(lengths, cats, order),
        "by_num_rooms": _by_key(eps, cats, "num_rooms"),
        "by_num_distractors": _by_key(eps, cats, "num_distractors"),
        "by_start_doors": _by_key(eps, cats, "start_doors"),
        "failures": _failures(cats),
        "route_progress": _route_progress(eps),
    }
    return _jsonable(out)


def format_breakdown(result: Mapping[str, Any]) -> str:
    """``breakdown``'s dict as plain-text tables."""
    lines = [f"Breakdown of {result.get('episodes', 0)} episodes: success rate {_fmt(result.get('success_rate'))}"]
    titles = (("by_instruction_length", "Success by instruction length (words)", "words"),
              ("by_num_rooms", "Success by number of rooms", "rooms"),
              ("by_num_distractors", "Success by number of distractors", "distractors"),
              ("by_start_doors", "Success by the start room's doors", "doors"))
    for key, title, head in titles:
        groups = result.get(key)
        if not groups:
            continue
        short = {"timeout": "timeout", "wrong_room": "wrong room", "at_distractor": "distractor",
                 "goal_room_not_at_goal": "near goal", UNKNOWN: UNKNOWN}
        lines += ["", title + " (failures by category)",
                  f"  {head:<12}{'episodes':>9}{'success':>9}" + "".join(f"{short[c]:>12}" for c in short)]
        for value in display_order(key, groups):
            g = groups[value]
            lines.append(f"  {value:<12}{g['episodes']:>9}{_fmt(g['success_rate']):>9}"
                         + "".join(f"{g['failures'].get(c, 0):>12}" for c in short))
    f = result.get("failures") or {}
    lines += ["", f"Failures: {f.get('episodes', 0)} episodes (one category each, in precedence order)",
              f"  {'category':<24}{'episodes':>9}{'of failed':>11}{'of all':>9}"]
    for cat in (*CATEGORIES, UNKNOWN):
        if cat in f.get("counts", {}):
            lines.append(f"  {cat:<24}{f['counts'][cat]:>9}{_fmt(f['share_of_failures'][cat]):>11}"
                         f"{_fmt(_rate(f['counts'][cat], result.get('episodes', 0))):>9}")
    progress = result.get("route_progress")
    if progress:
        most = max(int(n) for n in progress["counts"])
        lines += ["", "Route progress: episodes that passed k of the route's n doors, in order",
                  "  " + f"{'n doors':<10}" + "".join(f"{'k=' + str(k):>7}" for k in range(most + 1)) + f"{'all':>8}"]
        for n, row in sorted(progress["counts"].items(), key=lambda item: int(item[0])):
            cells = "".join(f"{row.get(str(k), 0) if k <= int(n) else '':>7}" for k in range(most + 1))
            lines.append(f"  {n:<10}{cells}{_fmt(_rate(row.get(n, 0), sum(row.values()))):>8}")
        lines.append(f"  mean fraction of doors passed {_fmt(progress['mean_fraction'])}, "
                     f"all doors passed {_fmt(progress['all_doors_rate'])} ({progress['episodes']} episodes)")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- parts
def display_order(key: str, groups: Mapping[str, Any]) -> list[str]:
    """The groups in their natural order (a JSON file read back may hold them sorted as strings)."""
    if key == "by_instruction_length":
        order = [label for label, _, _ in LENGTH_BUCKETS] + [UNKNOWN]
        return [k for k in order if k in groups]
    return sorted(groups, key=lambda k: (k == UNKNOWN, int(k) if k.lstrip("-").isdigit() else 0, k))


def _groups(keys: Sequence[str], cats: Sequence[str | None], order: Sequence[str] | None = None) -> dict[str, Any]:
    """{key: group} over the episodes, in ``order`` (keys absent from the episodes left out)."""
    seen = list(dict.fromkeys(keys))
    ordered = [k for k in order if k in seen] if order is not None else seen
    out = {}
    for key in ordered:
        mine = [c for k, c in zip(keys, cats) if k == key]
        wins = sum(c is None for c in mine)
        fails = [c for c in mine if c is not None]
        out[key] = {"episodes": len(mine), "successes": wins, "success_rate": _rate(wins, len(mine)),
                    "failures": {c: fails.count(c) for c in (*CATEGORIES, UNKNOWN) if c in fails}}
    return out


def _by_key(eps: Sequence[Mapping[str, Any]], cats: Sequence[str | None], key: str) -> dict[str, Any] | None:
    """Groups by an integer info key (ascending, then ``unknown``); None if no episode has it."""
    values = [_int(e.get(key)) for e in eps]
    if all(v is None for v in values):
        return None
    labels = [UNKNOWN if v is None else str(v) for v in values]
    order = [str(v) for v in sorted({v for v in values if v is not None})] + [UNKNOWN]
    return _groups(labels, cats, order)


def _failures(cats: Sequence[str | None]) -> dict[str, Any]:
    fails = [c for c in cats if c is not None]
    counts = {c: fails.count(c) for c in (*CATEGORIES, UNKNOWN)}
    if not counts[UNKNOWN]:
        del counts[UNKNOWN]  # the four categories always show, unknown only when it happens
    return {"episodes": len(fails), "counts": counts,
            "share_of_failures": {c: _rate(n, len(fails)) for c, n in counts.items()},
            "precedence": list(CATEGORIES)}


def _route_progress(eps: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    pairs = [(_int(e.get("route_doors")), _int(e.get("doors_passed"))) for e in eps]
    pairs = [(n, k) for n, k in pairs if n is not None and k is not None]
    if not pairs:
        return None
    counts: dict[str, dict[str, int]] = {}
    for n, k in sorted(pairs):
        row = counts.setdefault(str(n), {})
        row[str(k)] = row.get(str(k), 0) + 1
    fractions = [k / n if n > 0 else 1.0 for n, k in pairs]
    return {"episodes": len(pairs), "counts": counts,
            "mean_fraction": sum(fractions) / len(fractions),
            "all_doors_rate": _rate(sum(k >= n for n, k in pairs), len(pairs))}


# ----------------------------------------------------------------------------- values
def _flag(value: Any) -> bool | None:
    """A bool from a Python/numpy bool or 0/1 number; None when absent or not one."""
    if value is None or isinstance(value, (str, bytes)):
        return None
    try:
        if isinstance(value, float) and math.isnan(value):
            return None
        return bool(value)
    except (TypeError, ValueError):  # e.g. a numpy array of several values
        return None


def _int(value: Any) -> int | None:
    if value is None or isinstance(value, (str, bytes)):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return int(f) if math.isfinite(f) else None


def _rate(k: int, n: int) -> float | None:
    return k / n if n else None


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}"


def _jsonable(value: Any) -> Any:
    """Plain Python (numpy scalars to int/float/bool) with NaN and infinities as None."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
