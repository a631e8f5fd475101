"""Rollouts on the accelerator: the agent's step and the functional env in one ``jax.lax.scan``.

With ``KERAS_BACKEND=jax``, ``DeviceRollout`` compiles a whole wave (one episode per env,
as ``vln.collection.run_wave``) into one jitted function, PureJaxRL style: the agent's
instruction encoder runs once, then at each step the functional env
(``envs.functional.nav``) renders the frames, the agent's single step (the models of
``agent.rollout_models()``, called by ``stateless_call`` with the weights as arguments)
gives the logits, the value and the recurrent state, an action is taken (greedy,
sampled, or the expert's with probability ``beta``, DAgger's mixture) and the env steps.
The shortest-path expert's label of every state is a lookup in the bank's distance
table. Nothing leaves the device until the wave ends.

The wave comes back as ``Trajectory`` objects, so training goes through the existing
objectives and optimiser (``reinforce_update``: ``vln.objectives.reinforce_samples``, then
``vln.optimiser.fit``); no loss is written twice. ``device_reinforce_update`` keeps the
frames on the device: only rewards and values come to the host for the same targets, and
the gradient step of the agent's compiled objective runs there
(``DeviceRollout.update_on_device``).

``DeviceEpisodes`` is what a training run with ``--device-rollout`` collects through
(``vln.phases.collect``): the episodes of given seeds, as the CPU vector env gives them,
the bank refilled with each wave's seeds. ``check_device_rollout`` is its up-front check.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vln.batching import minibatch_arrays
from vln.collection import Trajectory
from vln.objectives import Sample, reinforce_samples
from vln.optimiser import NonFiniteLoss, fit
from vln.policies import AgentPolicy

MODES = ("greedy", "sample")

#: The built-in CPU envs and their functional JAX twins (``envs.functional``).
JAX_TWINS = {"vln/GoToObject-v0": "vln/GoToObject-jax-v0", "vln/FollowRoute-v0": "vln/FollowRoute-jax-v0"}
# Arguments of the functional env that the collector sets itself (not --env-kwargs).
_MANAGED = {"num_envs", "split", "render_mode", "bank_size", "bank_start", "mission_length", "tokenize", "task", "kwargs"}


def bank_tokenizer(agent, max_words: int) -> Callable[[Sequence[str]], np.ndarray]:
    """Missions to the agent's token ids, ``max_words`` wide (what ``AgentPolicy`` feeds it):
    the ``tokenize`` of the functional env's bank, so its missions are the agent's input."""
    def tokenize(missions: Sequence[str]) -> np.ndarray:
        return agent.vocab.encode_batch(list(missions), max_len=max_words)
    return tokenize


@dataclass
class Wave:
    """A wave's per-step record, step-major (T, B) on the host; ``alive[t, i]``: step t belongs
    to env i's episode. ``bank_index`` (B,): the bank episode each env ran."""

    bank_index: np.ndarray
    images: Any  # (T, B, H, W, 3) uint8, the frame before each action (a jax array if left on the device)
    actions: np.ndarray
    expert: np.ndarray
    rewards: np.ndarray
    values: np.ndarray
    alive: np.ndarray
    success: np.ndarray  # (B,) bool
    distance: np.ndarray  # (B,) int: cells to the goal region at the end


