"""The training run: imitation (behaviour cloning, then DAgger), then REINFORCE, then evaluation.

Reads top to bottom: ``run(config)`` builds the env and the agent, runs each phase for its
budget, checkpoints atomically after every phase step, and writes the run folder.
``resume=True`` continues a killed run from its last checkpoint.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import os
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from vln.checkpoint import atomic_write_json, atomic_write_text, kill_point, read_state, write_checkpoint
from vln.collect import AgentPolicy, ExpertPolicy, movement_actions, run_episodes, run_wave, sample_missions
from vln.config import TrainConfig
from vln.environments import make_vector_env as make_env
from vln.evaluation import evaluate
from vln.sequences import NonFiniteLoss, group_samples, imitation_samples, reinforce_samples, train_samples
from vln.tokenizer import Vocabulary

METRIC_FIELDS = ("phase", "step", "env_frames", "train_frames", "loss", "policy_loss", "value_loss", "entropy",
                 "success_rate", "wall_time")
# Seeds of each phase live in their own range, so phases never share episodes.
_IL_SEED, _DAGGER_SEED, _RL_SEED, _VOCAB_SEED = 0, 10_000_000, 20_000_000, 30_000_000


class Run:
    """State of one training run (what a checkpoint saves)."""

    def __init__(self, config: TrainConfig, progress: bool = True) -> None:
        self.config = config
        self.dir = Path(config.out)
        self.ckpt_dir = self.dir / "checkpoint"
        self.counters = {"phase": "il", "round": 0, "update": 0, "env_frames": 0, "train_frames": 0, "metrics_rows": 0,
                         "wall_time": 0.0}
        self.rng = np.random.default_rng(config.seed)
        self.progress = progress
        self.started = time.time()
        self.bar = None
        self.last_saved = ""  # what the checkpoint on disk holds, for error messages

    # ------------------------------------------------------------ logging
    def log(self, phase: str, stats: dict[str, float], success_rate: float | None = None) -> None:
        row = {"phase": phase, "step": self.counters["update"] if phase == "rl" else self.counters["round"],
               "env_frames": self.counters["env_frames"], "train_frames": self.counters["train_frames"],
               "loss": stats.get("loss", ""), "policy_loss": stats.get("policy_loss", ""),
               "value_loss": stats.get("value_loss", ""), "entropy": stats.get("entropy", ""),
               "success_rate": "" if success_rate is None else success_rate, "wall_time": round(self.elapsed(), 2)}
        path = self.dir / "metrics.csv"
        new = not path.exists() or path.stat().st_size == 0  # a resume may leave it empty
        with open(path, "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=METRIC_FIELDS)
            if new:
                writer.writeheader()
            writer.writerow(row)
        self.counters["metrics_rows"] += 1
        if self.bar is not None:
            self.bar.set_postfix_str(
                f"{phase} frames={self.counters['train_frames']} loss={stats.get('loss', float('nan')):.3f}"
                + ("" if success_rate is None else f" sr={success_rate:.2f}")
            )

    def elapsed(self) -> float:
        return self.counters["wall_time"] + (time.time() - self.started)

    def out_of_time(self) -> bool:
        """Whether the run's training time budget (``time_budget_s``, 0: none) is spent."""
        return 0 < self.config.time_budget_s <= self.elapsed()

    # ------------------------------------------------------------ checkpoint
    def training_now(self) -> str:
        """The step being trained, for error messages."""
        c = self.counters
        return {"il": "behaviour cloning", "dagger": f"DAgger round {c['round'] + 1}",
                "rl": f"REINFORCE update {c['update'] + 1}"}.get(c["phase"], "the end")

    def saved_after(self) -> str:
        """What the counters say is done (so what a checkpoint of them holds)."""
        c = self.counters
        if c["phase"] == "dagger" or (c["phase"] == "rl" and c["update"] == 0):
            return f"DAgger round {c['round']}" if c["round"] else "behaviour cloning"
        return f"REINFORCE update {c['update']}" if c["phase"] in ("rl", "done") else "nothing"

    def kept(self) -> str:
        if not self.last_saved:
            return "no checkpoint was written yet"
        return f"{self.ckpt_dir} keeps the last good checkpoint (after {self.last_saved})"

    def save_checkpoint(self, agent) -> None:
        # Never replace the last good checkpoint with broken weights.
        if not all(np.isfinite(w).all() for w in agent.get_weights()):
            raise NonFiniteLoss(f"the weights hold NaN or Inf after {self.saved_after()}; training stopped, {self.kept()}")
        state = dict(self.counters, wall_time=self.elapsed(), rng=self.rng.bit_generator.state)
        write_checkpoint(agent, self.ckpt_dir, state)
        self.last_saved = self.saved_after()

    def restore(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state.pop("rng")
        self.counters.update(state)
        self.started = time.time()
        self.last_saved = self.saved_after()
        for stale in self.ckpt_dir.glob(".*.keras"):  # temp files of a save the kill interrupted
            stale.unlink(missing_ok=True)
        # Rows logged after the checkpoint are redone: drop them.
        path = self.dir / "metrics.csv"
        if path.exists():
            lines = path.read_text().splitlines(keepends=True)
            keep = lines[: 1 + self.counters["metrics_rows"]] if self.counters["metrics_rows"] else []
            atomic_write_text(path, "".join(keep))


def build_agent(config: TrainConfig, env, missions: list[str]):
    from agents import AgentConfig, VLNAgent

    vocab = Vocabulary.build(missions)
    image_shape = tuple(int(d) for d in env.single_observation_space["image"].shape)
    agent_config = AgentConfig(vocab_size=len(vocab), num_actions=int(env.single_action_space.n), image_shape=image_shape,
                               hidden=config.hidden, rnn=config.rnn, bidirectional=config.bidirectional,
                               text_hidden=config.text_hidden)
    return VLNAgent(agent_config, vocab)


def default_max_words(missions: list[str]) -> int:
    """Instruction length in tokens: the longest mission plus a margin, rounded up to 8."""
    longest = max(len(m.split()) for m in missions)
    return int(np.ceil((longest + 4) / 8) * 8)


def load_init_agent(config: TrainConfig, env):
    """``config.init_agent`` (agent.keras or a run folder) and its run's max_words (or None),
    checked against the env's actions and frames."""
    from vln.evaluation import load_checkpoint

    agent, max_words = load_checkpoint(config.init_agent)
    actions = int(env.single_action_space.n)
    image_shape = tuple(int(d) for d in env.single_observation_space["image"].shape)
    if agent.config.num_actions != actions or tuple(agent.config.image_shape) != image_shape:
        raise ValueError(f"--init {config.init_agent}: the agent has {agent.config.num_actions} actions and frames "
                         f"{tuple(agent.config.image_shape)}, the env {actions} and {image_shape}")
    return agent, max_words


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
    if resume and dataclasses.replace(TrainConfig.load(out / "config.json"), out=config.out) != config:
        raise ValueError(f"--resume: the options differ from the run's config.json in {out}")
    # The env contract is checked before anything is written: every violation in one error,
    # and imitation (BC, DAgger, or the demonstrations mixed into REINFORCE) needs the env's expert.
    # (Made before Keras builds anything: env worker processes are forked from a process
    # whose JAX / TensorFlow runtime has not started its threads yet.)
    imitation = (not config.init_agent and config.dagger_rounds > 0) or config.il_episodes > 0 and (
        not config.init_agent or (config.il_mix > 0 and config.rl_updates > 0))
    env = make_env(config.env, config.num_envs, "train", config.env_kwargs, imitation=imitation,
                   workers=config.env_workers)
    try:
        with compute_precision(config.mixed_precision):
            return _run(config, env, out, state, resume, progress)
    finally:
        env.close()


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


def _run(config: TrainConfig, env, out: Path, state: dict[str, Any] | None, resume: bool,
         progress: bool) -> dict[str, Any]:
    import keras

    from agents import load_agent
    from vln.evaluation import check_writable

    check_writable(out)  # an unwritable --out fails now, not at the first checkpoint
    keras.utils.set_random_seed(config.seed)
    R = Run(config, progress)

    if state is None:
        # A new run, or one killed before its first checkpoint: (re)start from scratch,
        # dropping what a killed attempt logged.
        for name in ("metrics.csv", "eval_before_rl.json"):
            (out / name).unlink(missing_ok=True)
    if state is not None:
        agent = load_agent(out / "checkpoint" / "agent.keras")
        R.restore(state)
    elif config.init_agent:
        # Start from a trained agent (e.g. an imitation run's): no imitation phase here.
        agent, saved_words = load_init_agent(config, env)
        if config.max_words == 0:
            config.max_words = saved_words or default_max_words(sample_missions(env, 2000, _VOCAB_SEED))
        atomic_write_text(out / "config.json", config.to_json())
        R.counters["phase"] = "rl"
    else:
        missions = sample_missions(env, 2000, _VOCAB_SEED)
        if config.max_words == 0:
            config.max_words = default_max_words(missions)
        atomic_write_text(out / "config.json", config.to_json())
        agent = build_agent(config, env, missions)
    max_words = config.max_words

    if progress:
        from tqdm.auto import tqdm

        R.bar = tqdm(total=None, unit=" updates", dynamic_ncols=True)

    def on_step(phase, log_every: int = 25):
        count = [0]

        def cb(stats, frames):
            R.counters["train_frames"] += frames
            count[0] += 1
            if R.bar is not None:
                R.bar.update(1)
                R.bar.set_postfix_str(f"{phase} frames={R.counters['train_frames']} loss={stats['loss']:.3f}")
            if phase != "rl" and count[0] % log_every == 0:
                R.log(phase, stats)
            kill_point(f"{phase}-step")
        return cb

    def fit(phase: str, samples, epochs: float, batch_size: int) -> dict[str, float]:
        """``train_samples`` on the run's agent; a NaN/Inf loss stops the run naming the step."""
        try:
            return train_samples(agent, samples, epochs=epochs, batch_size=batch_size, chunk=config.chunk,
                                 max_words=max_words, rng=R.rng, on_step=on_step(phase), stop=R.out_of_time)
        except NonFiniteLoss as exc:
            raise NonFiniteLoss(f"{exc} in {R.training_now()}, minibatch {exc.update}; training stopped, {R.kept()}") from exc

    # ---------------------------------------------------------------- phase 1: imitation
    # The demonstrations: for imitation, and for the imitation loss mixed into REINFORCE
    # (the same seeds give the same demonstrations, also after --resume or --init).
    mix_demos = config.il_mix > 0 and R.counters["update"] < config.rl_updates
    needs_demos = config.il_episodes > 0 and (
        R.counters["phase"] == "il" or (R.counters["phase"] == "dagger" and R.counters["round"] < config.dagger_rounds)
        or mix_demos)
    dataset, mix = [], []
    if needs_demos:
        expert = ExpertPolicy(config.il_noise, movement_actions(env), seed=config.seed)
        dataset = imitation_samples(run_episodes(env, expert, config.il_episodes, _IL_SEED))
        if mix_demos:
            mix = imitation_samples([s.traj for s in dataset], weight=config.il_mix)
        if R.counters["phase"] == "il":
            R.counters["env_frames"] += sum(len(s.traj) for s in dataset)
    if R.counters["phase"] == "il":
        if config.il_episodes > 0:
            agent.compile_for_training(learning_rate=config.lr, clipnorm=config.clipnorm, value_coef=0.0, entropy_coef=0.0)
            stats = fit("il", dataset, config.il_epochs, config.batch_size)
            R.log("il", stats)
        R.counters["phase"] = "dagger"
        R.save_checkpoint(agent)

    if R.counters["phase"] == "dagger":
        if config.dagger_rounds > 0 and config.il_episodes == 0:
            raise ValueError("DAgger needs imitation data: set --il-episodes > 0 or --dagger-rounds 0")

        def dagger_episodes(k: int):
            """Round k's episodes: the agent samples, the expert's action is taken with prob. beta_k."""
            policy = AgentPolicy(agent, "sample", beta=config.dagger_beta * 0.5**k, seed=config.seed + k, max_words=max_words)
            return run_episodes(env, policy, config.dagger_episodes, _DAGGER_SEED + k * 1_000_000)

        if R.counters["round"] < config.dagger_rounds:
            agent.compile_for_training(learning_rate=config.lr, clipnorm=config.clipnorm, value_coef=0.0, entropy_coef=0.0)
            # On resume, earlier rounds' data is re-collected with the restored agent.
            for k in range(R.counters["round"]):
                dataset += imitation_samples(dagger_episodes(k))
        while R.counters["round"] < config.dagger_rounds and not R.out_of_time():
            k = R.counters["round"]
            trajs = dagger_episodes(k)
            R.counters["env_frames"] += sum(len(t) for t in trajs)
            dataset += imitation_samples(trajs)
            stats = fit("dagger", dataset, config.dagger_epochs, config.batch_size)
            R.counters["round"] += 1
            R.log("dagger", stats, success_rate=float(np.mean([t.success for t in trajs])))
            R.save_checkpoint(agent)
        R.counters["phase"] = "rl"
        R.save_checkpoint(agent)
    del dataset

    # ---------------------------------------------------------------- phase 2: REINFORCE
    if R.counters["phase"] == "rl":
        if R.counters["update"] == 0 and config.rl_updates > 0 and config.eval_episodes > 0:
            # Held-out figures of the imitation agent, so the run shows what REINFORCE adds.
            atomic_write_json(out / "eval_before_rl.json", evaluate_splits(agent, config))

        def compile_rl(warmup: bool) -> None:
            # The warm-up trains the value head alone (policy weights 0, no entropy bonus; the
            # head reads stopped features, so the trunk is untouched): imitation's larger
            # learning rate is safe there and fits the baseline within a few updates.
            agent.compile_for_training(learning_rate=config.lr if warmup else config.rl_lr, clipnorm=config.clipnorm,
                                       value_coef=config.value_coef, entropy_coef=0.0 if warmup else config.entropy_coef)

        group = config.rl_baseline == "group"
        # Only the value baseline needs the warm-up; the group baseline needs no fitting.
        warmup_updates = 0 if group else config.rl_value_warmup
        if R.counters["update"] < config.rl_updates:
            compile_rl(R.counters["update"] < warmup_updates)
        while R.counters["update"] < config.rl_updates and not R.out_of_time():
            u = R.counters["update"]
            if u == warmup_updates and u > 0:
                compile_rl(False)
            policy = AgentPolicy(agent, "sample", seed=config.seed * 7919 + u, max_words=max_words)
            if group:
                # num_envs / rl_group episodes, each sampled rl_group times side by side.
                seeds = [_RL_SEED + u * config.num_envs + i // config.rl_group for i in range(config.num_envs)]
                trajs = run_wave(env, policy, seeds)
                samples = group_samples(trajs, config.rl_group, config.gamma)
            else:
                trajs = run_episodes(env, policy, config.num_envs, _RL_SEED + u * config.num_envs)
                samples = reinforce_samples(trajs, config.gamma)
            R.counters["env_frames"] += sum(len(t) for t in trajs)
            # Advantages from an untrained baseline are noise: the warm-up fits the value head first.
            pg_coef = 0.0 if u < warmup_updates else config.pg_coef
            if pg_coef != 1.0:
                for s in samples:
                    s.weights = s.weights * pg_coef
            if u >= warmup_updates and mix:
                # EnvDrop's mix: teacher forcing on expert demonstrations, beside the sampled
                # episodes. (Expert labels on the agent's own sampled states instead made it
                # worse: off the route those labels are mostly turns and almost never STOP.)
                picks = R.rng.choice(len(mix), min(len(mix), config.num_envs), replace=False)
                samples += [mix[i] for i in picks]
            stats = fit("rl", samples, 1.0, len(samples))
            R.counters["update"] += 1
            R.log("rl", stats, success_rate=float(np.mean([t.success for t in trajs])))
            kill_point("rl-update")  # logged, not yet checkpointed
            if R.counters["update"] % config.checkpoint_every == 0 or R.counters["update"] == config.rl_updates:
                R.save_checkpoint(agent)
        R.counters["phase"] = "done"
        R.save_checkpoint(agent)

    # ---------------------------------------------------------------- outputs
    agent.save(out / "agent.keras")
    results: dict[str, Any] = {}
    train_time = R.elapsed()
    if config.eval_episodes > 0:
        results = {**evaluate_splits(agent, config), "env": config.env, "train_time_s": round(train_time, 1),
                   "wall_time_s": round(R.elapsed(), 1),
                   "train_frames": R.counters["train_frames"], "env_frames": R.counters["env_frames"]}
        if (out / "eval_before_rl.json").exists():
            results["before_rl"] = json.loads((out / "eval_before_rl.json").read_text())
        atomic_write_json(out / "eval.json", results)
    write_curves(out)
    try:
        from vln.rollouts import write_sample_video

        write_sample_video(agent, config.env, config.env_kwargs, out / "rollout.mp4", seed=config.eval_seed,
                           max_words=max_words)
    except Exception as exc:  # a sample video must never cost a finished run
        warnings.warn(f"no rollout.mp4: {exc}")
    if R.bar is not None:
        R.bar.close()
    return results


def evaluate_splits(agent, config: TrainConfig) -> dict[str, Any]:
    """Greedy held-out evaluation: val-unseen at the top level, val-seen under "seen".

    An env without splits (no ``split`` argument, e.g. MiniGrid levels) is evaluated once,
    on the evaluation seeds (disjoint from training's), reported as split "train" and
    under "seen" too.
    """
    from vln.environments import has_splits

    def one(split: str) -> dict[str, Any]:
        summary, _ = evaluate(agent, config.env, config.eval_episodes, config.eval_seed, split, config.env_kwargs,
                              num_envs=config.num_envs, max_words=config.max_words)
        return summary

    if not has_splits(config.env):
        summary = one("train")
        return {**summary, "split": "train", "seen": dict(summary)}
    unseen, seen = one("unseen"), one("seen")
    return {**unseen, "split": "unseen", "seen": seen}


def write_curves(run_dir: str | Path) -> None:
    """Learning curves from metrics.csv into curves.png (matplotlib, headless)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(run_dir) / "metrics.csv"
    if not path.exists():
        return
    with open(path) as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for phase, color in (("il", "tab:blue"), ("dagger", "tab:orange"), ("rl", "tab:green")):
        pts = [(float(r["train_frames"]), float(r["loss"])) for r in rows if r["phase"] == phase and r["loss"] != ""]
        if pts:
            axes[0].plot(*zip(*pts), "o-", color=color, label=phase, ms=3)
        pts = [(float(r["train_frames"]), float(r["success_rate"])) for r in rows if r["phase"] == phase and r["success_rate"] != ""]
        if pts:
            axes[1].plot(*zip(*pts), "o-", color=color, label=phase, ms=3)
    axes[0].set(xlabel="training frames", ylabel="loss", title="loss")
    axes[1].set(xlabel="training frames", ylabel="success rate (rollouts)", title="success", ylim=(0, 1.02))
    for ax in axes:
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    fig.tight_layout()
    tmp = Path(run_dir) / ".curves.tmp.png"
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, Path(run_dir) / "curves.png")
