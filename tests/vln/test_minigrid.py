"""MiniGrid / BabyAI levels through vln's adapter: pixels, mission, the BabyAI bot as expert, success."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from gymnasium import spaces

pytest.importorskip("minigrid")

from vln.collection import run_episodes

from vln.policies import ExpertPolicy, RandomPolicy  # noqa: E402
from vln.contract import check_env  # noqa: E402
from vln.environments import make_vector_env  # noqa: E402
from vln.minigrid_adapter import MiniGridAdapter, make_minigrid_env  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
LEVEL = "BabyAI-GoToRedBallGrey-v0"


def test_babyai_id_gives_adapted_vector_env():
    env = make_vector_env(LEVEL, 2)
    assert env.single_observation_space["image"].shape == (56, 56, 3)
    assert env.single_observation_space["image"].dtype == np.uint8
    assert isinstance(env.single_observation_space["mission"], spaces.Text)
    assert env.single_action_space == spaces.Discrete(7)
    assert check_env(env, imitation=True) == []
    obs, info = env.reset(seed=[3, 4])
    assert obs["image"].shape == (2, 56, 56, 3) and list(obs["mission"]) == ["go to the red ball"] * 2
    assert info["expert_action"].shape == (2,)
    env.close()
    small = make_vector_env(LEVEL, 1, env_kwargs={"tile_size": 4, "actions": "nav"})
    assert small.single_observation_space["image"].shape == (28, 28, 3) and small.single_action_space.n == 3
    small.close()


def test_bot_expert_reaches_success():
    env = make_vector_env(LEVEL, 4)
    trajs = run_episodes(env, ExpertPolicy(), 8, seed=0)
    assert all(t.success for t in trajs), [t.info for t in trajs]
    assert all(t.rewards[-1] > 0 and len(t) < 64 for t in trajs)
    # The same seeds give the same episodes.
    again = run_episodes(env, ExpertPolicy(), 8, seed=0)
    assert all(np.array_equal(a.actions, b.actions) and np.array_equal(a.images, b.images) for a, b in zip(trajs, again))
    env.close()


@pytest.mark.parametrize("level", [LEVEL, "BabyAI-GoToLocal-v0", "BabyAI-PickupLoc-v0"])
def test_dagger_labels_after_the_agents_own_actions_lead_to_success(level):
    """The agent acts at random for a while (the bot is told each action), then follows the labels."""
    env = make_minigrid_env(level)
    rng = np.random.default_rng(0)
    successes = 0
    for seed in range(6):
        obs, info = env.reset(seed=seed)
        done, t = False, 0
        while not done:
            action = int(rng.integers(7)) if t < 8 else int(info["expert_action"])
            obs, reward, terminated, truncated, info = env.step(action)
            done, t = terminated or truncated, t + 1
        successes += info["success"]
    assert successes >= 5, successes  # a random pickup/toggle can rarely cost the episode


def test_bot_failure_falls_back_to_a_fresh_bot(monkeypatch):
    from minigrid.utils import baby_ai_bot

    env = make_minigrid_env(LEVEL)
    obs, info = env.reset(seed=1)
    real = baby_ai_bot.BabyAIBot.replan
    calls = {"n": 0}

    def flaky(self, action_taken=None):
        calls["n"] += 1
        if calls["n"] == 1:
            raise AssertionError("the bot gives up")
        return real(self, action_taken)

    monkeypatch.setattr(baby_ai_bot.BabyAIBot, "replan", flaky)
    done = False
    while not done:
        obs, reward, terminated, truncated, info = env.step(info["expert_action"])
        done = terminated or truncated
    assert env.bot_failures == 1 and info["success"]


def test_nav_actions_refuse_levels_that_need_more():
    env = make_minigrid_env("BabyAI-OpenDoor-v0", actions="nav")
    with pytest.raises(ValueError, match="actions='nav' leaves out"):
        for seed in range(4):
            obs, info = env.reset(seed=seed)
            done = False
            while not done:
                obs, reward, terminated, truncated, info = env.step(info["expert_action"])
                done = terminated or truncated


def test_minigrid_level_without_bot_trains_with_reinforce_only(tmp_path):
    """Plain MiniGrid levels have no bot: no expert, success from the reward, REINFORCE only."""
    env = make_vector_env("MiniGrid-Empty-5x5-v0", 2)
    assert check_env(env) == [] and check_env(env, imitation=True) != []
    trajs = run_episodes(env, RandomPolicy(7, seed=0), 4, seed=0)
    assert all((t.expert < 0).all() for t in trajs)
    assert all(t.success == (t.rewards[-1] > 0 and len(t) < 100) for t in trajs)
    env.close()

    from vln.config import preset
    from vln.train import run

    config = preset("tiny", env="MiniGrid-Empty-5x5-v0", env_kwargs={"max_steps": 16, "actions": "nav"},
                    out=str(tmp_path / "rl"), il_episodes=0, dagger_rounds=0, rl_updates=2, eval_episodes=4, num_envs=4)
    results = run(config, progress=False)
    assert results["episodes"] == 4 and 0.0 <= results["success_rate"] <= 1.0
    assert np.isnan(results["spl"]) and results["path_length"] > 0  # no geometry: SR and path length only
    # eval.json stays strict JSON: the metrics without geometry are null, not NaN.
    saved = json.loads((tmp_path / "rl" / "eval.json").read_text(), parse_constant=lambda c: pytest.fail(f"{c} in eval.json"))
    assert saved["spl"] is None and saved["success_rate"] == results["success_rate"]
    assert isinstance(MiniGridAdapter, type)


def _script(name: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, str(ROOT / "scripts" / name), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=180)


def test_train_evaluate_rollout_scripts_on_a_babyai_id(tmp_path):
    run_dir = tmp_path / "run"
    done = _script("train.py", "--env", LEVEL, "--preset", "tiny", "--il-episodes", "8", "--dagger-rounds", "0",
                   "--rl-updates", "0", "--eval-episodes", "4", "--out", str(run_dir), "--no-progress")
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((run_dir / "eval.json").read_text())
    assert results["episodes"] == 4 and results["env"] == LEVEL and (run_dir / "agent.keras").exists()

    out = tmp_path / "eval" / "agent.json"
    done = _script("evaluate.py", "--checkpoint", str(run_dir), "--episodes", "4", "--num-envs", "4", "--out", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "agent/train" in done.stdout and json.loads(out.read_text())["episodes"] == 4

    done = _script("rollout.py", "--checkpoint", str(run_dir), "--episodes", "1", "--video-dir", str(tmp_path / "videos"))
    assert done.returncode == 0, done.stderr[-3000:]
    videos = list((tmp_path / "videos").glob("*.mp4"))
    assert len(videos) == 1 and videos[0].stat().st_size > 0
