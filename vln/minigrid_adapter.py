"""MiniGrid and BabyAI levels under the vln environment contract.

``vln.environments`` adapts any ``MiniGrid-*`` or ``BabyAI-*`` id (from the ``minigrid``
package) on the fly: ``make_vector_env("BabyAI-GoToRedBallGrey-v0", 8)`` gives a vector env
of ``MiniGridAdapter``-wrapped levels. What the adapter gives:

- ``image``: the agent's partial first-person view as pixels (``RGBImgPartialObsWrapper``),
  ``tile_size`` pixels per cell (default 8: a 7x7 view is 56x56x3 uint8);
- ``mission``: the level's instruction, under a ``gymnasium.spaces.Text`` space (the
  ``direction`` entry of MiniGrid's observation is dropped);
- ``info["success"]`` on the last step: the episode terminated with a positive reward
  (MiniGrid rewards only success);
- ``info["expert_action"]`` on reset and every step, from Minigrid's ``BabyAIBot``, for
  BabyAI levels (those with ``instrs``; plain MiniGrid levels have no bot, so they train
  with REINFORCE only). After every step the bot is told the action the agent actually
  took (``bot.replan(action_taken)``), so it replans from where the agent's own actions
  led, as DAgger needs. Should the bot fail on a state (it raises on a few levels, e.g.
  after a box is opened), a fresh bot is made from the current state; should that fail
  too, the label is "turn left" (a harmless look around) and the next step tries again.
  ``bot_failures`` counts these.

Actions: by default all of MiniGrid's 7 actions as they are (0 left, 1 right, 2 forward,
3 pickup, 4 drop, 5 toggle, 6 done), as in the BabyAI paper; the agent's head adapts to
any count. ``actions="nav"`` restricts them to the navigation subset (left, right,
forward: ``Discrete(3)``), enough for levels that need no object interaction (GoTo
levels in one room, MiniGrid-Empty, ...); a level whose bot asks for another action then
raises a clear error. There is no STOP: MiniGrid ends GoTo episodes on arrival.

MiniGrid levels have no held-out layouts: every episode is drawn from one distribution
by its seed, so the adapted envs take no ``split`` and evaluation runs on seeds disjoint
from training's (``vln.train``'s seed ranges never overlap).
"""

from __future__ import annotations

import contextlib
import io
import string
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

PREFIXES = ("MiniGrid-", "BabyAI-")
ADAPTED_NAMESPACE = "vln-minigrid"
ENTRY_POINT = "vln.minigrid_adapter:make_minigrid_env"
ACTION_NAMES = ("left", "right", "forward", "pickup", "drop", "toggle", "done")
NAV_ACTIONS = (0, 1, 2)
MISSION_CHARSET = string.ascii_letters + string.digits + " ,.;:'-_()!?"
FALLBACK_ACTION = 0  # turn left: the label when the bot cannot advise


def is_minigrid_id(name: str) -> bool:
    """Whether ``name`` names a MiniGrid or BabyAI level (plain or adapted id)."""
    base = name.split("/", 1)[1] if name.startswith(ADAPTED_NAMESPACE + "/") else name
    return base.startswith(PREFIXES)


def adapted_id(name: str) -> str:
    """The registered id of the adapted level ``name`` (registered on first use)."""
    import minigrid  # noqa: F401  (registers the MiniGrid and BabyAI ids)

    base = name.split("/", 1)[1] if name.startswith(ADAPTED_NAMESPACE + "/") else name
    if base not in gym.registry:
        raise ValueError(f"unknown MiniGrid/BabyAI level {base!r} (minigrid {minigrid.__version__} has no such id)")
    env_id = f"{ADAPTED_NAMESPACE}/{base}"
    if env_id not in gym.registry:
        gym.register(id=env_id, entry_point=ENTRY_POINT, kwargs={"level": base}, disable_env_checker=True)
    return env_id


def make_minigrid_env(level: str, tile_size: int = 8, actions: str = "all", expert: bool = True,
                      render_mode: str | None = None, **level_kwargs: Any) -> "MiniGridAdapter":
    """The MiniGrid/BabyAI level ``level`` adapted to the contract.

    ``level_kwargs`` go to the level (e.g. ``max_steps``, ``room_size``, ``num_dists``).
    """
    import minigrid  # noqa: F401

    with contextlib.redirect_stdout(io.StringIO()):
        env = gym.make(level, render_mode=render_mode, disable_env_checker=True, **level_kwargs)
    return MiniGridAdapter(env, tile_size=tile_size, actions=actions, expert=expert)


