"""What a task is: a generator of episodes from a seed and a split."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from envs.core.expert import UNREACHABLE, action_distances, cell_distances
from envs.core.world import Episode
from envs.core.mission import SPLITS

_LAYOUT_SALT = 0x5EED_1A70
_EPISODE_SALT = 0x5EED_E915
_SPLIT_CODE = {"train": 0, "seen": 1, "unseen": 2}
HELD_OUT_LAYOUTS = 4  # one layout hash in four belongs to the unseen split


def layout_in_split(key: int, split: str) -> bool:
    """Train and val-seen share layouts; val-unseen layouts are disjoint from both by hash."""
    held_out = key % HELD_OUT_LAYOUTS == 0
    return held_out if split == "unseen" else not held_out


class Task(ABC):
    """Generates episodes. Subclasses define the layout, the goal and the instruction.

    ``generate(seed, split)`` is deterministic in (seed, split). Train and val-seen use
    the same layout for the same seed (new start and phrasing in val-seen); val-unseen
    layouts come from another stream and are disjoint by layout hash.
    """

    #: Padded grid size (rows, cols) for batching.
    max_grid: tuple[int, int]
    #: Most objects in one episode.
    max_objects: int
    #: Default step limit.
    default_max_steps: int

    def generate(self, seed: int, split: str = "train") -> Episode:
        """One episode, deterministic in (seed, split)."""
        return self.generate_batch([seed], split)[0]

    def generate_batch(self, seeds, split: str = "train") -> list[Episode]:
        """Episodes for several seeds; the expert fields are computed for all of them at once.

        Each episode carries ``extras["expert_dist"]`` ((4, H, W) actions to go) and
        ``extras["cell_dist"]`` ((H, W) geodesic cells to the goal region), padded to
        ``max_grid``. A candidate whose goal is unreachable is drawn again.
        """
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        seeds = [int(s) for s in seeds]
        attempts = [0] * len(seeds)
        out: list[Episode | None] = [None] * len(seeds)
        pending = list(range(len(seeds)))
        while pending:
            cands = {}
            for i in pending:
                cands[i], attempts[i] = self._candidate(seeds[i], split, attempts[i])
            blocked = np.stack([pad_to(cands[i].blocked(), self.max_grid, True) for i in pending])
            region = np.stack([pad_to(cands[i].goal_region(), self.max_grid, False) for i in pending])
            stops = np.stack([[pad_to(g, self.max_grid, False) for g in cands[i].expert_goal()] for i in pending])
            dist = action_distances(blocked, stops)
            geo = cell_distances(blocked, region)
            still = []
            for j, i in enumerate(pending):
                ep = cands[i]
                if dist[j, ep.start_dir, ep.start[0], ep.start[1]] >= UNREACHABLE:
                    attempts[i] += 1  # never hand out an unreachable goal
                    still.append(i)
                    continue
                ep.seed = seeds[i]
                ep.extras["expert_dist"], ep.extras["cell_dist"] = dist[j], geo[j]
                out[i] = ep
            pending = still
        return out  # type: ignore[return-value]

    def _candidate(self, seed: int, split: str, attempt: int) -> tuple[Episode, int]:
        layout_stream = 1 if split == "unseen" else 0
        for attempt in range(attempt, attempt + 1000):
            layout_rng = np.random.default_rng([_LAYOUT_SALT, layout_stream, seed, attempt])
            episode_rng = np.random.default_rng([_EPISODE_SALT, _SPLIT_CODE[split], seed, attempt])
            episode = self._generate(layout_rng, episode_rng, split)
            if episode is not None and layout_in_split(episode.layout_key(), split):
                return episode, attempt
        raise RuntimeError(f"{type(self).__name__}: no valid layout after 1000 attempts (seed {seed})")

    @abstractmethod
    def _generate(self, layout_rng: np.random.Generator, episode_rng: np.random.Generator, split: str) -> Episode | None:
        """One candidate episode, or None to retry."""


def pad_to(arr: np.ndarray, shape: tuple[int, int], fill) -> np.ndarray:
    """Pad a (H, W) grid at the bottom/right to ``shape`` (padding is wall-like)."""
    if arr.shape[0] > shape[0] or arr.shape[1] > shape[1]:
        raise ValueError(f"grid {arr.shape} exceeds the task's max_grid {shape}")
    out = np.full(shape, fill, dtype=arr.dtype)
    out[: arr.shape[0], : arr.shape[1]] = arr
    return out
