"""The training run: imitation (behaviour cloning, then DAgger), then REINFORCE, then evaluation.

``run(config)`` makes the env, starts (or resumes) the run and its agent, calls the phases of
``vln.phases`` in order, and writes the run folder. ``resume=True`` continues a killed run from
its last checkpoint (``vln.run_state``). SIGTERM or SIGINT stops it at the next safe point,
checkpointed, with ``vln.preemption.Stopped``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from vln import phases
from vln.checkpoint import atomic_write_json, atomic_write_text, check_writable, load_checkpoint, read_state
from vln.collection import sample_missions
from vln.config import TrainConfig
from vln.environments import draws_flat_colours, make_vector_env
from vln.evaluation import run_episodes_file, write_episode_rows
from vln.preemption import stop_on_signals
from vln.run_log import write_curves
from vln.run_state import RunState


def run(config: TrainConfig, resume: bool = False, progress: bool = True) -> dict[str, Any]:
    """Train (and evaluate) as ``config`` says; returns the evaluation results."""
    out = Path(config.out)
    config.check()  # again: fields may have been set after the config was made
    state = read_state(out) if resume else None
    if resume and state is None and not (out / "config.json").exists():
        raise ValueError(f"--resume: no run in {out} to continue (start the run without --resume)")
    if not resume and any((out / "checkpoint" / name).exists() for name in ("agent.keras", "state.json")):
        raise ValueError(f"{out} already holds a run: pass --resume to continue it, or choose another --out")
    # A run folder may have been moved since: its own location is not an option to compare.
    # Nor is whether it writes a report: that changes no result.
    if resume and dataclasses.replace(TrainConfig.load(out / "config.json"), out=config.out,
                                      report=config.report) != config:
        raise ValueError(f"--resume: the options differ from the run's config.json in {out}")
    if config.colour_swap > 0 and not draws_flat_colours(config.env):
        raise ValueError(f"--colour-swap needs one of the built-in envs (their six flat colours); {config.env} is not one")
    if config.device_rollout:  # (imports jax: only with the flag)
        from vln.device_rollout import check_device_rollout

        check_device_rollout(config)
    # The env contract is checked before anything is written: every violation in one error,
    # and imitation (BC, DAgger, or the demonstrations mixed into REINFORCE) needs the env's expert.
    # (Made before Keras builds anything: env worker processes are forked from a process
    # whose JAX / TensorFlow runtime has not started its threads yet.)
    imitation = (not config.init_agent and config.dagger_rounds > 0) or config.il_episodes > 0 and (
        not config.init_agent or (config.il_mix > 0 and config.rl_updates > 0))
    env = make_vector_env(config.env, config.num_envs, "train", config.training_env_kwargs(), imitation=imitation,
                          workers=config.env_workers)
    extra = None
    try:
        if config.extra_env and imitation:
            extra = make_extra_env(config, env)
        for flag, key in (("target", "target_view"), ("goal", "goal_view")):
            if getattr(config, f"{flag}_coef") > 0 and key not in env.reset(seed=config.seed)[1]:
                raise ValueError(f'--{flag}-coef needs the env\'s info["{key}"]; the built-in envs give it with '
                                 '"expert": "in_view" or "scanning" in --env-kwargs')
        # SIGTERM / SIGINT stop the run at its next safe point, checkpointed (vln.preemption).
        with compute_precision(config.mixed_precision), stop_on_signals(), data_parallel(config):
            return _train(config, env, extra, state, progress)
    finally:
        env.close()
        if extra is not None:
            extra.close()


def actions_and_frames(env) -> tuple[int, tuple[int, ...]]:
    """A vector env's number of actions and the shape of one frame."""
    return int(env.single_action_space.n), tuple(int(d) for d in env.single_observation_space["image"].shape)


def make_extra_env(config: TrainConfig, env):
    """``config.extra_env``'s training vector env, checked to share ``env``'s actions and frames."""
    extra = make_vector_env(config.extra_env, config.num_envs, "train", config.extra_env_kwargs, imitation=True)
    (actions, frames), (extra_actions, extra_frames) = actions_and_frames(env), actions_and_frames(extra)
    if (actions, frames) != (extra_actions, extra_frames):
        extra.close()
        raise ValueError(f"--extra-env {config.extra_env} has {extra_actions} actions and frames {extra_frames}; "
                         f"--env has {actions} and {frames}")
    return extra


