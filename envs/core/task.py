"""What a task is: a generator of episodes from a seed and a split."""

from __future__ import annotations

from abc import ABC

import numpy as np

from envs.core.constants import WALL
from envs.core.expert import DIR_VEC_LIST, UNREACHABLE, action_distances, cell_distances
from envs.core.world import Episode
from envs.core.mission import check_split

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
    #: The phrasing group every split uses ("train" or "heldout"); None: the split's own
    #: (``envs.core.mission.phrasing_group``).
    phrasings: str | None = None

    def generate(self, seed: int, split: str = "train") -> Episode:
        """One episode, deterministic in (seed, split)."""
        return self.generate_batch([seed], split)[0]

    def generate_batch(self, seeds, split: str = "train") -> list[Episode]:
        """Episodes for several seeds; the expert fields are computed for all of them at once.

        Each episode carries ``extras["expert_dist"]`` ((4, H, W) actions to go) and
        ``extras["cell_dist"]`` ((H, W) geodesic cells to the goal region), padded to
        ``max_grid``. A candidate whose goal is unreachable is drawn again.
        """
        check_split(split)
        seeds = [int(s) for s in seeds]
        attempts = [0] * len(seeds)
        out: list[Episode | None] = [None] * len(seeds)
        pending = list(range(len(seeds)))
        while pending:
            cands, tried = self._candidates([seeds[i] for i in pending], split, [attempts[i] for i in pending])
            blocked, region, stops = self._expert_inputs(cands)
            dist = action_distances(blocked, stops)
            geo = cell_distances(blocked, region)
            still, ready = [], []
            for j, i in enumerate(pending):
                ep = cands[j]
                attempts[i] = tried[j]
                if dist[j, ep.start_dir, ep.start[0], ep.start[1]] >= UNREACHABLE:
                    attempts[i] += 1  # never hand out an unreachable goal
                    still.append(i)
                    continue
                ep.seed = seeds[i]
                ep.extras["expert_dist"], ep.extras["cell_dist"] = dist[j], geo[j]
                ready.append((i, ep))
            for (i, _), ep in zip(ready, self._finish_batch([ep for _, ep in ready], split)):
                out[i] = ep
            pending = still
        return out  # type: ignore[return-value]

    def _candidates(self, seeds: list[int], split: str, attempts: list[int]) -> tuple[list[Episode], list[int]]:
        """One candidate per seed from its first attempt at or after ``attempts``.

        Returns the candidates and the attempt each came from. Tasks that draw a whole
        batch with vectorised numpy override this; the default calls ``_generate``.
        """
        pairs = [self._candidate(seed, split, attempt) for seed, attempt in zip(seeds, attempts)]
        return [ep for ep, _ in pairs], [attempt for _, attempt in pairs]

    def _candidate(self, seed: int, split: str, attempt: int) -> tuple[Episode, int]:
        layout_stream = 1 if split == "unseen" else 0
        for attempt in range(attempt, attempt + 1000):
            layout_rng = np.random.default_rng([_LAYOUT_SALT, layout_stream, seed, attempt])
            episode_rng = np.random.default_rng([_EPISODE_SALT, _SPLIT_CODE[split], seed, attempt])
            episode = self._generate(layout_rng, episode_rng, split)
            if episode is not None and layout_in_split(episode.layout_key(), split):
                return episode, attempt
        raise RuntimeError(f"{type(self).__name__}: no valid layout after 1000 attempts (seed {seed})")

    def _generate(self, layout_rng: np.random.Generator, episode_rng: np.random.Generator, split: str) -> Episode | None:
        """One candidate episode, or None to retry (or override ``_candidates`` instead)."""
        raise NotImplementedError

    def _finish(self, episode: Episode, split: str) -> Episode:
        """Last touches once the expert fields are in ``extras`` (default: none)."""
        return episode

    def _finish_batch(self, episodes: list[Episode], split: str) -> list[Episode]:
        """``_finish`` of several episodes (tasks with a batched version override this)."""
        return [self._finish(ep, split) for ep in episodes]

    def _expert_inputs(self, episodes: list[Episode]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Blocked cells, goal region and expert stop states of a batch, padded to ``max_grid``.

        The same as stacking each episode's ``blocked()`` and ``goal_region()`` and its stop
        states (padding is blocked), built with a few whole-batch operations.
        """
        n = len(episodes)
        gh, gw = self.max_grid
        grid = np.full((n, gh, gw), WALL, np.uint8)
        for j, ep in enumerate(episodes):
            h, w = ep.grid.shape
            if h > gh or w > gw:
                raise ValueError(f"grid {ep.grid.shape} exceeds the task's max_grid {self.max_grid}")
            grid[j, :h, :w] = ep.grid
        blocked = grid == WALL
        objs = [(j, o.row, o.col) for j, ep in enumerate(episodes) for o in ep.objects]
        if objs:
            j_idx, rows, cols = np.array(objs).T
            blocked[j_idx, rows, cols] = True
        goals = np.array([(ep.objects[ep.goal].row, ep.objects[ep.goal].col) for ep in episodes], np.int64).reshape(n, 2)
        every = np.arange(n)
        region = np.zeros((n, gh, gw), bool)
        stops = np.zeros((n, 4, gh, gw), bool)
        for d_row in (-1, 0, 1):
            for d_col in (-1, 0, 1):
                r, c = goals[:, 0] + d_row, goals[:, 1] + d_col
                ok = (r >= 0) & (r < gh) & (c >= 0) & (c < gw)
                region[every[ok], r[ok], c[ok]] = True
        # As in MiniGrid's GoTo tasks, the expert stops next to the goal object, facing it, so
        # the last frame shows what it stopped at. Every such state lies in the goal region.
        for heading, (d_row, d_col) in enumerate(DIR_VEC_LIST):
            r, c = goals[:, 0] - d_row, goals[:, 1] - d_col
            ok = (r >= 0) & (r < gh) & (c >= 0) & (c < gw)
            stops[every[ok], heading, r[ok], c[ok]] = True
        region &= ~blocked
        stops &= ~blocked[:, None]
        return blocked, region, stops


def hash_uniforms(salt: int, stream: int, seeds: np.ndarray, attempts: np.ndarray, count: int) -> np.ndarray:
    """(n, count) uniforms in [0, 1), a pure function of (salt, stream, seed, attempt, column).

    A counter-based generator (SplitMix64's mixer over a hashed key plus a counter) so a
    whole batch of episodes draws its random numbers in a few array operations, and each
    episode's numbers depend only on its own seed and attempt, never on the batch.
    """
    key = _mix64(np.full(len(seeds), salt, np.uint64) ^ np.uint64(stream))
    key = _mix64(key ^ np.asarray(seeds, np.uint64))
    key = _mix64(key ^ np.asarray(attempts, np.uint64))
    counter = np.arange(1, count + 1, dtype=np.uint64) * _GOLDEN
    bits = _mix64(key[:, None] + counter[None, :])
    return (bits >> np.uint64(11)).astype(np.float64) * 2.0**-53


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: a bijective, well-avalanching scramble of uint64 values."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))
