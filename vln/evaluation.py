"""Held-out evaluation with the Room-to-Room metrics, batched on the native vector env."""

from __future__ import annotations

from typing import Any

from vln.breakdown import breakdown, episodes_from_rows, failure_category
from vln.collection import Trajectory, run_episodes

from vln.policies import Policy, check_policy_fits, make_policy
from vln.metrics import episode_metrics, summarize


def evaluate_policy(env, policy: Policy, episodes: int, seed: int = 0) -> tuple[dict[str, float], list[dict[str, Any]], list[Trajectory]]:
    """Run ``episodes`` episodes (seeds ``seed...``) and compute the metrics.

    Returns (summary, per-episode rows, trajectories).
    """
    trajs = run_episodes(env, policy, episodes, seed)
    rows = [episode_row(t) for t in trajs]
    return summarize(rows), rows, trajs


def episode_row(traj: Trajectory) -> dict[str, Any]:
    """One episode's row of the evaluation CSV: seed, mission, steps, its metrics (NaN where the
    env gives no geometry) and the shortest path's length where the env gives it."""
    row: dict[str, Any] = {"seed": traj.seed, "mission": traj.mission, "steps": len(traj),
                           **episode_metrics(traj.info, steps=len(traj))}
    if "shortest_path_length" in traj.info:
        row["shortest_path_length"] = float(traj.info["shortest_path_length"])
    return row


# ----------------------------------------------------------------------------- from names to runs
# What the breakdown groups episodes by, kept in each row (and the CSV) where the env gives it.
EPISODE_FEATURES = ("num_rooms", "num_distractors", "route_doors", "doors_passed", "start_doors")
EPISODE_FIELDS = ("seed", "mission", "success", "steps", "spl", "ndtw", "sdtw", "navigation_error", "oracle_success",
                  "path_length", "shortest_path_length")


def default_split(env_name: str) -> str:
    """"unseen" where the env takes a ``split`` argument, else "train" (its only episodes)."""
    from vln.environments import has_splits

    return "unseen" if has_splits(env_name) else "train"


def evaluate(agent_or_policy, env: str = "vln/GoToObject-v0", episodes: int = 200, seed: int = 1_000_000,
             split: str | None = None, env_kwargs: dict[str, Any] | None = None, num_envs: int = 32,
             max_words: int | None = None) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """Evaluate an agent (greedy) or a named policy on ``episodes`` seeded episodes, batched.

    Returns (summary with the Room-to-Room metrics and the failure ``breakdown`` of
    ``vln.breakdown``, per-episode rows, each with its ``outcome``: "success" or the failure
    category, and the ``EPISODE_FEATURES`` the env gives). The default seed is the training
    run's ``eval_seed``, so the figures match a run's ``eval.json``.
    """
    from vln.environments import make_vector_env

    if episodes < 1:
        raise ValueError(f"episodes must be positive, got {episodes}")
    if num_envs < 1:
        raise ValueError(f"num_envs must be positive, got {num_envs}")
    split = split or default_split(env)
    venv = make_vector_env(env, min(num_envs, episodes), split, env_kwargs)
    try:
        policy = make_policy(agent_or_policy, int(venv.single_action_space.n), seed, max_words)
        check_policy_fits(policy, venv, seed)
        summary, rows, trajs = evaluate_policy(venv, policy, episodes, seed)
    finally:
        venv.close()
    episodes_info = episodes_from_rows(rows, [t.info for t in trajs])
    for row, episode in zip(rows, episodes_info):
        row["outcome"] = failure_category(episode) or "success"
        row.update({k: episode[k] for k in EPISODE_FEATURES if k in episode})
    summary["breakdown"] = breakdown(episodes_info)
    return summary, rows


def run_episodes_file(split: str) -> str:
    """A run folder's per-episode CSV of its evaluation on ``split``: ``eval_seen_episodes.csv``
    for seen, ``eval_episodes.csv`` for the split at eval.json's top level (unseen, or train)."""
    return "eval_seen_episodes.csv" if split == "seen" else "eval_episodes.csv"


def results_paths(out) -> tuple[Any, Any]:
    """(JSON path, per-episode CSV path beside it: ``<stem>_episodes.csv``)."""
    from pathlib import Path

    out = Path(out)
    return out, out.with_name(out.stem + "_episodes.csv")


def write_results(out, summary: dict[str, Any], rows: list[dict[str, Any]], meta: dict[str, Any] | None = None) -> tuple[Any, Any]:
    """Write the summary (plus ``meta``) as JSON to ``out`` and the rows as CSV beside it (atomically)."""
    from vln.checkpoint import atomic_write_json

    json_path, csv_path = results_paths(out)
    write_episode_rows(csv_path, rows)
    atomic_write_json(json_path, {**summary, **(meta or {})})
    return json_path, csv_path


def write_episode_rows(path, rows: list[dict[str, Any]]) -> None:
    """The per-episode rows as CSV (``EPISODE_FIELDS`` first, then the rest: outcome, features), atomically."""
    import csv
    import io

    from vln.checkpoint import atomic_write_text

    buf = io.StringIO()
    extra = [k for k in (rows[0] if rows else {}) if k not in EPISODE_FIELDS]
    writer = csv.DictWriter(buf, fieldnames=[*EPISODE_FIELDS, *extra], extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        r = dict(row)
        for key in ("success", "oracle_success"):
            if key in r:
                r[key] = int(bool(r[key]))
        for key, v in r.items():
            if isinstance(v, float):
                r[key] = round(v, 6)
        writer.writerow(r)
    atomic_write_text(path, buf.getvalue())


def read_episode_rows(path) -> list[dict[str, Any]]:
    """A per-episode CSV read back: numbers as numbers (``seed`` and counts int), empty cells left out."""
    import csv

    def value(text: str) -> Any:
        for kind in (int, float):
            try:
                return kind(text)
            except ValueError:
                pass
        return text

    with open(path, newline="") as f:
        return [{k: (v if k == "mission" else value(v)) for k, v in row.items() if v != ""} for row in csv.DictReader(f)]
