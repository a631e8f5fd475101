"""Held-out evaluation with the Room-to-Room metrics, batched on the native vector env."""

from __future__ import annotations

from typing import Any

from vln.collect import Policy, Trajectory, run_episodes
from vln.metrics import episode_metrics, summarize


def evaluate_policy(env, policy: Policy, episodes: int, seed: int = 0) -> tuple[dict[str, float], list[dict[str, Any]], list[Trajectory]]:
    """Run ``episodes`` episodes (seeds ``seed...``) and compute the metrics.

    Returns (summary, per-episode rows, trajectories).
    """
    trajs = run_episodes(env, policy, episodes, seed)
    rows = []
    for t in trajs:
        m = episode_metrics(t.info, steps=len(t))
        rows.append({"seed": t.seed, "mission": t.mission, "steps": len(t), **m})
    return summarize(rows), rows, trajs


# ----------------------------------------------------------------------------- from names to runs
POLICIES = ("agent", "expert", "random")
EPISODE_FIELDS = ("seed", "mission", "success", "steps", "spl", "ndtw", "sdtw", "navigation_error", "oracle_success",
                  "path_length", "shortest_path_length")


def load_checkpoint(path) -> tuple[Any, int | None]:
    """A saved agent and the instruction length it was trained with.

    ``path`` is an ``agent.keras`` file or a run folder (its ``agent.keras``). The length
    (``max_words``) comes from the run's ``config.json`` beside the file (or one folder up,
    for ``run/checkpoint/agent.keras``); None where there is none (then whole missions are
    encoded). Raises ValueError naming the file when it is missing or not a VLN agent.
    """
    import json
    from pathlib import Path

    from agents.files import check_agent_file

    p = Path(path)
    if p.is_dir():
        p = p / "agent.keras"
    if not p.is_file():
        raise ValueError(f"checkpoint not found: {p}")
    check_agent_file(p)  # before Keras starts: a wrong file fails fast
    from agents import load_agent

    agent = load_agent(p)
    max_words = None
    for cfg in (p.parent / "config.json", p.parent.parent / "config.json"):
        if cfg.is_file():
            try:
                value = json.loads(cfg.read_text()).get("max_words")
            except (ValueError, AttributeError):
                continue
            if isinstance(value, int) and value > 0:
                max_words = value
                break
    return agent, max_words


def run_config(checkpoint) -> dict[str, Any]:
    """The training run's ``config.json`` for a checkpoint (file or run folder), or {}."""
    import json
    from pathlib import Path

    p = Path(checkpoint)
    folder = p if p.is_dir() else p.parent
    for cfg in (folder / "config.json", folder.parent / "config.json"):
        if cfg.is_file():
            try:
                data = json.loads(cfg.read_text())
            except ValueError:
                return {}
            return data if isinstance(data, dict) else {}
    return {}


def make_policy(agent_or_policy, num_actions: int | None = None, seed: int = 0, max_words: int | None = None,
                mode: str = "greedy") -> Policy:
    """A ``Policy`` from what a user hands over.

    ``agent_or_policy``: a VLN agent (driven greedily by default, ``mode="sample"`` samples),
    "expert", "random" (needs ``num_actions``), or anything with ``begin``/``act`` already.
    """
    from vln.collect import AgentPolicy, ExpertPolicy, RandomPolicy

    if isinstance(agent_or_policy, str):
        if agent_or_policy == "expert":
            return ExpertPolicy()
        if agent_or_policy == "random":
            if num_actions is None:
                raise ValueError("the random policy needs the number of actions")
            return RandomPolicy(num_actions, seed)
        if agent_or_policy == "agent":
            raise ValueError("the agent policy needs a checkpoint (an agent)")
        raise ValueError(f"unknown policy {agent_or_policy!r}: choose from {', '.join(POLICIES)}, or pass an agent")
    if hasattr(agent_or_policy, "step") and hasattr(agent_or_policy, "vocab"):
        return AgentPolicy(agent_or_policy, mode=mode, seed=seed, max_words=max_words)
    if hasattr(agent_or_policy, "begin") and hasattr(agent_or_policy, "act"):
        return agent_or_policy
    raise TypeError(f"expected a VLN agent, a policy or one of {POLICIES}, got {type(agent_or_policy).__name__}")


def check_policy_fits(policy: Policy, venv, seed: int) -> None:
    """A saved agent must fit the env it is run on (actions, frames, words): see ``check_agent_fits``."""
    agent = getattr(policy, "agent", None)
    if agent is not None and hasattr(agent, "config"):
        from vln.contract import check_agent_fits

        check_agent_fits(agent, venv, seed)


def default_split(env_name: str) -> str:
    """"unseen" where the env takes a ``split`` argument, else "train" (its only episodes)."""
    from vln.environments import has_splits

    return "unseen" if has_splits(env_name) else "train"