class DeviceRollout:
    """Compiled waves of ``agent`` on ``func_env`` (an ``envs.functional.gym_env.NavFunctional``
    whose bank holds the agent's token ids: build it with ``tokenize=bank_tokenizer(agent, max_words)``).

    ``collect(episodes, key)`` runs the bank episodes ``episodes`` (one per env) to their
    ends (at most ``func_env.max_steps`` steps) and returns a ``Wave``; ``trajectories``
    cuts it into ``Trajectory`` objects. The agent's current weights are read at each call.
    """

    def __init__(self, agent, func_env, mode: str = "sample", beta: float = 0.0) -> None:
        import keras

        if keras.backend.backend() != "jax":
            raise ValueError(f"device rollouts need the JAX backend (KERAS_BACKEND=jax), not {keras.backend.backend()}")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.agent, self.func_env, self.mode, self.beta = agent, func_env, mode, float(beta)
        import jax

        self._wave = jax.jit(self._wave_fn)
        self._updates: dict[tuple[int, int], Any] = {}

    def _wave_fn(self, encode_vars: tuple, step_vars: tuple, params, episodes, key, beta):
        import jax
        import jax.numpy as jnp

        from envs.functional import nav

        agent, steps = self.agent, nav.max_steps_of(params)
        encode_model, step_model = agent.rollout_models()
        n = episodes.shape[0]
        render = jax.vmap(nav.render, in_axes=(None, 0))
        step = jax.vmap(nav.step, in_axes=(None, 0, 0))
        expert_of = jax.vmap(nav.expert_action, in_axes=(None, 0))
        # The instruction is encoded once per wave, as ``AgentPolicy.begin`` does.
        enc, _ = encode_model.stateless_call(*encode_vars, params.bank.mission[episodes])

        def body(carry, key):
            state, h, c, prev, alive = carry
            frames = render(params, state)
            out, _ = step_model.stateless_call(*step_vars, {
                "words": enc["words"], "mask": enc["mask"], "summary": enc["summary"], "image": frames,
                "prev_action": prev, "state_h": h, "state_c": c})
            logits, value = out["logits"], out["value"]
            k_act, k_mix = jax.random.split(key)
            action = jnp.argmax(logits, axis=-1) if self.mode == "greedy" else jax.random.categorical(k_act, logits)
            expert = expert_of(params, state)
            # beta is traced, so one compiled wave serves every DAgger round (at 0 it never mixes).
            action = jnp.where(jax.random.uniform(k_mix, (n,)) < beta, expert, action)
            action = action.astype(jnp.int32)
            nxt, reward, term, trunc = step(params, state, action)
            nxt = jnp.where(alive[:, None], nxt, state)  # an ended episode stays where it ended
            record = (frames, action, expert, reward, jnp.reshape(value, (n,)), alive)
            return (nxt, out["state_h"], out["state_c"], action, alive & ~(term | trunc)), record

        state = jax.vmap(nav.initial_at, in_axes=(None, 0))(params, episodes)
        zeros = jnp.zeros((n, agent.config.hidden), jnp.float32)
        init = (state, zeros, zeros, jnp.full((n,), agent.config.num_actions, jnp.int32), jnp.ones((n,), bool))
        (state, *_), record = jax.lax.scan(body, init, jax.random.split(key, steps))
        success = jax.vmap(nav.success, in_axes=(None, 0))(params, state)
        distance = jax.vmap(nav.distance_to_goal, in_axes=(None, 0))(params, state)
        return record, success, distance

    def collect(self, episodes: Sequence[int] | np.ndarray, key: Any, frames_on_device: bool = False,
                beta: float | None = None) -> Wave:
        """One wave: bank episode ``episodes[i]`` on env ``i``, run to its end on the device.

        ``frames_on_device``: leave the frames there (``Wave.images`` a jax array, for
        ``update_on_device``); only the small per-step arrays come to the host. ``beta``: the
        expert's share of this wave's actions (default: the rollout's own ``beta``).
        """
        import jax.numpy as jnp

        def values(model) -> tuple[list, list]:
            return [v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables]

        encode_model, step_model = self.agent.rollout_models()
        index = jnp.asarray(np.asarray(episodes), jnp.int32)
        beta = self.beta if beta is None else float(beta)
        record, success, distance = self._wave(values(encode_model), values(step_model), self.func_env.default_params,
                                               index, key, jnp.float32(beta))
        frames, *small = record
        actions, expert, rewards, values_, alive = (np.asarray(a) for a in small)
        images = frames if frames_on_device else np.asarray(frames)
        return Wave(np.asarray(index), images, actions, expert, rewards, values_, alive, np.asarray(success),
                    np.asarray(distance))

    def trajectories(self, wave: Wave) -> list[Trajectory]:
        """The wave's episodes as ``vln.collection.Trajectory`` (the end info: ``success``,
        ``distance_to_goal``, ``episode_steps``; the rest needs the CPU env). Where the
        frames stayed on the device, ``images`` are (T, 0, 0, 3) placeholders."""
        bank = self.func_env.bank
        on_device = not isinstance(wave.images, np.ndarray)
        out = []
        for i, k in enumerate(wave.bank_index.tolist()):
            t = int(wave.alive[:, i].sum())  # a prefix: alive until the episode ends
            info = {"success": bool(wave.success[i]), "distance_to_goal": float(wave.distance[i]), "episode_steps": t}
            images = np.zeros((t, 0, 0, 3), np.uint8) if on_device else wave.images[:t, i].copy()
            out.append(Trajectory(
                mission=bank.missions[k], seed=int(bank.seed[k]), images=images,
                actions=wave.actions[:t, i].astype(np.int64), expert=wave.expert[:t, i].astype(np.int64),
                rewards=wave.rewards[:t, i].astype(np.float64), values=wave.values[:t, i].astype(np.float64), info=info))
        return out


    def update_on_device(self, samples: Sequence[Sample], frames: Any, max_words: int) -> dict[str, float]:
        """One gradient step of the agent's compiled objective on a wave whose frames stayed on
        the device (``collect(..., frames_on_device=True)``), its episodes whole (one BPTT chunk).

        ``samples``: the wave's episodes in env order with their targets (say,
        ``reinforce_samples(trajectories(wave), gamma)``), laid out by
        ``vln.batching.minibatch_arrays`` as ``fit`` lays them out, the frames taken from
        ``frames`` (T, B, H, W, 3). The loss is ``agent.objective`` (``vln.objectives.loss_terms``),
        differentiated through ``agent.stateless_call`` and applied by the agent's optimiser
        (``stateless_apply``, its clipping included). Returns the loss terms before the step.
        """
        import jax
        import jax.numpy as jnp

        agent = self.agent
        if agent.optimizer is None or agent.objective is None:
            raise RuntimeError("call agent.compile_for_training() before update_on_device()")
        steps, n = frames.shape[:2]
        if len(samples) != n:
            raise ValueError(f"{len(samples)} samples for a wave of {n} envs")
        feed = minibatch_arrays(agent, samples, chunk=steps, max_words=max_words, pad_to=steps)
        x = {"tokens": feed["tokens"], "images": jnp.swapaxes(frames, 0, 1), "prev_actions": feed["prev_actions"],
             **agent.initial_state(n)}
        y = {key: feed[key] for key in ("actions", "weights", "mask", "returns", "value_mask", "progress",
                                         "progress_mask", "word_pos")}
        if not agent.optimizer.built:
            agent.optimizer.build(agent.trainable_variables)
        key = (id(agent.optimizer), id(agent.objective))
        if key not in self._updates:  # compiled once per optimiser and objective
            self._updates[key] = jax.jit(self._update_fn)
        trainable, non_trainable, optimizer, terms = self._updates[key](
            [v.value for v in agent.trainable_variables], [v.value for v in agent.non_trainable_variables],
            [v.value for v in agent.optimizer.variables], x, y)
        for variables, values in ((agent.trainable_variables, trainable), (agent.non_trainable_variables, non_trainable),
                                  (agent.optimizer.variables, optimizer)):
            for var, value in zip(variables, values):
                var.assign(value)
        stats = {k: float(v) for k, v in terms.items()}
        if not np.isfinite(stats["loss"]):  # as fit: stop at once (the step is applied)
            raise NonFiniteLoss(f"the loss is {stats['loss']}")
        return stats

    def _update_fn(self, trainable: list, non_trainable: list, optimizer: list, x: dict, y: dict):
        import jax

        agent = self.agent

        def loss(trainable):
            y_pred, new_non_trainable = agent.stateless_call(trainable, non_trainable, x, training=True)
            terms = agent.objective(y, y_pred)
            return terms["loss"], (terms, new_non_trainable)

        (_, (terms, new_non_trainable)), grads = jax.value_and_grad(loss, has_aux=True)(trainable)
        new_trainable, new_optimizer = agent.optimizer.stateless_apply(optimizer, grads, trainable)
        terms = {k: terms[k] for k in ("loss", "policy_loss", "value_loss", "entropy")}
        return new_trainable, new_non_trainable, new_optimizer, terms


