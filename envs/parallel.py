"""The native vector env sharded over worker processes, so env stepping uses several cores.

One registered id's native vector env is slow in one process only because rendering and
episode generation run on one core. ``ShardedVectorEnv`` starts ``num_workers``
processes, each holding a native vector env of its share of the envs; a step sends each
worker its slice of the actions, all shards step at once, and the frames come back
through one shared-memory array (no pickling of images). Rewards, flags, missions and
infos (small) come back through pipes and are concatenated in env order.

It behaves as the native vector env it shards: same spaces, next-step autoreset, array
infos with ``_key`` masks, and ``reset(seed=s)`` gives env ``i`` the seed ``s + i``
whatever the number of workers, so the episodes are the same as in one process.
"""

from __future__ import annotations

import multiprocessing as mp
import traceback
from multiprocessing import shared_memory
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import VectorEnv
from gymnasium.vector.utils import batch_space

from envs.nav_env import check_actions, reset_indices, reset_seeds


def _worker(conn, env_id: str, num_envs: int, kwargs: dict[str, Any], shm_name: str, start: int, total: int) -> None:
    import signal

    import envs  # noqa: F401  (registers the ids in a spawned process)

    # Ctrl-C and a cluster's SIGTERM reach the whole process group: the parent decides when
    # to stop (at a safe point) and closes the workers; one that dies first would break it.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
    shm = None
    try:
        env = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs)
        shape = env.single_observation_space["image"].shape
        conn.send(("ok", None))  # started
        shm = shared_memory.SharedMemory(name=shm_name)
        frames = np.ndarray((total, *shape), np.uint8, buffer=shm.buf)[start : start + num_envs]
        while True:
            cmd, arg = conn.recv()
            if cmd == "reset":
                seeds, options = arg
                obs, info = env.reset(seed=seeds, options=options)
                frames[:] = obs["image"]
                conn.send(("ok", (obs["mission"], info)))
            elif cmd == "step":
                obs, reward, terminated, truncated, info = env.step(arg)
                frames[:] = obs["image"]
                conn.send(("ok", (obs["mission"], reward, terminated, truncated, info)))
            elif cmd == "close":
                env.close()
                conn.send(("ok", None))
                return
    except KeyboardInterrupt:
        pass
    except BaseException as exc:  # report to the parent instead of dying silently
        try:
            conn.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
        except (BrokenPipeError, OSError):
            pass
    finally:
        if shm is not None:
            del frames
            shm.close()


def merge_infos(parts: list[dict[str, Any]], sizes: list[int]) -> dict[str, Any]:
    """Concatenate the array infos of vector-env shards (in env order), filling absent keys.

    A key one shard lacks gets zeros (``None`` for object arrays) there, and its ``_key``
    mask is False there, as a single vector env would report it.
    """
    out: dict[str, Any] = {}
    keys = [k for k in dict.fromkeys(k for p in parts for k in p) if not k.startswith("_")]
    for key in keys:
        like = next(np.asarray(p[key]) for p in parts if key in p)
        chunks, masks = [], []
        for part, n in zip(parts, sizes):
            if key in part:
                chunks.append(np.asarray(part[key]))
                masks.append(np.asarray(part.get("_" + key, np.ones(n, bool)), bool))
            else:
                filler = np.empty((n, *like.shape[1:]), like.dtype)
                filler[...] = None if like.dtype == object else 0
                chunks.append(filler)
                masks.append(np.zeros(n, bool))
        out[key] = np.concatenate(chunks)
        out["_" + key] = np.concatenate(masks)
    return out


