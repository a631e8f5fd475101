"""The environment contract: every violation named, all at once, before anything runs."""

from __future__ import annotations

import os
import string
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from vln.contract import EXPERT_MESSAGE, ContractError, check_env, validate_env
from vln.environments import make_vector_env

ROOT = Path(__file__).resolve().parents[2]
STRIPES = "examples.color_stripe_env:ColorStripeEnv"


class ConfigurableEnv(gym.Env):
    """A contract-following env whose parts a test can break one by one."""

    def __init__(self, image_space=None, mission_space=None, action_space=None, obs_space=None, image=None,
                 mission="go to the red ball", drop=(), expert=True) -> None:
        self.image_space = image_space if image_space is not None else spaces.Box(0, 255, (8, 8, 3), np.uint8)
        mission_space = mission_space if mission_space is not None else spaces.Text(32, charset=string.ascii_lowercase + " ")
        self.observation_space = obs_space if obs_space is not None else spaces.Dict(
            {k: v for k, v in {"image": self.image_space, "mission": mission_space}.items() if k not in drop})
        self.action_space = action_space if action_space is not None else spaces.Discrete(4)
        self.image = image if image is not None else np.zeros((8, 8, 3), np.uint8)
        self.mission, self.drop, self.expert = mission, drop, expert

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        obs = {k: v for k, v in {"image": self.image, "mission": self.mission}.items() if k not in self.drop}
        return obs, ({"expert_action": 0} if self.expert else {})

    def step(self, action):
        obs, info = self.reset()
        return obs, 0.0, True, False, {**info, "success": False}


BROKEN = {
    "no image": (dict(drop=("image",)), ["observation_space has no 'image' key", "reset() observation has no 'image'"]),
    "no mission": (dict(drop=("mission",)), ["observation_space has no 'mission' key", "reset() observation has no 'mission'"]),
    "float image": (dict(image_space=spaces.Box(0, 1, (8, 8, 3), np.float32), image=np.zeros((8, 8, 3), np.float32)),
                    ["'image' space must be uint8, got float32"]),
    "rank 2 image": (dict(image_space=spaces.Box(0, 255, (8, 8), np.uint8), image=np.zeros((8, 8), np.uint8)),
                     ["'image' space must have rank 3 (H, W, 3), got shape (8, 8)"]),
    "grey image": (dict(image_space=spaces.Box(0, 255, (8, 8, 1), np.uint8), image=np.zeros((8, 8, 1), np.uint8)),
                   ["'image' space must have 3 channels (RGB), got 1"]),
    "box actions": (dict(action_space=spaces.Box(-1, 1, (2,), np.float32)),
                    ["action_space must be gymnasium.spaces.Discrete, got Box"]),
    "multi-discrete": (dict(action_space=spaces.MultiDiscrete([3, 3])), ["action_space must be gymnasium.spaces.Discrete"]),
    "discrete from 1": (dict(action_space=spaces.Discrete(4, start=1)), ["Discrete(n) starting at 0, got start=1"]),
    "not a dict": (dict(obs_space=spaces.Box(0, 255, (8, 8, 3), np.uint8)),
                   ["observation_space must be a gymnasium.spaces.Dict with 'image' and 'mission', got Box"]),
    "mission space": (dict(mission_space=spaces.Discrete(3)), ["'mission' space must be gymnasium.spaces.Text, got Discrete"]),
    "mission value": (dict(mission=7), ["reset() 'mission' must be a str, got int"]),
    "reset image dtype": (dict(image=np.zeros((8, 8, 3), np.float32)), ["reset() image must be uint8, got float32"]),
    "reset image rank": (dict(image=np.zeros((8, 8), np.uint8)), ["reset() image must have rank 3 (H, W, 3), got shape (8, 8)"]),
    "image vs space": (dict(image=np.zeros((4, 4, 3), np.uint8)), ["reset() image has shape (4, 4, 3), but the 'image' space says (8, 8, 3)"]),
}


def test_good_env_passes():
    assert check_env(ConfigurableEnv(), imitation=True) == []
    validate_env(ConfigurableEnv(), imitation=True)


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_each_violation_has_its_message(case):
    kwargs, messages = BROKEN[case]
    with pytest.raises(ContractError) as err:
        validate_env(ConfigurableEnv(**kwargs))
    for m in messages:
        assert m in str(err.value), (m, str(err.value))
    assert isinstance(err.value, ValueError)


def test_missing_expert_only_matters_for_imitation():
    env = ConfigurableEnv(expert=False)
    assert check_env(env) == []
    with pytest.raises(ValueError) as err:
        validate_env(env, imitation=True)
    assert EXPERT_MESSAGE in str(err.value)
    assert "--il-episodes 0 --dagger-rounds 0" in str(err.value)


