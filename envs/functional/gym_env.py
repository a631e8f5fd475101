"""Gymnasium classes over the functional navigation env: ``FuncEnv``, single and vector envs.

``NavFunctional`` is the ``FuncEnv`` (as Gymnasium's ``phys2d`` envs); ``NavJaxEnv`` and
``NavJaxVectorEnv`` are its ``FunctionalJaxEnv`` / ``FunctionalJaxVectorEnv``, with the
CPU envs' truncation and next-step autoreset; the task classes below are what
``vln/GoToObject-jax-v0`` and ``vln/FollowRoute-jax-v0`` make. Their jitted functions take
the params (bank, tables, rewards) as an argument, so ``refill`` swaps in a new bank
without recompiling.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import jax
import jax.numpy as jnp
import jax.random as jrng
import numpy as np
from gymnasium import spaces
from gymnasium.envs.functional_jax_env import FunctionalJaxEnv, FunctionalJaxVectorEnv
from gymnasium.experimental.functional import FuncEnv
from gymnasium.utils import EzPickle, seeding
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from envs.core.constants import ACTION_NAMES, NUM_ACTIONS
from envs.core.mission import check_split
from envs.core.task import Task
from envs.functional import nav
from envs.functional.bank import MISSION_VOCABULARY, EpisodeBank, build_bank
from envs.functional.tables import render_tables
from envs.nav_env import MAX_MISSION_LENGTH, check_action, check_actions
from envs.render.raycast import RaycastRenderer
from envs.tasks.follow_route import FollowRouteTask
from envs.tasks.goto_object import GoToObjectTask

DEFAULT_BANK_SIZE = 1024


class NavFunctional(FuncEnv):
    """The navigation env of a ``Task`` as a ``FuncEnv``: state is an int32 vector (``nav.STATE_SIZE``).

    The methods take ``params`` (``nav.NavParams``), default ``self.default_params``: the
    bank of ``bank_size`` episodes from seeds ``bank_start, bank_start + 1, ...``.
    ``mission_length`` pads the mission token ids; ``tokenize`` replaces the character ids.
    """

    action_space = spaces.Discrete(NUM_ACTIONS)

    def __init__(self, task: Task, split: str = "train", view_size: int = 64, fov_deg: float = 90.0,
                 vfov_deg: float | None = None, max_steps: int | None = None, reward_shaping: bool = False,
                 bank_size: int = DEFAULT_BANK_SIZE, bank_start: int = 0, mission_length: int = MAX_MISSION_LENGTH,
                 tokenize: Callable[[Sequence[str]], np.ndarray] | None = None) -> None:
        check_split(split)
        self.task, self.split = task, split
        self.max_steps = int(max_steps if max_steps is not None else task.default_max_steps)
        if self.max_steps < 1:
            raise ValueError(f"max_steps must be positive, got {max_steps}")
        if bank_size < 1:
            raise ValueError(f"bank_size must be positive, got {bank_size}")
        self.reward_shaping = bool(reward_shaping)
        self.mission_length, self.tokenize = int(mission_length), tokenize
        self.renderer = RaycastRenderer(view_size, view_size, fov_deg, vfov_deg)
        self.tables = render_tables(self.renderer, task.max_grid)
        self.bank = self.build_bank(range(int(bank_start), int(bank_start) + int(bank_size)))
        # Token ids: the character ids, or any int32 id of a caller's tokenizer.
        high = MISSION_VOCABULARY - 1 if tokenize is None else np.iinfo(np.int32).max
        self.observation_space = spaces.Dict({
            "image": spaces.Box(0, 255, (view_size, view_size, 3), np.uint8),
            "mission": spaces.Box(0, high, (self.bank.mission.shape[1],), np.int32),
        })
        super().__init__()

    def build_bank(self, seeds: Sequence[int] | range) -> EpisodeBank:
        """A bank of this env's episodes for ``seeds`` (CPU only: it can run while the device works)."""
        return build_bank(self.task, seeds, self.split, self.mission_length, self.tokenize)

    def load_bank(self, bank: EpisodeBank) -> None:
        """Upload ``bank`` as the default params' bank (one of the same size and mission width
        recompiles nothing)."""
        self.bank = bank
        self.default_params = self.default_params._replace(bank=nav.upload_bank(bank))

    def refill(self, seeds: Sequence[int] | range) -> None:
        """``load_bank(build_bank(seeds))``."""
        self.load_bank(self.build_bank(seeds))

    def get_default_params(self, **kwargs: Any) -> nav.NavParams:
        return nav.make_params(self.bank, self.tables, self.max_steps, self.reward_shaping)

    def _params(self, params: nav.NavParams | None) -> nav.NavParams:
        return self.default_params if params is None else params

    def initial(self, rng: jax.Array, params: nav.NavParams | None = None) -> jax.Array:
        return nav.initial(self._params(params), rng)

    def transition(self, state: jax.Array, action: jax.Array, rng: Any = None,
                   params: nav.NavParams | None = None) -> jax.Array:
        return nav.transition(self._params(params), state, action)

    def observation(self, state: jax.Array, rng: Any = None,
                    params: nav.NavParams | None = None) -> dict[str, jax.Array]:
        return nav.observation(self._params(params), state)

    def reward(self, state: jax.Array, action: jax.Array, next_state: jax.Array, rng: Any = None,
               params: nav.NavParams | None = None) -> jax.Array:
        return nav.reward(self._params(params), state, action, next_state)

    def terminal(self, state: jax.Array, rng: Any = None, params: nav.NavParams | None = None) -> jax.Array:
        return nav.terminal(state)

    def truncation(self, state: jax.Array, params: nav.NavParams | None = None) -> jax.Array:
        return nav.truncation(self._params(params), state)

    def state_info(self, state: jax.Array, params: nav.NavParams | None = None) -> dict:
        return {"expert_action": nav.expert_action(self._params(params), state)}

    def transition_info(self, state: jax.Array, action: jax.Array, next_state: jax.Array,
                        params: nav.NavParams | None = None) -> dict:
        return {"expert_action": nav.expert_action(self._params(params), next_state)}

    def render_init(self, params: nav.NavParams | None = None, **kwargs: Any) -> None:
        return None

    def render_image(self, state: jax.Array, render_state: None, params: nav.NavParams | None = None):
        return render_state, np.asarray(nav.render(self._params(params), state))

    def render_close(self, render_state: None, params: nav.NavParams | None = None) -> None:
        return None