def evaluate(agent_or_policy, env: str = "vln/GoToObject-v0", episodes: int = 200, seed: int = 1_000_000,
             split: str | None = None, env_kwargs: dict[str, Any] | None = None, num_envs: int = 32,
             max_words: int | None = None) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """Evaluate an agent (greedy) or a named policy on ``episodes`` seeded episodes, batched.

    Returns (summary with the Room-to-Room metrics, per-episode rows). The default seed is
    the training run's ``eval_seed``, so the figures match a run's ``eval.json``.
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
    for row, t in zip(rows, trajs):
        if "shortest_path_length" in t.info:
            row["shortest_path_length"] = float(t.info["shortest_path_length"])
    return summary, rows


def results_paths(out) -> tuple[Any, Any]:
    """(JSON path, per-episode CSV path beside it: ``<stem>_episodes.csv``)."""
    from pathlib import Path

    out = Path(out)
    return out, out.with_name(out.stem + "_episodes.csv")


def write_results(out, summary: dict[str, Any], rows: list[dict[str, Any]], meta: dict[str, Any] | None = None) -> tuple[Any, Any]:
    """Write the summary (plus ``meta``) as JSON to ``out`` and the rows as CSV beside it (atomically)."""
    import csv
    import io

    from vln.checkpoint import atomic_write_json, atomic_write_text

    json_path, csv_path = results_paths(out)
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
    atomic_write_text(csv_path, buf.getvalue())
    atomic_write_json(json_path, {**summary, **(meta or {})})
    return json_path, csv_path


def check_writable(folder) -> None:
    """Create ``folder`` if needed and make sure a file can be written in it (ValueError if not)."""
    import tempfile
    from pathlib import Path

    folder = Path(folder)
    for parent in (folder, *folder.parents):
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"cannot write to {folder}: {parent} is a file, not a folder")
            break
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ValueError(f"cannot write to {folder}: {reason}") from exc


def parse_env_kwargs(text: str | None) -> dict[str, Any]:
    """``--env-kwargs`` JSON -> dict (ValueError with a one-line reason)."""
    import json

    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--env-kwargs is not valid JSON ({exc.msg} at column {exc.colno}): {text}") from exc
    if not isinstance(value, dict):
        raise ValueError(f"--env-kwargs must be a JSON object like '{{\"max_steps\": 50}}', got {text}")
    return value


class _NativeStderrMuted:
    """Send file descriptor 2 to /dev/null for a while (TensorFlow's C++ start-up log lines)."""

    def __enter__(self):
        import os
        import sys

        self.saved = None
        try:
            sys.stderr.flush()
            self.saved = os.dup(2)
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 2)
            os.close(null)
        except (OSError, AttributeError, ValueError):
            self.saved = None
        return self

    def __exit__(self, *exc):
        import os
        import sys

        if self.saved is not None:
            try:
                sys.stderr.flush()
            except (OSError, ValueError):
                pass
            os.dup2(self.saved, 2)
            os.close(self.saved)
        return False


def resolve_inputs(checkpoint: str | None, policy: str | None, env: str | None, env_kwargs: dict[str, Any] | None,
                   split: str | None, max_words: int | None, quiet: bool = False) -> dict[str, Any]:
    """What the evaluate / rollout scripts run, from their flags; ValueError on bad input.

    Checks the cheap things first (policy, env id, split), then loads the checkpoint.
    The env and its kwargs default to the training run's (``config.json`` beside the
    checkpoint), else ``vln/GoToObject-v0``; ``max_words`` to the run's.
    Returns ``policy`` (an agent or a policy name), ``name``, ``env``, ``env_kwargs``,
    ``split`` and ``max_words``.
    """
    from vln.environments import resolve_env_id

    if policy is None:
        policy = "agent" if checkpoint else None
        if policy is None:
            raise ValueError("nothing to run: give --checkpoint (an agent) or --policy expert|random")
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r}: choose from {', '.join(POLICIES)}")
    if policy == "agent" and not checkpoint:
        raise ValueError("--policy agent needs --checkpoint (an agent.keras file or a run folder)")
    if policy != "agent" and checkpoint:
        raise ValueError(f"--checkpoint is only used with --policy agent, not {policy}")
    run = run_config(checkpoint) if checkpoint else {}
    if env is None:
        env = run.get("env") or "vln/GoToObject-v0"
        if env_kwargs is None:
            env_kwargs = run.get("env_kwargs") or {}
    env_kwargs = dict(env_kwargs or {})
    resolve_env_id(env)
    split = split or default_split(env)
    if split != "train" and default_split(env) == "train":
        raise ValueError(f"env {env!r} has no 'split' argument, so it has no {split} episodes (use --split train)")
    agent = None
    if policy == "agent":
        if quiet:
            with _NativeStderrMuted():
                agent, saved_words = load_checkpoint(checkpoint)
        else:
            agent, saved_words = load_checkpoint(checkpoint)
        if max_words is None:
            max_words = saved_words
    return {"policy": agent if agent is not None else policy, "name": policy, "env": env, "env_kwargs": env_kwargs,
            "split": split, "max_words": max_words}


def user_error_message(exc: BaseException) -> str | None:
    """One line for an error caused by bad input (bad file, id, folder, option), else None.

    The scripts print it as ``error: ...`` and exit 2 instead of showing a traceback.
    """
    import gymnasium as gym

    from vln.video import VideoUnavailable

    # FloatingPointError: training stopped on a NaN/Inf loss (vln.sequences.NonFiniteLoss).
    if not isinstance(exc, (ValueError, OSError, VideoUnavailable, gym.error.Error, FloatingPointError)):
        return None
    from vln.contract import ContractError

    if isinstance(exc, ContractError):
        return str(exc)  # one line per violation: all of them, untruncated
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        text = f"{exc.filename}: {exc.strerror}"
    else:
        text = str(exc) or type(exc).__name__
    text = " ".join(text.split())
    return text if len(text) <= 400 else text[:397] + "..."
