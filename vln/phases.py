"""The training phases, one function each, in the order ``vln.train.run`` calls them.

1. ``demonstrations``: the expert's (disturbed) demonstrations, for imitation and for the
   imitation loss mixed into REINFORCE.
2. ``behaviour_cloning``: imitation of the demonstrations.
3. ``dagger``: rounds in which the agent drives and the expert labels; the data aggregates.
4. ``reinforce``: policy-gradient updates on sampled episodes, with the imitation mix.
5. ``evaluate_splits``: greedy held-out evaluation (unseen, then seen layouts).

DAgger and REINFORCE collect the agent's episodes through ``collect``: on the CPU vector env,
or with ``--device-rollout`` on the accelerator (``vln.device_rollout``), the same episodes for
the same seeds. Each phase function returns at once where the run has already completed it (``--resume``),
and ends with ``run.complete(phase, agent)``, which checkpoints. A new phase (PPO, say) is a
function here, called from ``vln.train.run``, with its loss terms in ``vln.objectives``.
"""

from __future__ import annotations

import math
from functools import partial

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from vln.checkpoint import atomic_write_json, kill_point
from vln.collection import Trajectory, run_episodes, run_wave
from vln.config import TrainConfig
from vln.evaluation import evaluate
from vln.objectives import Sample, group_samples, imitation_samples, objective, reinforce_samples
from vln.optimiser import NonFiniteLoss, fit
from vln.policies import AgentPolicy, ExpertPolicy, movement_actions
from vln.run_state import RunState

# Seeds of each phase live in their own range, so phases never share episodes.
IL_SEED, DAGGER_SEED, RL_SEED, VOCAB_SEED, MONITOR_SEED = 0, 10_000_000, 20_000_000, 30_000_000, 40_000_000
EXTRA_SEED = 50_000_000  # the extra env's demonstrations
LOG_EVERY = 25  # imitation minibatches between metrics rows


# ----------------------------------------------------------------------------- shared by the phases
def train(run: RunState, agent, phase: str, samples: list[Sample], epochs: float, batch_size: int,
          learning_rate: Callable[[float], float] | None = None, resumable: bool = False) -> dict[str, float]:
    """``vln.optimiser.fit`` on the run's agent; a NaN/Inf loss stops the run naming the step.

    It ends early on a stop signal or once its phase's time is spent (``run.should_pause``:
    imitation's leaves ``rl_reserve``'s share of the budget to REINFORCE). A ``resumable`` fit (behaviour
    cloning: its data is the same after a resume) is then checkpointed where it stands, and
    continues from that minibatch on ``--resume``; the caller handles the others.
    """
    c = run.counters
    start = c["minibatch"] if resumable else 0
    if resumable:
        run.fit_rng = run.rng.bit_generator.state  # what a checkpoint between minibatches keeps
    try:
        stats = fit(agent, samples, epochs=epochs, batch_size=batch_size, chunk=run.config.chunk,
                    max_words=run.config.max_words, rng=run.rng, on_step=_on_step(run, phase, start, resumable),
                    stop=partial(run.should_pause, imitation=phase != "rl"), learning_rate=learning_rate, start=start,
                    word_dropout=run.config.word_dropout, word_insert=run.config.word_insert,
                    word_insert_end=run.config.word_insert_end,
                    augment=run.augment)
    except NonFiniteLoss as exc:
        raise NonFiniteLoss(f"{exc} in {run.training_now()}, minibatch {exc.update}; training stopped, {run.kept()}") from exc
    if resumable:
        run.stop_here(agent)  # the counters say which minibatches are done
        c["minibatch"], run.fit_rng = 0, None
    return stats


def _on_step(run: RunState, phase: str, count: int = 0, counted: bool = False) -> Callable[[dict[str, float], int], None]:
    def on_step(stats: dict[str, float], frames: int) -> None:
        nonlocal count
        run.counters["train_frames"] += frames
        count += 1
        if counted:
            run.counters["minibatch"] = count
        run.log.progress(phase, stats, run.counters["train_frames"])
        if phase != "rl" and count % LOG_EVERY == 0:
            run.log_row(phase, stats)
        kill_point(f"{phase}-step")
    return on_step