def _reset_one(params: nav.NavParams, key: jax.Array, index: jax.Array, pick: jax.Array):
    state = jnp.where(pick, nav.initial_at(params, index), nav.initial(params, key))
    return state, nav.observation(params, state), nav.expert_action(params, state)


def _step_one(params: nav.NavParams, state: jax.Array, action: jax.Array):
    nxt, rew, term, trunc = nav.step(params, state, action)
    return nxt, nav.observation(params, nxt), rew, term, trunc, nav.expert_action(params, nxt)


def _vector_step(params: nav.NavParams, state: jax.Array, done: jax.Array, actions: jax.Array, key: jax.Array):
    keys = jrng.split(key, state.shape[0])
    nxt, rew, term, trunc = jax.vmap(nav.autoreset_step, in_axes=(None, 0, 0, 0, 0))(params, state, done, actions, keys)
    obs = jax.vmap(nav.observation, in_axes=(None, 0))(params, nxt)
    return nxt, obs, rew, term, trunc, jax.vmap(nav.expert_action, in_axes=(None, 0))(params, nxt)


_reset_jit = jax.jit(_reset_one)
_step_jit = jax.jit(_step_one)
_vector_reset_jit = jax.jit(jax.vmap(_reset_one, in_axes=(None, 0, 0, 0)))
_vector_step_jit = jax.jit(_vector_step)