def device_reinforce_update(agent, rollout: DeviceRollout, episodes: Sequence[int] | np.ndarray, key: Any, *,
                            gamma: float, max_words: int, pg_coef: float = 1.0) -> tuple[list[Trajectory], dict[str, float]]:
    """One REINFORCE update with the frames kept on the device: the wave's rewards and values
    come to the host for the targets (``vln.objectives.reinforce_samples``), and the step is
    ``DeviceRollout.update_on_device``. Returns the trajectories (placeholder images) and the loss terms."""
    wave = rollout.collect(episodes, key, frames_on_device=True)
    trajs = rollout.trajectories(wave)
    return trajs, rollout.update_on_device(reinforce_samples(trajs, gamma, pg_coef), wave.images, max_words)


def reinforce_update(agent, rollout: DeviceRollout, episodes: Sequence[int] | np.ndarray, key: Any, *, gamma: float,
                     batch_size: int, chunk: int, max_words: int, rng: np.random.Generator,
                     pg_coef: float = 1.0) -> tuple[list[Trajectory], dict[str, float]]:
    """One REINFORCE update from a device wave: the existing targets (``reinforce_samples``)
    and minibatch loop (``fit``) on the agent's compiled objective. Returns the wave's
    trajectories and the loss terms."""
    trajs = rollout.trajectories(rollout.collect(episodes, key))
    stats = fit(agent, reinforce_samples(trajs, gamma, pg_coef), epochs=1.0, batch_size=batch_size, chunk=chunk,
                max_words=max_words, rng=rng)
    return trajs, stats


