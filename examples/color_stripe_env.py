"""A complete small custom environment for vln: "go to the red stripe".

The image shows three vertical stripes of different colours; the mission names one colour;
the agent chooses a stripe (0 left, 1 middle, 2 right). Both the words and the pixels are
needed: the mission alone does not say where the colour is, the image alone not which
colour is wanted. One decision per episode, so it trains in seconds on a CPU.

It follows the environment contract (docs/design.md, "Environment contract"):

- ``action_space = Discrete(3)``;
- ``observation_space = Dict(image=Box(0, 255, (size, size, 3), uint8), mission=Text(...))``;
- ``info["expert_action"]`` on reset and on every step (leave it out with ``expert=False``:
  the env then trains with REINFORCE only);
- ``info["success"]`` on the last step (optional: without it, vln counts a positive reward
  at termination as success).

It has no ``split`` argument (no held-out layouts), so vln evaluates it on seeds disjoint
from training's. Train it::

    python scripts/train.py --env examples.color_stripe_env:ColorStripeEnv --preset tiny \\
        --il-episodes 512 --dagger-rounds 0 --rl-updates 0 --out runs/stripes
    python scripts/train.py --env examples.color_stripe_env:ColorStripeEnv --env-kwargs '{"expert": false}' \\
        --preset tiny --il-episodes 0 --dagger-rounds 0 --rl-updates 50 --out runs/stripes_rl
"""

from __future__ import annotations

import string

import gymnasium as gym
import numpy as np
from gymnasium import spaces

COLORS = {"red": (220, 40, 40), "green": (40, 180, 60), "blue": (40, 70, 220), "yellow": (230, 210, 40)}


class ColorStripeEnv(gym.Env):
    """## Action Space
    ``Discrete(3)``: go to the left, middle or right stripe.

    ## Observation Space
    ``Dict(image=Box(0, 255, (size, size, 3), uint8), mission=Text)``: three stripes and
    "go to the <colour> stripe".

    ## Rewards
    1 for the stripe of the named colour, else 0.

    ## Episode End
    Terminated after the one decision.

    ## Arguments
    ``size=24`` (image side, any size works), ``expert=True`` (give ``info["expert_action"]``).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 2}

    def __init__(self, size: int = 24, expert: bool = True, render_mode: str | None = None) -> None:
        self.size, self.expert, self.render_mode = int(size), bool(expert), render_mode
        self.action_space = spaces.Discrete(3)
        self.observation_space = spaces.Dict({
            "image": spaces.Box(0, 255, (self.size, self.size, 3), np.uint8),
            "mission": spaces.Text(64, charset=string.ascii_lowercase + " "),
        })

    def _info(self) -> dict:
        return {"expert_action": self.target} if self.expert else {}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        names = list(COLORS)
        self.order = [names[i] for i in self.np_random.permutation(len(names))[:3]]  # colour of each stripe
        self.target = int(self.np_random.integers(3))
        self.image = np.zeros((self.size, self.size, 3), np.uint8)
        bounds = np.linspace(0, self.size, 4).round().astype(int)
        for k, name in enumerate(self.order):
            self.image[:, bounds[k]:bounds[k + 1]] = COLORS[name]
        self.mission = f"go to the {self.order[self.target]} stripe"
        return {"image": self.image.copy(), "mission": self.mission}, self._info()

    def step(self, action):
        if not self.action_space.contains(action):
            raise ValueError(f"invalid action {action!r}")
        success = int(action) == self.target
        info = {**self._info(), "success": success}
        return {"image": self.image.copy(), "mission": self.mission}, float(success), True, False, info

    def render(self):
        return self.image if self.render_mode == "rgb_array" else None
