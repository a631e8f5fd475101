"""A complete small custom environment that plugs into vln: do what the instruction says.

The mission names an action ("turn left", "go forward", ...); the image is noise, so only
the words carry the answer. Three correct actions in a row succeed; a wrong one ends the
episode. It follows the environment contract of docs/design.md: ``Discrete`` actions, a
``Dict`` observation with an RGB ``image`` and a text ``mission``, ``info["expert_action"]``
on reset and every step, ``info["success"]`` at the end. Register it and train::

    import gymnasium
    gymnasium.register("examples/WordAction-v0", entry_point="examples.word_action_env:WordActionEnv")
    python scripts/train.py --env examples.word_action_env:WordActionEnv --preset tiny
"""

from __future__ import annotations

import string

import gymnasium as gym
import numpy as np
from gymnasium import spaces

PHRASES = ("go forward", "turn left", "turn right", "stop")


class WordActionEnv(gym.Env):
    """## Action Space
    ``Discrete(4)``: the action named by ``PHRASES[a]``.

    ## Observation Space
    ``Dict(image=Box(0, 255, (size, size, 3), uint8), mission=Text)``: noise and the instruction.

    ## Rewards
    1 for each correct action.

    ## Episode End
    Terminated after ``length`` correct actions (success) or at the first wrong one.

    ## Arguments
    ``size=16`` (image side), ``length=3``.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(self, size: int = 16, length: int = 3, render_mode: str | None = None, split: str = "train") -> None:
        self.size, self.length, self.render_mode = int(size), int(length), render_mode
        self.action_space = spaces.Discrete(len(PHRASES))
        self.observation_space = spaces.Dict({
            "image": spaces.Box(0, 255, (self.size, self.size, 3), np.uint8),
            "mission": spaces.Text(64, charset=string.ascii_lowercase + " "),
        })

    def _obs(self):
        self._image = self.np_random.integers(0, 256, (self.size, self.size, 3), dtype=np.uint8)
        return {"image": self._image, "mission": PHRASES[self.target]}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.target, self.t = int(self.np_random.integers(len(PHRASES))), 0
        return self._obs(), {"expert_action": self.target}

    def step(self, action):
        if not self.action_space.contains(action):
            raise ValueError(f"invalid action {action!r}")
        correct = int(action) == self.target
        self.t += 1
        terminated = (not correct) or self.t >= self.length
        info = {"expert_action": self.target}
        if terminated:
            success = correct and self.t >= self.length
            info.update(success=success, distance_to_goal=0.0 if success else 1.0, oracle_success=success,
                        path_length=float(self.t), shortest_path_length=float(self.length),
                        reference_path=[(0, i) for i in range(self.length + 1)],
                        trajectory=[(0, i) for i in range(self.t + 1)], success_distance=1.0)
        return self._obs(), float(correct), terminated, False, info

    def render(self):
        return self._image if self.render_mode == "rgb_array" else None