# ----------------------------------------------------------------------------- training runs (--device-rollout)
def functional_env_kwargs(env: str, env_kwargs: dict[str, Any]) -> dict[str, Any]:
    """``env_kwargs`` of the CPU env ``env`` as its ``-jax-v0`` twin takes them; a ``ValueError``
    naming ``--device-rollout`` where there is no twin or an argument it cannot take (imports jax)."""
    import importlib
    import inspect

    import gymnasium as gym

    import envs  # noqa: F401  (registers the ids)

    if env not in JAX_TWINS:
        raise ValueError(f"--device-rollout needs a built-in env with a -jax-v0 twin ({', '.join(JAX_TWINS)}), "
                         f"not {env!r}")
    from envs.functional.gym_env import NavFunctional

    module, _, name = str(gym.spec(JAX_TWINS[env]).vector_entry_point).partition(":")
    twin = getattr(importlib.import_module(module), name)
    # The twin's own arguments and those it hands to NavFunctional (view_size, reward_shaping, ...).
    takes = (set(inspect.signature(twin).parameters) | set(inspect.signature(NavFunctional).parameters)) - _MANAGED
    kwargs = dict(env_kwargs)
    expert = kwargs.pop("expert", "shortest")
    if expert != "shortest":
        raise ValueError(f"--device-rollout: the functional JAX env has only the shortest-path expert, not "
                         f"--env-kwargs expert={expert!r} (use it without --device-rollout)")
    unknown = sorted(set(kwargs) - takes)
    if unknown:
        raise ValueError(f"--device-rollout: the functional JAX env takes no --env-kwargs {', '.join(unknown)} "
                         f"(it takes {', '.join(sorted(takes))})")
    return kwargs


def check_device_rollout(config) -> None:
    """Whether a run with ``config`` (a ``vln.config.TrainConfig``) can collect on the device:
    a ``ValueError`` naming ``--device-rollout`` otherwise. Checked before a run writes anything."""
    functional_env_kwargs(config.env, config.training_env_kwargs())
    import keras

    if keras.backend.backend() != "jax":
        raise ValueError(f"--device-rollout needs the JAX backend (KERAS_BACKEND=jax), not {keras.backend.backend()}")
    if config.data_parallel:  # the waves run on one device; their inputs are not sharded
        raise ValueError("--device-rollout runs its waves on one device: use it without --data-parallel")


class DeviceEpisodes:
    """The agent's episodes of given seeds on the device, the ones the CPU vector env gives for them.

    The functional twin of ``env`` (with ``env_kwargs`` and ``split``) holds a bank of
    ``num_envs`` episodes; each wave of ``num_envs`` seeds refills it with their episodes
    (same shapes: nothing recompiles) and runs them in one ``DeviceRollout.collect``.
    """

    def __init__(self, agent, env: str, env_kwargs: dict[str, Any], num_envs: int, max_words: int,
                 split: str = "train") -> None:
        import gymnasium as gym

        kwargs = functional_env_kwargs(env, env_kwargs)
        venv = gym.make_vec(JAX_TWINS[env], num_envs=num_envs, vectorization_mode="vector_entry_point", split=split,
                            bank_size=num_envs, tokenize=bank_tokenizer(agent, max_words), **kwargs)
        self.agent, self.func_env, self.num_envs = agent, venv.func_env, int(num_envs)
        self._rollouts: dict[str, DeviceRollout] = {}

    def episodes(self, policy: AgentPolicy, seeds: Sequence[int],
                 interrupt: Callable[[], None] | None = None) -> list[Trajectory]:
        """The episodes of ``seeds`` (in order, repeats allowed) driven as ``policy`` says (its
        ``mode`` and ``beta``; its RNG draws each wave's PRNG key), in waves of ``num_envs``.
        ``interrupt()`` is called before each wave, as ``vln.collection.run_episodes`` does."""
        import jax

        if policy.agent is not self.agent:
            raise ValueError("the policy drives another agent than the device rollout's")
        if policy.mode not in self._rollouts:  # the mode is compiled in; beta is an argument
            self._rollouts[policy.mode] = DeviceRollout(self.agent, self.func_env, mode=policy.mode)
        rollout, n, seeds = self._rollouts[policy.mode], self.num_envs, [int(s) for s in seeds]
        out: list[Trajectory] = []
        for start in range(0, len(seeds), n):
            if interrupt is not None:
                interrupt()
            wave = seeds[start:start + n]
            keep = len(wave)
            self.func_env.refill(wave + [wave[-1]] * (n - keep))  # a full bank: the same shapes
            key = jax.random.PRNGKey(int(policy.rng.integers(2**31)))
            out.extend(rollout.trajectories(rollout.collect(np.arange(n), key, beta=policy.beta))[:keep])
        return out