def test_all_violations_in_one_error():
    env = ConfigurableEnv(image_space=spaces.Box(0, 1, (8, 8), np.float32), image=np.zeros((8, 8), np.float32),
                          mission_space=spaces.Discrete(2), action_space=spaces.Box(-1, 1, (2,)), expert=False)
    with pytest.raises(ContractError) as err:
        validate_env(env, name="'broken'", imitation=True)
    text = str(err.value)
    for m in ("action_space must be gymnasium.spaces.Discrete", "'image' space must be uint8", "must have rank 3",
              "'mission' space must be gymnasium.spaces.Text", EXPERT_MESSAGE):
        assert m in text, (m, text)
    assert len(err.value.violations) >= 5 and text.startswith("env 'broken' does not follow the vln environment contract")


def test_vector_envs_and_ids_are_checked_on_make():
    gym.register("test-contract/Broken-v0", entry_point=ConfigurableEnv,
                 kwargs=dict(image_space=spaces.Box(0, 1, (8, 8, 3), np.float32), image=np.zeros((8, 8, 3), np.float32),
                             action_space=spaces.Box(-1, 1, (2,))))
    with pytest.raises(ContractError) as err:
        make_vector_env("test-contract/Broken-v0", 2)
    assert "'image' space must be uint8" in str(err.value) and "Discrete" in str(err.value)
    # module:Class paths: the example env passes, and without its expert, imitation is refused.
    make_vector_env(STRIPES, 2, imitation=True).close()
    with pytest.raises(ValueError, match=r"imitation needs info\['expert_action'\]"):
        make_vector_env(STRIPES, 2, env_kwargs={"expert": False}, imitation=True)


def test_train_refuses_imitation_without_expert(tmp_path):
    from vln.config import preset
    from vln.train import run

    config = preset("tiny", env=STRIPES, env_kwargs={"expert": False}, out=str(tmp_path / "run"), il_episodes=8,
                    dagger_rounds=0, rl_updates=0)
    with pytest.raises(ValueError, match=r"--il-episodes 0 --dagger-rounds 0 for REINFORCE only"):
        run(config, progress=False)
    assert not (tmp_path / "run").exists()  # checked before anything is written


def test_train_script_reports_every_violation(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "train.py"), "--env", STRIPES, "--env-kwargs",
                           '{"expert": false}', "--preset", "tiny", "--out", str(tmp_path / "run"), "--no-progress"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "error: env" in done.stderr and EXPERT_MESSAGE in done.stderr


def test_env_instances_are_checked_too():
    import vln

    with pytest.raises(ContractError, match="'image' space must be uint8"):
        vln.rollout("random", ConfigurableEnv(image_space=spaces.Box(0, 1, (8, 8, 3), np.float32),
                                              image=np.zeros((8, 8, 3), np.float32)))
    rows = vln.rollout("expert", ConfigurableEnv(), episodes=2)
    assert len(rows) == 2 and rows[0]["success"] == 0.0 and np.isnan(rows[0]["spl"])


def test_example_env_trains_end_to_end(tmp_path):
    """The docs' example (examples/color_stripe_env.py): imitation learns to ground colour words in pixels."""
    from vln.config import preset
    from vln.train import run

    config = preset("tiny", env=STRIPES, out=str(tmp_path / "run"), il_episodes=1024, il_epochs=10.0, dagger_rounds=0,
                    rl_updates=0, eval_episodes=64, batch_size=32, num_envs=32, chunk=1)
    results = run(config, progress=False)
    assert results["success_rate"] >= 0.9, results  # chance is 1/3
    assert results["split"] == "train" and (tmp_path / "run" / "agent.keras").exists()


def test_train_refuses_the_target_view_loss_without_its_labels(tmp_path):
    from vln.config import preset
    from vln.train import run

    config = preset("tiny", env="vln/FollowRoute-v0", out=str(tmp_path / "run"), target_coef=1.0)
    with pytest.raises(ValueError, match=r'--target-coef needs the env\'s info\["target_view"\]'):
        run(config, progress=False)
    assert not (tmp_path / "run").exists()  # checked before anything is written
    config = preset("tiny", env="vln/FollowRoute-v0", out=str(tmp_path / "run"), goal_coef=1.0)
    with pytest.raises(ValueError, match=r'--goal-coef needs the env\'s info\["goal_view"\]'):
        run(config, progress=False)
    assert not (tmp_path / "run").exists()