def collect(run: RunState, env, policy: AgentPolicy, seeds: Sequence[int],
            interrupt: Callable[[], None] | None = None) -> list[Trajectory]:
    """The episodes of ``seeds`` (in order) driven by ``policy``: on the device with
    ``--device-rollout`` (``run.device``), else on the CPU vector env ``env``, a ``range`` of
    seeds streamed or in waves (``run_episodes``), other seeds (the group baseline's repeats)
    as one wave. ``interrupt()`` may raise to abandon the collection (a stop signal)."""
    if run.device is not None:
        return run.device.episodes(policy, seeds, interrupt)
    if isinstance(seeds, range):
        return run_episodes(env, policy, len(seeds), seeds.start, interrupt=interrupt)
    return run_wave(env, policy, seeds)


def heldout_success(run: RunState, agent) -> float | None:
    """Greedy success on ``monitor_episodes`` held-out episodes (None when not monitored).

    Unseen layouts where the env has splits; seeds of their own, apart from training's and
    from the final evaluation's.
    """
    config = run.config
    if config.monitor_episodes <= 0:
        return None
    summary, _ = evaluate(agent, config.env, config.monitor_episodes, MONITOR_SEED, None, config.env_kwargs,
                          num_envs=config.num_envs, max_words=config.max_words)
    return float(summary["success_rate"])


def compile_imitation(run: RunState, agent, learning_rate: float | None = None) -> None:
    config = run.config
    agent.compile_for_training(objective(value_coef=0.0, entropy_coef=0.0, progress_coef=config.progress_coef,
                                         target_coef=config.target_coef, goal_coef=config.goal_coef,
                                         focal=config.il_focal),
                               learning_rate=learning_rate or config.lr, clipnorm=config.clipnorm,
                               ema_momentum=config.ema)


def cloning_rate(config) -> Callable[[float], float] | None:
    """Behaviour cloning's learning rate by progress: a cosine from ``lr`` to ``il_lr_final``
    (None: constant ``lr``). Annealed steps reach a lower loss in the same minibatches."""
    if config.il_lr_final <= 0:
        return None
    lo, hi = config.il_lr_final, config.lr
    return lambda progress: lo + 0.5 * (hi - lo) * (1.0 + math.cos(math.pi * progress))


# ----------------------------------------------------------------------------- 1. demonstrations
def demonstrations(run: RunState, env, extra=None) -> tuple[list[Sample], list[Sample]]:
    """(imitation samples, samples for REINFORCE's imitation mix), each [] where no phase left needs it.

    ``extra`` (``--extra-env``'s vector env, or None) adds ``extra_episodes`` of its expert's
    demonstrations to both.

    The same seeds give the same demonstrations, also after ``--resume`` or ``--init``.
    """
    config, c = run.config, run.counters
    mix_demos = config.il_mix > 0 and c["update"] < config.rl_updates
    needed = config.il_episodes > 0 and (
        run.pending("il") or (run.pending("dagger") and c["round"] < config.dagger_rounds) or mix_demos)
    if not needed:
        return [], []
    expert = ExpertPolicy(config.il_noise, movement_actions(env), seed=config.seed)
    # Nothing to checkpoint when stopped here: a resume collects the same episodes from their seeds.
    stop = partial(run.stop_here, during="demonstration collection",
                   why="the demonstrations are collected again from their seeds on --resume")
    progress = config.progress_coef > 0  # the expert's own episodes: their steps' progress is known
    trajs = run_episodes(env, expert, config.il_episodes, IL_SEED, interrupt=stop)
    if extra is not None and config.extra_episodes > 0:
        extra_expert = ExpertPolicy(config.il_noise, movement_actions(extra), seed=config.seed + 1)
        trajs += run_episodes(extra, extra_expert, config.extra_episodes, EXTRA_SEED, interrupt=stop)
    dataset = imitation_samples(trajs, progress=progress)
    mix = imitation_samples([s.traj for s in dataset], weight=config.il_mix, progress=progress) if mix_demos else []
    if run.pending("il") and not c["minibatch"]:  # (a resume part way through cloning counted them)
        c["env_frames"] += sum(len(s.traj) for s in dataset)
    return dataset, mix