def _train(config: TrainConfig, env, extra, state: dict[str, Any] | None, progress: bool) -> dict[str, Any]:
    import keras

    check_writable(config.out)  # an unwritable --out fails now, not at the first checkpoint
    keras.utils.set_random_seed(config.seed)
    run = RunState(config, progress)
    try:
        agent = start(run, env, extra, state)
        if config.colour_swap > 0:
            from vln.augmentation import ColourSwap

            run.augment = ColourSwap(agent.vocab, config.colour_swap)
        if config.device_rollout and not run.pending("done"):
            from vln.device_rollout import DeviceEpisodes

            # Once per run (max_words is known now); each collection refills its bank.
            run.device = DeviceEpisodes(agent, config.env, config.training_env_kwargs(), config.num_envs,
                                        config.max_words)
        dataset, mix = phases.demonstrations(run, env, extra)
        phases.behaviour_cloning(run, agent, dataset)
        phases.dagger(run, env, agent, dataset)
        del dataset
        phases.reinforce(run, env, agent, mix)
        run.stop_here(during="the evaluation", why="training is done; --resume evaluates the trained agent")
        return finish(run, agent)
    finally:
        run.close()


def start(run: RunState, env, extra, state: dict[str, Any] | None):
    """The run's agent: restored from its checkpoint, loaded with ``--init``, or new."""
    config, out = run.config, run.dir
    if state is None:
        # A new run, or one killed before its first checkpoint: (re)start from scratch,
        # dropping what a killed attempt logged.
        for name in ("metrics.csv", "eval_before_rl.json", "agent_before_rl.keras"):
            (out / name).unlink(missing_ok=True)
    if state is not None:
        from agents import load_agent

        agent = load_agent(out / "checkpoint" / "agent.keras")
        run.restore(state)
    elif config.init_agent:
        # Start from a trained agent (e.g. an imitation run's): no imitation phase here.
        agent, saved_words = load_init_agent(config, env)
        if config.max_words == 0:
            config.max_words = saved_words or default_max_words(sample_missions(env, 2000, phases.VOCAB_SEED))
        atomic_write_text(out / "config.json", config.to_json())
        run.skip_to("rl")
    else:
        missions = sample_missions(env, 2000, phases.VOCAB_SEED)
        if extra is not None:  # its words join the vocabulary
            missions += sample_missions(extra, 2000, phases.VOCAB_SEED)
        if config.max_words == 0:
            config.max_words = default_max_words(missions)
        atomic_write_text(out / "config.json", config.to_json())
        agent = build_agent(config, env, missions)
    return agent


def finish(run: RunState, agent) -> dict[str, Any]:
    """The run folder's outputs: agent.keras, eval.json and its per-episode CSVs, curves.png, a
    sample rollout.mp4 and report.html."""
    config, out = run.config, run.dir
    agent.save(out / "agent.keras")
    results: dict[str, Any] = {}
    train_time = run.elapsed()
    if config.eval_episodes > 0:
        evaluation, rows = phases.evaluate_splits(agent, config)
        results = {**evaluation, "env": config.env, "train_time_s": round(train_time, 1),
                   "wall_time_s": round(run.elapsed(), 1),
                   "train_frames": run.counters["train_frames"], "env_frames": run.counters["env_frames"]}
        if (out / "eval_before_rl.json").exists():
            results["before_rl"] = json.loads((out / "eval_before_rl.json").read_text())
        for split, split_rows in rows.items():
            write_episode_rows(out / run_episodes_file(split), split_rows)
        atomic_write_json(out / "eval.json", results)
        run.log.evaluation(results, run.counters["train_frames"])
    write_curves(out)
    try:
        from vln.recording import write_sample_video

        write_sample_video(agent, config.env, config.env_kwargs, out / "rollout.mp4", seed=config.eval_seed,
                           max_words=config.max_words)
    except Exception as exc:  # a sample video must never cost a finished run
        warnings.warn(f"no rollout.mp4: {exc}")
    if config.report:
        try:
            from vln.report import write_run_report

            write_run_report(out, agent=agent)
        except Exception as exc:  # nor may the report
            warnings.warn(f"no report.html: {exc}")
    return results


