"""The envs work without OpenCV: only ``render()`` in ``rgb_array`` mode (the top-down map) needs it."""

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import sys

    sys.modules["cv2"] = None  # any "import cv2" now raises ImportError

    import gymnasium
    import numpy as np

    import envs

    for env_id in envs.ENV_IDS:
        env = gymnasium.make(env_id, view_size=16)
        obs, info = env.reset(seed=0)
        for _ in range(5):
            obs, reward, terminated, truncated, info = env.step(info["expert_action"])
            if terminated or truncated:
                obs, info = env.reset()
        assert env.render() is None
        env.close()

        venv = gymnasium.make_vec(env_id, num_envs=3, vectorization_mode="vector_entry_point", view_size=16)
        obs, info = venv.reset(seed=0)
        for _ in range(5):
            obs, reward, terminated, truncated, info = venv.step(info["expert_action"])
        assert obs["image"].shape == (3, 16, 16, 3)
        venv.close()

    assert sys.modules["cv2"] is None, "something imported cv2"
    print("ok")
    """
)


def test_envs_make_reset_and_step_without_opencv():
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("ok")