# ----------------------------------------------------------------------------- 2. behaviour cloning
def behaviour_cloning(run: RunState, agent, dataset: list[Sample]) -> None:
    if not run.pending("il"):
        return
    config = run.config
    if config.il_episodes > 0:
        compile_imitation(run, agent)
        stats = train(run, agent, "il", dataset, config.il_epochs, config.batch_size, cloning_rate(config),
                      resumable=True)
        agent.use_averaged_weights()  # (with --ema; the checkpoint below keeps the average)
        run.log_row("il", stats, heldout=heldout_success(run, agent))
    run.complete("il", agent)


# ----------------------------------------------------------------------------- 3. DAgger
def dagger(run: RunState, env, agent, dataset: list[Sample]) -> None:
    """Round k: the agent samples, taking the expert's action with probability beta * 0.5**k;
    the expert labels every visited state, and the agent trains on all data so far."""
    if not run.pending("dagger"):
        return
    config, c = run.config, run.counters
    if config.dagger_rounds > 0 and config.il_episodes == 0:
        raise ValueError("DAgger needs imitation data: set --il-episodes > 0 or --dagger-rounds 0")

    # A round stopped part way is redone on resume from the checkpoint at its start: its
    # episodes are the agent's, so a resume could not collect the same ones again.
    stop = partial(run.stop_here, why="DAgger rounds restart from the last finished one on --resume")

    def episodes(k: int):
        policy = AgentPolicy(agent, "sample", beta=config.dagger_beta * 0.5**k, seed=config.seed + k,
                             max_words=config.max_words)
        first = DAGGER_SEED + k * 1_000_000
        return collect(run, env, policy, range(first, first + config.dagger_episodes), interrupt=stop)

    if c["round"] < config.dagger_rounds:
        compile_imitation(run, agent, config.il_lr_final if config.il_lr_final > 0 else None)
        for k in range(c["round"]):  # on resume, earlier rounds' data is re-collected with the restored agent
            dataset += imitation_samples(episodes(k))
    while c["round"] < config.dagger_rounds and not run.out_of_time(imitation=True):
        trajs = episodes(c["round"])
        c["env_frames"] += sum(len(t) for t in trajs)
        fresh = imitation_samples(trajs)
        dataset += fresh
        stats = train(run, agent, "dagger", replayed(run, dataset, len(fresh)), config.dagger_epochs, config.batch_size)
        stop()
        agent.use_averaged_weights()
        c["round"] += 1
        run.log_row("dagger", stats, success_rate=float(np.mean([t.success for t in trajs])),
                    heldout=heldout_success(run, agent))
        run.save_checkpoint(agent)
    run.complete("dagger", agent)


def replayed(run: RunState, dataset: list[Sample], fresh: int) -> list[Sample]:
    """What a DAgger round trains on: its ``fresh`` new samples (the end of ``dataset``) and
    ``--dagger-replay`` earlier ones drawn at random, or all of ``dataset`` where that is 0."""
    replay = run.config.dagger_replay
    if replay == 0:
        return dataset
    older = len(dataset) - fresh
    picks = np.sort(run.rng.choice(older, min(replay, older), replace=False))
    return dataset[older:] + [dataset[i] for i in picks]