_DOC_COMMON = """
    ## Action Space
    ``Discrete(4)``: 0 forward (blocked by walls and objects), 1 turn left, 2 turn right, 3 stop.

    ## Observation Space
    ``Dict(image=Box(0, 255, (view_size, view_size, 3), uint8), mission=Box(0, V - 1, (L,), int32))``:
    the CPU env's first-person frame, byte for byte, and the mission as token ids (jax
    arrays): by default character ids (``envs.functional.bank.MISSION_VOCABULARY``, 0 pads;
    ``mission_length`` L = 512), or the ids of ``tokenize``. The strings are in
    ``env.unwrapped.func_env.bank.missions`` (by ``state[nav.IDX]``).

    ## Rewards
    As the CPU env: on a successful STOP ``1 - 0.9 * steps / max_steps``, otherwise 0; with
    ``reward_shaping=True`` also ``0.05`` per cell of progress toward the goal. float32
    (the CPU env's float64 values rounded), float64 with ``jax_enable_x64``.

    ## Starting State
    An episode of the bank, drawn by index from the PRNG key: ``bank_size`` episodes the
    CPU env makes for seeds ``bank_start, bank_start + 1, ...`` (``reset(seed=...)`` seeds the
    key, so the same seed gives the same episode). ``reset(options={"episode": i})``
    starts bank episode ``i``; ``func_env.refill(seeds)`` makes and uploads a new bank.

    ## Episode End
    Terminated on STOP (successful or not); truncated after ``max_steps`` steps without
    one, as the CPU env (not a ``TimeLimit``). ``info["expert_action"]``: the shortest-path
    expert's action from the new state; at an episode's end ``info["success"]`` (the vector
    env: where ``info["_success"]``). No other end-of-episode metrics (use the CPU env for
    evaluation).
"""


