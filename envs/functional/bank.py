"""The episode bank: episodes generated on the CPU, padded to fixed shapes, for the device.

The functional env cannot run the task generators (Python, NumPy, numba), so episodes
are made here by the same code the CPU envs run (``Task.generate_batch`` and
``EpisodeBatch.load``, so the padding is the CPU envs' own) and kept as arrays with a
leading episode axis. On the device, a reset draws an index into the bank. NumPy only:
nothing here imports jax, so a bank can be built in another thread or process while
the device steps the previous one, then swapped in (same shapes: no recompilation).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields

import numpy as np

from envs.core.task import Task
from envs.nav_env import MAX_MISSION_LENGTH, MISSION_CHARSET, EpisodeBatch

#: Mission token ids of the functional env: 0 pads, ``MISSION_CHARSET[i]`` is ``i + 1``.
MISSION_VOCABULARY = len(MISSION_CHARSET) + 1
_CHAR_ID = {ch: i + 1 for i, ch in enumerate(MISSION_CHARSET)}


@dataclass(frozen=True)
class EpisodeBank:
    """``n`` episodes as padded arrays (``gh``, ``gw``: the task's ``max_grid``; ``K``: its ``max_objects``).

    seed: (n,) int64, the episode seeds (``task.generate(seed, split)`` gives episode i again).
    grid: (n, gh, gw) uint8 FLOOR/WALL/DOOR; door_color: (n, gh, gw) int8 (-1 off doors);
    blocked: (n, gh, gw) bool, walls and objects (what a forward move cannot enter).
    obj_row, obj_col, obj_type, obj_color: (n, K) int32, type -1 where there is no object.
    start: (n, 3) int32 (row, col, heading).
    cell_dist: (n, gh, gw) int32 geodesic cells to the goal region (success, shaping).
    expert_dist: (n, 4, gh, gw) int32 actions to go of the shortest-path expert, by heading.
    mission: (n, L) int32 mission token ids, 0-padded; missions: the strings (host only).
    """

    seed: np.ndarray
    grid: np.ndarray
    door_color: np.ndarray
    blocked: np.ndarray
    obj_row: np.ndarray
    obj_col: np.ndarray
    obj_type: np.ndarray
    obj_color: np.ndarray
    start: np.ndarray
    cell_dist: np.ndarray
    expert_dist: np.ndarray
    mission: np.ndarray
    missions: tuple[str, ...]

    @property
    def size(self) -> int:
        return int(self.seed.shape[0])

    def arrays(self) -> dict[str, np.ndarray]:
        """The fields that go to the device (all but the mission strings)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "missions"}


def mission_tokens(missions: Sequence[str], length: int = MAX_MISSION_LENGTH) -> np.ndarray:
    """(n, length) int32 character ids of ``missions`` (see ``MISSION_VOCABULARY``), 0-padded."""
    out = np.zeros((len(missions), length), np.int32)
    for i, text in enumerate(missions):
        if len(text) > length:
            raise ValueError(f"mission of {len(text)} characters exceeds mission_length={length}: {text!r}")
        out[i, : len(text)] = [_CHAR_ID[ch] for ch in text]
    return out


def build_bank(task: Task, seeds: Sequence[int] | range, split: str = "train", mission_length: int = MAX_MISSION_LENGTH,
               tokenize: Callable[[Sequence[str]], np.ndarray] | None = None) -> EpisodeBank:
    """A bank of the episodes ``task.generate_batch(seeds, split)``, the CPU envs' episodes for those seeds.

    CPU work only (it can run while the device steps an earlier bank). ``tokenize``: the
    missions to (n, L) int token ids (say, an agent's vocabulary); by default their
    characters (``mission_tokens``) padded to ``mission_length``.
    """
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("an episode bank needs at least one seed")
    episodes = task.generate_batch(seeds, split)
    n = len(episodes)
    # EpisodeBatch.load pads exactly as the CPU envs do (it draws nothing, so no renderer).
    batch = EpisodeBatch(task, n, None, task.default_max_steps, False)  # type: ignore[arg-type]
    batch.load(np.arange(n), episodes)
    k = task.max_objects
    obj_row = np.zeros((n, k), np.int32)
    obj_col = np.zeros((n, k), np.int32)
    for i, ep in enumerate(episodes):
        for j, o in enumerate(ep.objects):
            obj_row[i, j], obj_col[i, j] = o.row, o.col
    missions = tuple(ep.mission for ep in episodes)
    tokens = mission_tokens(missions, mission_length) if tokenize is None else np.asarray(tokenize(missions), np.int32)
    return EpisodeBank(
        seed=np.asarray(seeds, np.int64), grid=batch.grid.copy(), door_color=batch.door_color.copy(),
        blocked=batch.blocked.copy(), obj_row=obj_row, obj_col=obj_col, obj_type=batch.obj_type.astype(np.int32),
        obj_color=batch.obj_color.astype(np.int32),
        start=np.stack([batch.row, batch.col, batch.heading], axis=1).astype(np.int32),
        cell_dist=batch.geo.astype(np.int32), expert_dist=batch.dist.astype(np.int32), mission=tokens,
        missions=missions,
    )
