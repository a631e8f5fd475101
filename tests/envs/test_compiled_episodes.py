"""The compiled path (kernels of envs/core/jit.py) and the NumPy path give the same episodes.

Same seeds, same layouts, missions, expert actions, rewards, frames and end-of-episode
infos, whichever path draws them: the NumPy path is the oracle.
"""

import numpy as np
import pytest

from envs.core import jit
from envs.tasks.follow_route import FollowRouteTask, FollowRouteVectorEnv
from envs.tasks.goto_object import GoToObjectTask, GoToObjectVectorEnv

pytestmark = pytest.mark.skipif(not jit.AVAILABLE, reason="numba is not installed")


SEEDS = list(range(60)) + [2**31 - 2, 40_000_000, 2**40 + 7]


def episode_fields(ep):
    return (ep.grid.tobytes(), ep.door_color.tobytes(), ep.objects, ep.goal, ep.start, ep.start_dir, ep.mission,
            ep.seed, ep.extras["expert_dist"].tobytes(), ep.extras["cell_dist"].tobytes(),
            ep.extras["room_of"].tobytes(), ep.extras["end_info"], ep.extras.get("route"))


@pytest.mark.parametrize("options", [{}, {"num_rooms": 6, "landmarks_per_room": (2, 3)},
                                     {"num_rooms": (2, 4), "room_size": 3, "slots": (1, 4)},
                                     {"num_rooms": (2, 3), "lookalikes": 0.5},
                                     {"num_rooms": (3, 6), "hub_starts": 0.7}])
@pytest.mark.parametrize("split", ["train", "seen", "unseen"])
def test_follow_route_layouts_are_the_python_generators(options, split):
    compiled = FollowRouteTask(**options, compiled=True).generate_batch(SEEDS, split)
    python = FollowRouteTask(**options, compiled=False).generate_batch(SEEDS, split)
    for seed, a, b in zip(SEEDS, compiled, python):
        assert episode_fields(a) == episode_fields(b), seed


@pytest.mark.parametrize("options", [{}, {"room_size": 4, "num_distractors": 0}, {"room_size": (6, 9), "num_distractors": (3, 7)}])
@pytest.mark.parametrize("split", ["train", "seen", "unseen"])
def test_goto_object_candidates_are_the_numpy_draws(options, split):
    seeds = SEEDS + [-3, 2**64 - 1]  # (seeds wrap to 64 bits)
    compiled = GoToObjectTask(**options, compiled=True).generate_batch(seeds, split)
    numpy = GoToObjectTask(**options, compiled=False).generate_batch(seeds, split)
    for seed, a, b in zip(seeds, compiled, numpy):
        assert episode_fields(a) == episode_fields(b), seed


def rollout(cls, steps: int = 50, **kwargs):
    """Everything a vector env returns over fixed seeds and actions (STOP 1 in 8)."""
    env = cls(num_envs=12, **kwargs)
    obs, info = env.reset(seed=11)
    out = [(obs["image"].copy(), obs["mission"], info["expert_action"].tolist())]
    actions = np.random.default_rng(11).choice(4, size=(steps, 12), p=[0.5, 0.2, 0.175, 0.125])
    for a in actions:
        obs, reward, term, trunc, info = env.step(a)
        ended = {k: v.tolist() for k, v in info.items() if k not in ("expert_action", "_expert_action")}
        out.append((obs["image"].copy(), obs["mission"], reward.tolist(), term.tolist(), trunc.tolist(),
                    info["expert_action"].tolist(), ended))
    return out


@pytest.mark.parametrize("cls, kwargs", [(GoToObjectVectorEnv, {}), (FollowRouteVectorEnv, {}),
                                         (FollowRouteVectorEnv, {"split": "unseen", "fov_deg": 110.0, "vfov_deg": 60.0})])
def test_vector_env_episodes_are_the_same_on_both_paths(monkeypatch, cls, kwargs):
    compiled = rollout(cls, **kwargs)
    monkeypatch.setattr(jit, "ENABLED", False)  # the NumPy path everywhere, for envs made from here on
    env = cls(num_envs=1, **kwargs)
    assert not env.renderer.compiled and not getattr(env.task, "compiled", False)
    python = rollout(cls, **kwargs)
    for t, (a, b) in enumerate(zip(compiled, python)):
        np.testing.assert_array_equal(a[0], b[0], err_msg=f"frames at step {t}")
        assert a[1:] == b[1:], t