class NavJaxEnv(FunctionalJaxEnv, EzPickle):
    """The single functional env over ``NavFunctional`` (see the task classes)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 8, "jax": True, "action_names": ACTION_NAMES}

    def __init__(self, func_env: NavFunctional, render_mode: str | None = None, **ezpickle: Any) -> None:
        EzPickle.__init__(self, render_mode=render_mode, **ezpickle)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}")
        FunctionalJaxEnv.__init__(self, func_env, metadata=self.metadata, render_mode=render_mode)
        self._done = True

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        gym.Env.reset(self, seed=seed)
        if seed is not None:
            self.rng = jrng.PRNGKey(seed)
        key, self.rng = jrng.split(self.rng)
        index = None if options is None else options.get("episode")
        pick = index is not None
        self.state, obs, expert = _reset_jit(self.func_env.default_params, key, jnp.int32(index if pick else 0), pick)
        self._done = False
        return obs, {"expert_action": int(expert)}

    def step(self, action):
        if self._done:
            raise RuntimeError("the episode has ended: call reset() before step()")
        a = jnp.int32(check_action(action))
        self.state, obs, rew, term, trunc, expert = _step_jit(self.func_env.default_params, self.state, a)
        self._done = bool(term) or bool(trunc)
        info: dict[str, Any] = {"expert_action": int(expert)}
        if self._done:
            info["success"] = bool(nav.success(self.func_env.default_params, self.state))
        return obs, float(rew), bool(term), bool(trunc), info


class NavJaxVectorEnv(FunctionalJaxVectorEnv, EzPickle):
    """``num_envs`` functional envs in one jitted step, with the CPU vector env's next-step
    autoreset (an env whose episode ended is reset by the next ``step``, which ignores its
    action and gives reward 0). Observations, rewards, flags and infos are jax arrays."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 8, "jax": True, "action_names": ACTION_NAMES,
                "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, func_env: NavFunctional, num_envs: int = 8, render_mode: str | None = None,
                 **ezpickle: Any) -> None:
        EzPickle.__init__(self, num_envs=num_envs, render_mode=render_mode, **ezpickle)
        if num_envs < 1:
            raise ValueError(f"num_envs must be positive, got {num_envs}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}")
        # Not FunctionalJaxVectorEnv.__init__: it vmaps the FuncEnv's methods in place, and
        # its step truncates by a TimeLimit count; ours runs one jitted function instead.
        self.func_env, self.num_envs, self.render_mode = func_env, int(num_envs), render_mode
        self.single_observation_space = func_env.observation_space
        self.single_action_space = func_env.action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = spaces.MultiDiscrete(np.full(self.num_envs, NUM_ACTIONS))
        self.time_limit = func_env.max_steps
        self.render_state = None
        seed = seeding.np_random()[0].integers(0, 2**32 - 1, dtype="uint32")
        self.rng = jrng.PRNGKey(seed)
        self.prev_done = jnp.zeros(self.num_envs, bool)
        self.state = None

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Reset every env; ``options={"episodes": (num_envs,) ints}`` starts those bank episodes."""
        if seed is not None:
            self.rng = jrng.PRNGKey(seed)
        self._np_random, _ = seeding.np_random(seed)
        key, self.rng = jrng.split(self.rng)
        keys = jrng.split(key, self.num_envs)
        episodes = None if options is None else options.get("episodes")
        pick = jnp.full(self.num_envs, episodes is not None)
        index = jnp.zeros(self.num_envs, jnp.int32) if episodes is None else jnp.asarray(episodes, jnp.int32)
        if index.shape != (self.num_envs,):
            raise ValueError(f"options['episodes'] must have shape ({self.num_envs},), got {index.shape}")
        self.state, obs, expert = _vector_reset_jit(self.func_env.default_params, keys, index, pick)
        self.prev_done = jnp.zeros(self.num_envs, bool)
        return obs, {"expert_action": expert, "_expert_action": np.ones(self.num_envs, bool)}

    def step(self, actions):
        if self.state is None:
            raise RuntimeError("call reset() before step()")
        if not isinstance(actions, jax.Array):  # (a device array is taken as it is: no host round trip)
            actions = check_actions(actions, self.num_envs)
        key, self.rng = jrng.split(self.rng)
        self.state, obs, rew, term, trunc, expert = _vector_step_jit(
            self.func_env.default_params, self.state, self.prev_done, jnp.asarray(actions, jnp.int32), key)
        self.prev_done = term | trunc
        # ``success`` where an episode ended (its ``_success`` mask), as the CPU vector env.
        distance = jax.vmap(nav.distance_to_goal, in_axes=(None, 0))(self.func_env.default_params, self.state)
        success = term & (distance == 0)
        return obs, rew, term, trunc, {"expert_action": expert, "_expert_action": np.ones(self.num_envs, bool),
                                       "success": success, "_success": self.prev_done}

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        frames = jax.vmap(nav.render, in_axes=(None, 0))(self.func_env.default_params, self.state)
        return tuple(np.asarray(frames))

    def close(self, **kwargs: Any) -> None:
        return None


def _goto_task(room_size, num_distractors, max_steps: int, phrasings: str | None) -> GoToObjectTask:
    return GoToObjectTask(room_size, num_distractors, max_steps, phrasings=phrasings)


def _route_task(num_rooms, room_size: int, landmarks_per_room, max_steps: int, lookalikes: float,
                hub_starts: float, phrasings: str | None) -> FollowRouteTask:
    return FollowRouteTask(num_rooms, room_size, landmarks_per_room=landmarks_per_room, max_steps=max_steps,
                           lookalikes=lookalikes, hub_starts=hub_starts, phrasings=phrasings)


_GOTO_DOC = """
    ## Description
    ``vln/GoToObject-v0`` as pure JAX functions (``envs.functional.nav``): one room with a
    target and distractors; the agent must STOP within one cell of the target.
    """ + _DOC_COMMON + """
    ## Arguments
    ``split="train"``, ``room_size=(5, 7)``, ``num_distractors=(1, 5)``, ``max_steps=40``,
    ``phrasings=None``, ``view_size=64``, ``fov_deg=90``, ``vfov_deg=None``, ``reward_shaping=False``,
    ``render_mode=None | "rgb_array"`` (the first-person view), ``bank_size=1024``,
    ``bank_start=0``, ``mission_length=512``, ``tokenize=None``; the vector env also ``num_envs``.
    """

_ROUTE_DOC = """
    ## Description
    ``vln/FollowRoute-v0`` as pure JAX functions (``envs.functional.nav``): rooms joined by
    coloured doors, a route instruction; the agent must STOP within one cell of the goal.
    """ + _DOC_COMMON + """
    ## Arguments
    ``split="train"``, ``num_rooms=(2, 6)``, ``room_size=5``, ``landmarks_per_room=(0, 2)``,
    ``max_steps=150``, ``lookalikes=0.0``, ``hub_starts=0.0``, ``phrasings=None``, ``view_size=64``, ``fov_deg=90``, ``vfov_deg=None``,
    ``reward_shaping=False``, ``render_mode=None | "rgb_array"`` (the first-person view),
    ``bank_size=1024``, ``bank_start=0``, ``mission_length=512``, ``tokenize=None``; the vector
    env also ``num_envs``.
    """


class GoToObjectJaxEnv(NavJaxEnv):
    __doc__ = _GOTO_DOC

    def __init__(self, split: str = "train", room_size=(5, 7), num_distractors=(1, 5), max_steps: int = 40,
                 render_mode: str | None = None, phrasings: str | None = None, **kwargs: Any) -> None:
        func = NavFunctional(_goto_task(room_size, num_distractors, max_steps, phrasings), split, max_steps=max_steps,
                             **kwargs)
        super().__init__(func, render_mode, split=split, room_size=room_size, num_distractors=num_distractors,
                         max_steps=max_steps, phrasings=phrasings, **kwargs)


class GoToObjectJaxVectorEnv(NavJaxVectorEnv):
    __doc__ = _GOTO_DOC

    def __init__(self, num_envs: int = 8, split: str = "train", room_size=(5, 7), num_distractors=(1, 5),
                 max_steps: int = 40, render_mode: str | None = None, phrasings: str | None = None,
                 **kwargs: Any) -> None:
        func = NavFunctional(_goto_task(room_size, num_distractors, max_steps, phrasings), split, max_steps=max_steps,
                             **kwargs)
        super().__init__(func, num_envs, render_mode, split=split, room_size=room_size,
                         num_distractors=num_distractors, max_steps=max_steps, phrasings=phrasings, **kwargs)


class FollowRouteJaxEnv(NavJaxEnv):
    __doc__ = _ROUTE_DOC

    def __init__(self, split: str = "train", num_rooms=(2, 6), room_size: int = 5, landmarks_per_room=(0, 2),
                 max_steps: int = 150, render_mode: str | None = None, lookalikes: float = 0.0,
                 hub_starts: float = 0.0, phrasings: str | None = None, **kwargs: Any) -> None:
        func = NavFunctional(_route_task(num_rooms, room_size, landmarks_per_room, max_steps, lookalikes, hub_starts,
                                         phrasings),
                             split, max_steps=max_steps, **kwargs)
        super().__init__(func, render_mode, split=split, num_rooms=num_rooms, room_size=room_size,
                         landmarks_per_room=landmarks_per_room, max_steps=max_steps, lookalikes=lookalikes,
                         hub_starts=hub_starts, phrasings=phrasings, **kwargs)


class FollowRouteJaxVectorEnv(NavJaxVectorEnv):
    __doc__ = _ROUTE_DOC

    def __init__(self, num_envs: int = 8, split: str = "train", num_rooms=(2, 6), room_size: int = 5,
                 landmarks_per_room=(0, 2), max_steps: int = 150, render_mode: str | None = None,
                 lookalikes: float = 0.0, hub_starts: float = 0.0, phrasings: str | None = None, **kwargs: Any) -> None:
        func = NavFunctional(_route_task(num_rooms, room_size, landmarks_per_room, max_steps, lookalikes, hub_starts,
                                         phrasings),
                             split, max_steps=max_steps, **kwargs)
        super().__init__(func, num_envs, render_mode, split=split, num_rooms=num_rooms, room_size=room_size,
                         landmarks_per_room=landmarks_per_room, max_steps=max_steps, lookalikes=lookalikes,
                         hub_starts=hub_starts, phrasings=phrasings, **kwargs)
