"""Atomic files and the run state that ``--resume`` continues from.

A checkpoint is one file, ``checkpoint/agent.keras``: the agent with the run state (counters,
RNG) stored inside the archive as ``vln_state.json``, committed by a single rename. So the
weights and the counters always belong together, whatever moment a run is killed at.
``checkpoint/state.json`` is a readable copy of the state, written after the commit.
"""

from __future__ import annotations

import json
import math
import os
import signal
import tempfile
import zipfile
from pathlib import Path
from typing import Any

STATE_MEMBER = "vln_state.json"
# Test hook (see RELIABILITY.md): VLN_TEST_KILL_AT="point:n" makes the process SIGKILL itself
# the n-th time it reaches ``kill_point("point")``, so tests can kill a run at an exact moment;
# "point:n:SIGTERM" (or SIGINT) sends that signal instead, as a cluster or Ctrl-C would.
KILL_ENV = "VLN_TEST_KILL_AT"
_kill_counts: dict[str, int] = {}


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` so a reader (or a killed run) never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        make_ordinary(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def make_ordinary(path: str | Path) -> None:
    """Give a temp file (``mkstemp`` makes them private) an ordinary file's mode: 0o666 less the umask."""
    umask = os.umask(0o022)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def atomic_write_json(path: str | Path, data: Any) -> None:
    """Strict JSON (``null`` where a metric is NaN or infinite, e.g. SPL on an env without
    geometry), so every JSON reader can load it."""
    atomic_write_text(path, json.dumps(_finite(data), indent=2, sort_keys=True, allow_nan=False))


def _finite(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return _finite(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def kill_point(name: str) -> None:
    """Test hook: SIGKILL this process (or send it the signal named) here when ``VLN_TEST_KILL_AT`` names this point."""
    spec = os.environ.get(KILL_ENV)
    if not spec:
        return
    point, _, rest = spec.partition(":")
    if point != name:
        return
    count, _, signame = rest.partition(":")
    _kill_counts[name] = _kill_counts.get(name, 0) + 1
    if _kill_counts[name] == int(count or 1):
        os.kill(os.getpid(), getattr(signal, signame or "SIGKILL"))


def write_checkpoint(agent, folder: str | Path, state: dict[str, Any]) -> None:
    """Save ``agent`` with ``state`` inside it as ``folder/agent.keras`` (one atomic rename),
    then the readable copy ``folder/state.json``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / ".agent.next.keras"
    agent.save(tmp)
    with zipfile.ZipFile(tmp, "a") as zf:
        zf.writestr(STATE_MEMBER, json.dumps(_finite(state), allow_nan=False))
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    kill_point("checkpoint-write")  # written, not yet committed
    os.replace(tmp, folder / "agent.keras")
    kill_point("checkpoint-commit")  # committed, the readable copy not yet written
    atomic_write_json(folder / "state.json", state)


def read_state(run_dir: str | Path) -> dict[str, Any] | None:
    """The last checkpointed run state, or None when the run has none.

    The state inside ``checkpoint/agent.keras`` is the truth: ``state.json`` may lag it by
    one checkpoint when a run was killed between the two writes.
    """
    folder = Path(run_dir) / "checkpoint"
    agent_path, path = folder / "agent.keras", folder / "state.json"
    if agent_path.exists():
        try:
            with zipfile.ZipFile(agent_path) as zf:
                if STATE_MEMBER in zf.namelist():
                    return _checked(json.loads(zf.read(STATE_MEMBER)), agent_path)
        except Exception as exc:  # noqa: BLE001 - any unreadable archive: truncated, bad CRC, bad JSON
            raise ValueError(f"corrupt checkpoint {agent_path}: {exc}") from exc
    if not agent_path.exists() and not path.exists():
        return None
    if not path.exists():
        raise ValueError(f"{agent_path} holds no run state: it is not a checkpoint of vln's training")
    if not agent_path.exists():
        raise ValueError(f"incomplete checkpoint in {folder}: state.json without agent.keras")
    try:
        state = json.loads(path.read_text())  # a checkpoint written before the state moved into agent.keras
    except json.JSONDecodeError as exc:
        raise ValueError(f"corrupt checkpoint state {path}: {exc}") from exc
    return _checked(state, path)


_STATE_KEYS = {"phase", "round", "update", "env_frames", "train_frames", "metrics_rows", "rng"}


def _checked(state: Any, source: Path) -> dict[str, Any]:
    missing = _STATE_KEYS - (set(state) if isinstance(state, dict) else set())
    if missing:
        raise ValueError(f"corrupt checkpoint {source}: its run state lacks {', '.join(sorted(missing))}")
    return state


def run_config(checkpoint: str | Path) -> dict[str, Any]:
    """The training run's ``config.json`` for a checkpoint, or {} where there is none.

    ``checkpoint`` is an ``agent.keras`` file or a run folder; the file lies beside the
    agent, or one folder up (``run/checkpoint/agent.keras``).
    """
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


def load_checkpoint(path: str | Path) -> tuple[Any, int | None]:
    """A saved agent and the instruction length it was trained with.

    ``path`` is an ``agent.keras`` file or a run folder (its ``agent.keras``). The length
    (``max_words``) comes from the run's ``config.json`` (``run_config``); None where there
    is none (then whole missions are encoded). Raises ValueError naming the file when it is
    missing or not a VLN agent.
    """
    p = Path(path)
    if p.is_dir():
        p = p / "agent.keras"
    if not p.is_file():
        raise ValueError(f"checkpoint not found: {p}")
    from agents import load_agent

    agent = load_agent(p)
    value = run_config(p).get("max_words")
    return agent, value if isinstance(value, int) and value > 0 else None


def check_writable(folder) -> None:
    """Create ``folder`` if needed and make sure a file can be written in it (ValueError if not)."""
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