@contextlib.contextmanager
def data_parallel(config: TrainConfig):
    """Inside the block, where ``config.data_parallel``: Keras's distribution is data parallelism
    over every local device (JAX only); the agent is built inside, so its weights are replicated.

    Each minibatch of ``train_on_batch`` is split along its batch axis over the devices and the
    gradients are summed across them, so a step is one device's step on the whole batch. Many
    hosts run the same code after ``jax.distributed.initialize()`` (docs/gpu.md).
    """
    if not config.data_parallel:
        yield
        return
    import keras

    if keras.backend.backend() != "jax":
        raise ValueError(f"--data-parallel needs the JAX backend (KERAS_BACKEND=jax), not {keras.backend.backend()}")
    devices = keras.distribution.list_devices()
    n = len(devices)
    for flag, value in (("--batch-size", config.batch_size), ("--num-envs", config.num_envs)):
        if value % n:  # (REINFORCE's minibatches are num_envs episodes, or twice that with --il-mix)
            raise ValueError(f"--data-parallel: {flag} ({value}) must divide by the {n} local devices")
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    try:
        yield
    finally:
        keras.distribution.set_distribution(None)


@contextlib.contextmanager
def compute_precision(mixed: bool):
    """Keras's global dtype policy "mixed_bfloat16" inside the block when ``mixed``, restored after.

    Layers take the policy when they are built, so the agent built or loaded inside computes
    in bfloat16 with float32 weights; a saved agent loads in whatever policy is in force.
    """
    import keras

    before = keras.mixed_precision.global_policy()
    if mixed:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(before)


def build_agent(config: TrainConfig, env, missions: list[str]):
    """A new agent sized by ``config``, its vocabulary built from ``missions``."""
    from agents import AgentConfig, VLNAgent, Vocabulary
    from envs.core.in_view_expert import TARGET_VIEWS

    vocab = Vocabulary.build(missions)
    actions, image_shape = actions_and_frames(env)
    agent_config = AgentConfig(vocab_size=len(vocab), num_actions=actions, image_shape=image_shape,
                               hidden=config.hidden, rnn=config.rnn, bidirectional=config.bidirectional,
                               text_hidden=config.text_hidden, visual_stem=config.visual_stem,
                               step_film=config.step_film, pool_heads=config.pool_heads,
                               film_last_word=config.film_last_word, goal_pool=config.goal_pool, door_pool=config.door_pool,
                               visual_max_pool=config.visual_max_pool,
                               visual_attention=config.visual_attention,
                               target_classes=len(TARGET_VIEWS) if config.target_coef > 0 else 0,
                               goal_classes=len(TARGET_VIEWS) if config.goal_coef > 0 else 0)
    return VLNAgent(agent_config, vocab)


def default_max_words(missions: list[str]) -> int:
    """Instruction length in tokens: the longest mission plus a margin, rounded up to 8."""
    longest = max(len(m.split()) for m in missions)
    return int(np.ceil((longest + 4) / 8) * 8)


def load_init_agent(config: TrainConfig, env):
    """``config.init_agent`` (agent.keras or a run folder) and its run's max_words (or None),
    checked against the env's actions and frames."""
    agent, max_words = load_checkpoint(config.init_agent)
    actions, image_shape = actions_and_frames(env)
    if agent.config.num_actions != actions or tuple(agent.config.image_shape) != image_shape:
        raise ValueError(f"--init {config.init_agent}: the agent has {agent.config.num_actions} actions and frames "
                         f"{tuple(agent.config.image_shape)}, the env {actions} and {image_shape}")
    for flag in ("target", "goal"):
        if getattr(config, f"{flag}_coef") > 0 and not getattr(agent.config, f"{flag}_classes"):
            raise ValueError(f"--init {config.init_agent}: the agent has no {flag} head, so --{flag}-coef must be 0")
    return agent, max_words