class MiniGridAdapter(gym.Wrapper):
    """A MiniGrid/BabyAI env with pixel observations, the mission, the bot expert and success.

    Args:
        env: a MiniGrid env (``gym.make("BabyAI-...")``).
        tile_size: pixels per grid cell of the partial view (7 cells: 56x56 at 8).
        actions: "all" (MiniGrid's 7 actions) or "nav" (left, right, forward).
        expert: give ``info["expert_action"]`` from ``BabyAIBot`` where the level has
            instructions (BabyAI levels).
    """

    def __init__(self, env: gym.Env, tile_size: int = 8, actions: str = "all", expert: bool = True) -> None:
        from minigrid.wrappers import RGBImgPartialObsWrapper

        if actions not in ("all", "nav"):
            raise ValueError(f"actions must be 'all' or 'nav', got {actions!r}")
        if int(tile_size) < 1:
            raise ValueError(f"tile_size must be positive, got {tile_size}")
        super().__init__(RGBImgPartialObsWrapper(env, tile_size=int(tile_size)))
        base = self.env.unwrapped
        n = int(base.action_space.n)
        self.action_ids = list(range(n)) if actions == "all" else list(NAV_ACTIONS)
        self.action_space = spaces.Discrete(len(self.action_ids))
        self.action_names = [ACTION_NAMES[a] if a < len(ACTION_NAMES) else str(a) for a in self.action_ids]
        # Declared as the built-in envs do (vln.policies.movement_actions, video labels).
        self.metadata = {**self.env.metadata, "action_names": list(self.action_names)}
        self.observation_space = spaces.Dict({
            "image": self.env.observation_space["image"],
            "mission": spaces.Text(max_length=512, charset=MISSION_CHARSET),
        })
        from minigrid.envs.babyai.core.roomgrid_level import RoomGridLevel

        self.expert = bool(expert) and isinstance(base, RoomGridLevel)  # BabyAI levels: the bot reads their instrs
        self.actions_mode = actions
        self.bot = None
        self.bot_failures = 0
        self._label = FALLBACK_ACTION

    # ------------------------------------------------------------ observation
    def _obs(self, obs: dict[str, Any]) -> dict[str, Any]:
        return {"image": np.asarray(obs["image"], np.uint8), "mission": str(obs["mission"])}

    # ------------------------------------------------------------ the bot
    def _to_index(self, env_action: Any) -> int:
        a = int(env_action)
        if a in self.action_ids:
            return self.action_ids.index(a)
        name = ACTION_NAMES[a] if a < len(ACTION_NAMES) else str(a)
        raise ValueError(f"the level {self.spec_id!r} needs the action {name!r}, which actions='nav' leaves out; "
                         "use actions='all'")

    @property
    def spec_id(self) -> str:
        spec = self.env.unwrapped.spec
        return spec.id if spec is not None else type(self.env.unwrapped).__name__

    def _new_bot(self) -> int:
        from minigrid.utils.baby_ai_bot import BabyAIBot

        self.bot = BabyAIBot(self.env.unwrapped)
        return self.bot.replan()

    def _advise(self, action_taken: int | None) -> int:
        """The bot's label for the current state, told the action the agent took to get here."""
        try:
            if self.bot is None or action_taken is None:
                suggestion = self._new_bot()
            else:
                suggestion = self.bot.replan(action_taken)
        except Exception:  # noqa: BLE001 - the bot gives up on some states: start a fresh one
            self.bot_failures += 1
            try:
                suggestion = self._new_bot()
            except Exception:  # noqa: BLE001
                self.bot = None
                return FALLBACK_ACTION
        return self._to_index(suggestion)

    # ------------------------------------------------------------ gymnasium API
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        with contextlib.redirect_stdout(io.StringIO()):  # BabyAI prints its rejected samples
            obs, info = self.env.reset(seed=seed, options=options)
        info = dict(info)
        self.bot = None
        if self.expert:
            self._label = self._advise(None)
            info["expert_action"] = self._label
        return self._obs(obs), info

    def step(self, action):
        a = int(action)
        if not 0 <= a < len(self.action_ids):
            raise ValueError(f"invalid action {action!r} for Discrete({len(self.action_ids)})")
        env_action = self.action_ids[a]
        obs, reward, terminated, truncated, info = self.env.step(env_action)
        info = dict(info)
        if self.expert:
            if not (terminated or truncated):
                self._label = self._advise(env_action)
            info["expert_action"] = self._label
        if terminated or truncated:
            info["success"] = bool(terminated and reward > 0)
        return self._obs(obs), float(reward), bool(terminated), bool(truncated), info