# ----------------------------------------------------------------------------- 4. REINFORCE
def reinforce(run: RunState, env, agent, mix: list[Sample]) -> None:
    """``rl_updates`` updates, each on ``num_envs`` sampled episodes plus ``num_envs`` expert
    demonstrations at weight ``il_mix`` (EnvDrop's mixed imitation loss).

    With the value baseline, the first ``rl_value_warmup`` updates fit the value head alone
    (policy-gradient weight 0, no entropy bonus; the head reads stopped features, so the trunk
    is untouched): imitation never trained it, and advantages from an untrained baseline are noise.
    """
    if not run.pending("rl"):
        return
    config, c = run.config, run.counters
    if c["update"] == 0 and config.rl_updates > 0:
        # The imitation agent and its held-out figures, so the run shows what REINFORCE adds
        # (``scripts/compare.py`` can pair the two agents on the same episodes).
        agent.save(run.dir / "agent_before_rl.keras")
        if config.eval_episodes > 0:
            atomic_write_json(run.dir / "eval_before_rl.json", evaluate_splits(agent, config)[0])
    group = config.rl_baseline == "group"
    warmup = 0 if group else config.rl_value_warmup  # the group baseline needs no fitting

    def compile_rl(warming_up: bool) -> None:
        # Imitation's larger learning rate is safe for the warm-up, and fits the baseline in a few updates.
        agent.compile_for_training(objective(value_coef=config.value_coef, entropy_coef=0.0 if warming_up else config.entropy_coef,
                                             progress_coef=config.progress_coef, target_coef=config.target_coef,
                                             goal_coef=config.goal_coef),
                                   learning_rate=config.lr if warming_up else config.rl_lr, clipnorm=config.clipnorm)

    if c["update"] < config.rl_updates:
        compile_rl(c["update"] < warmup)
    while c["update"] < config.rl_updates and not run.out_of_time():
        u = c["update"]
        if u == warmup and u > 0:
            compile_rl(False)
        policy = AgentPolicy(agent, "sample", seed=config.seed * 7919 + u, max_words=config.max_words)
        pg_coef = 0.0 if u < warmup else config.pg_coef
        if group:
            # num_envs / rl_group episodes, each sampled rl_group times side by side.
            seeds = [RL_SEED + u * config.num_envs + i // config.rl_group for i in range(config.num_envs)]
            trajs = collect(run, env, policy, seeds)
            samples = group_samples(trajs, config.rl_group, config.gamma, pg_coef, stop_reward=config.rl_stop_reward)
        else:
            first = RL_SEED + u * config.num_envs
            trajs = collect(run, env, policy, range(first, first + config.num_envs))
            samples = reinforce_samples(trajs, config.gamma, pg_coef, stop_reward=config.rl_stop_reward)
        c["env_frames"] += sum(len(t) for t in trajs)
        if u >= warmup and mix:
            # Expert labels on the agent's own sampled states instead made it worse: off the
            # route those labels are mostly turns and almost never STOP.
            picks = run.rng.choice(len(mix), min(len(mix), config.num_envs), replace=False)
            samples += [mix[i] for i in picks]
        stats = train(run, agent, "rl", samples, 1.0, len(samples))
        c["update"] += 1
        checkpoint = c["update"] % config.checkpoint_every == 0 or c["update"] == config.rl_updates
        run.log_row("rl", stats, success_rate=float(np.mean([t.success for t in trajs])),
                    heldout=heldout_success(run, agent) if checkpoint else None)
        kill_point("rl-update")  # logged, not yet checkpointed
        if checkpoint:
            run.save_checkpoint(agent)
        run.stop_here(None if checkpoint else agent)  # on a stop signal the logged update is checkpointed
    run.complete("rl", agent)


# ----------------------------------------------------------------------------- 5. evaluation
def evaluate_splits(agent, config: TrainConfig) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """Greedy held-out evaluation: (results, {split: per-episode rows}).

    The results hold val-unseen at the top level and val-seen under "seen". An env without
    splits (no ``split`` argument, e.g. MiniGrid levels) is evaluated once, on the evaluation
    seeds (disjoint from training's), reported as split "train" and under "seen" too.
    """
    from vln.environments import has_splits

    rows: dict[str, list[dict[str, Any]]] = {}

    def one(split: str) -> dict[str, Any]:
        summary, rows[split] = evaluate(agent, config.env, config.eval_episodes, config.eval_seed, split,
                                        config.env_kwargs, num_envs=config.num_envs, max_words=config.max_words)
        return summary

    if not has_splits(config.env):
        summary = one("train")
        return {**summary, "split": "train", "seen": dict(summary)}, rows
    unseen, seen = one("unseen"), one("seen")
    return {**unseen, "split": "unseen", "seen": seen}, rows
