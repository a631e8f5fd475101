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

MODES = ("greedy", "sample")


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

    def _wave_fn(self, encode_vars: tuple, step_vars: tuple, params, episodes, key):
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
            if self.beta > 0:
                action = jnp.where(jax.random.uniform(k_mix, (n,)) < self.beta, expert, action)
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

    def collect(self, episodes: Sequence[int] | np.ndarray, key: Any, frames_on_device: bool = False) -> Wave:
        """One wave: bank episode ``episodes[i]`` on env ``i``, run to its end on the device.

        ``frames_on_device``: leave the frames there (``Wave.images`` a jax array, for
        ``update_on_device``); only the small per-step arrays come to the host.
        """
        import jax.numpy as jnp

        def values(model) -> tuple[list, list]:
            return [v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables]

        encode_model, step_model = self.agent.rollout_models()
        index = jnp.asarray(np.asarray(episodes), jnp.int32)
        record, success, distance = self._wave(values(encode_model), values(step_model), self.func_env.default_params,
                                               index, key)
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