class ShardedVectorEnv(VectorEnv):
    """``num_envs`` envs of a registered id's native vector env, split over ``num_workers`` processes.

    Args:
        env_id: a registered id with a ``vector_entry_point`` (e.g. ``vln/FollowRoute-v0``).
        num_envs: envs in total.
        num_workers: processes (at most ``num_envs``); envs are split as evenly as possible.
        context: the ``multiprocessing`` start method, as in Gymnasium's ``AsyncVectorEnv``
            (None: the platform's default, ``fork`` on Linux). With ``spawn`` or
            ``forkserver`` the calling script needs the ``if __name__ == "__main__":`` guard.
            With ``fork``, make the env before JAX or TensorFlow start their threads.
        **kwargs: passed to each shard's env (e.g. ``split``, ``max_steps``).

    Call ``close()`` to stop the workers.
    """

    def __init__(self, env_id: str, num_envs: int, num_workers: int, context: str | None = None,
                 **kwargs: Any) -> None:
        if num_envs < 1 or num_workers < 1:
            raise ValueError(f"num_envs and num_workers must be positive, got {num_envs}, {num_workers}")
        num_workers = min(num_workers, num_envs)
        self.num_envs = int(num_envs)
        base, extra = divmod(self.num_envs, num_workers)
        self.sizes = [base + (w < extra) for w in range(num_workers)]
        self.starts = np.concatenate([[0], np.cumsum(self.sizes)[:-1]]).astype(int).tolist()
        ctx = mp.get_context(context)
        self._shm: shared_memory.SharedMemory | None = None
        self._conns, self._procs = [], []
        self._missions: list[tuple[str, ...]] = [("",) * n for n in self.sizes]  # each shard's latest missions
        # Spaces and frame size come from a one-env instance here, to size the shared buffer.
        spec = gym.spec(env_id)
        if spec.vector_entry_point is None:
            raise ValueError(f"{env_id} has no native vector env to shard")
        probe_env = gym.make_vec(env_id, num_envs=1, vectorization_mode="vector_entry_point", **kwargs)
        self.single_observation_space = probe_env.single_observation_space
        self.single_action_space = probe_env.single_action_space
        self.metadata = dict(probe_env.metadata)
        probe_env.close()
        shape = self.single_observation_space["image"].shape
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._shm = shared_memory.SharedMemory(create=True, size=int(self.num_envs * np.prod(shape)))
        self._frames = np.ndarray((self.num_envs, *shape), np.uint8, buffer=self._shm.buf)
        try:
            for size, start in zip(self.sizes, self.starts):
                parent, child = ctx.Pipe()
                proc = ctx.Process(target=_worker, args=(child, env_id, size, kwargs, self._shm.name, start, self.num_envs),
                                   daemon=True)
                proc.start()
                child.close()
                self._conns.append(parent)
                self._procs.append(proc)
            self._gather()
        except BaseException:
            self.close()
            raise

    def _gather(self, conns: list[Any] | None = None) -> list[Any]:
        out = []
        for conn in self._conns if conns is None else conns:
            try:
                status, payload = conn.recv()
            except EOFError:
                raise RuntimeError("an env worker process died") from None
            if status == "error":
                raise RuntimeError(f"env worker failed: {payload}")
            out.append(payload)
        return out

    def _obs(self, missions: list[tuple[str, ...]]) -> dict[str, Any]:
        # A copy: the shared buffer is overwritten by the next step, as a native env's array would not be.
        return {"image": self._frames.copy(), "mission": tuple(m for part in missions for m in part)}

    def reset(self, *, seed: int | list[int] | None = None, options: dict | None = None):
        """Reset every env, or those of ``options["reset_mask"]`` (as the native vector env does)."""
        seeds = reset_seeds(seed, self.num_envs)
        mask = np.zeros(self.num_envs, bool)
        mask[reset_indices(options, self.num_envs)] = True
        partial = not mask.all()
        busy = []
        for w, (conn, start, size) in enumerate(zip(self._conns, self.starts, self.sizes)):
            part, part_mask = seeds[start : start + size], mask[start : start + size]
            if part_mask.any():  # a shard with nothing to reset is left alone
                conn.send(("reset", (part, {"reset_mask": part_mask} if partial else None)))
                busy.append(w)
        replies = dict(zip(busy, self._gather([self._conns[w] for w in busy])))
        infos = []
        for w in range(len(self._conns)):
            if w in replies:
                self._missions[w], info = replies[w]
            else:
                info = {}
            infos.append(info)
        return self._obs(self._missions), merge_infos(infos, self.sizes)

    def step(self, actions):
        actions = check_actions(actions, self.num_envs)  # the native env's errors, raised here
        for conn, start, size in zip(self._conns, self.starts, self.sizes):
            conn.send(("step", actions[start : start + size]))
        parts = self._gather()
        self._missions = [p[0] for p in parts]
        reward = np.concatenate([p[1] for p in parts])
        terminated = np.concatenate([p[2] for p in parts])
        truncated = np.concatenate([p[3] for p in parts])
        info = merge_infos([p[4] for p in parts], self.sizes)
        return self._obs(self._missions), reward, terminated, truncated, info

    def close_extras(self, **kwargs: Any) -> None:
        for conn in self._conns:
            try:
                conn.send(("close", None))
            except (BrokenPipeError, OSError):
                pass
        for conn, proc in zip(self._conns, self._procs):
            try:
                if conn.poll(5):
                    conn.recv()
            except (EOFError, OSError):
                pass
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
        self._conns, self._procs = [], []
        if self._shm is not None:
            del self._frames
            self._shm.close()
            self._shm.unlink()
            self._shm = None
