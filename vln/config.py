"""Training configuration: one dataclass, presets, and JSON round trips."""

from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints


@dataclass
class TrainConfig:
    """Everything a training run needs; saved as ``config.json`` in the run folder."""

    env: str = "vln/GoToObject-v0"
    """Gymnasium id of the environment, or package.module:Class (importable from the working folder)."""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments for the env (e.g. ``{"num_rooms": [2, 3]}``)."""
    train_env_kwargs: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments added to env_kwargs for the training envs only: a curriculum (e.g.
    ``{"lookalikes": 0.5}``). The held-out monitor and the evaluation use env_kwargs alone."""
    extra_env: str = ""
    """A second env whose expert's demonstrations join cloning (multi-task imitation; "" for
    none): the same actions and frames, its own instructions. Its training phrasings add
    ways of saying things the main env's never use (e.g. GoToObject's "find the {obj} and
    stop next to it", where the goal is not the last word). Evaluation uses ``env`` alone."""
    extra_env_kwargs: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments for ``extra_env``."""
    extra_episodes: int = 0
    """Demonstrations from ``extra_env``, added to the ``il_episodes`` from ``env`` (0: none)."""
    out: str = "runs/default"
    """Run folder: agent.keras, config.json, metrics.csv, eval.json, curves.png, checkpoint/."""
    seed: int = 0
    """Seeds every random choice: episodes, sampling, minibatches, weights."""
    num_envs: int = 64
    """Envs of the native vector env, stepped as one batch."""
    env_workers: int = 1
    """Processes the training env is sharded over (1: in this process; more use more CPU cores)."""
    init_agent: str = ""
    """Start from this saved agent (agent.keras or a run folder) instead of a new one; imitation is skipped."""

    # ---- agent
    hidden: int = 128
    """Units of the policy's recurrent cell."""
    rnn: Literal["lstm", "gru"] = "lstm"
    """Recurrent cell of the policy: "lstm" or "gru"."""
    bidirectional: bool = False
    """Bidirectional instruction encoder."""
    text_hidden: int = 64
    """Units of the instruction LSTM."""
    visual_stem: Literal["strided", "patch"] = "strided"
    """Convolutions of the visual encoder: "strided" (5x5/2, 3x3/2, 3x3/2) or "patch" (4x4/4,
    3x3/2, 3x3/1: the same 8x8 grid for about half the multiply-adds)."""
    step_film: bool = False
    """Modulate the visual features at every step by the words the policy attends to then
    (FiLM from the step's attention context), besides the whole instruction's FiLM."""
    pool_heads: int = 2
    """Learned queries that pool the instruction's words into the visual FiLM's input: one
    per thing the route names that the features should pick out (doors, landmarks, goal)."""
    film_last_word: bool = False
    """The visual FiLM also reads the instruction LSTM's state at the last word, where the goal's
    clause ends the route (without it the learned pooling settled on the first door or landmark)."""
    goal_pool: bool = False
    """The visual FiLM also reads the words pooled with a bias toward the instruction's end (a
    learned score per word minus a learned slope times its distance from the last word): the
    goal's words, which a route names last but not always as its last words ("go to the yellow
    key and stop"). Measured on the main job it costs success: it learns the last words (BENCHMARKS.md)."""
    door_pool: bool = False
    """The visual FiLM also reads the words pooled with a bias toward the instruction's start (a
    learned score per word minus a learned slope times its distance from the first word): the
    first door's colour, which the route names near its start and the other poolings leave out.
    Measured on the main job it costs success, and the door's colour stays unread (BENCHMARKS.md)."""
    visual_max_pool: bool = False
    """Also feed the policy the visual features maxed over the whole feature map (one value a
    channel, after the instruction's FiLM): whether what the instruction names is anywhere in
    view, wherever it is in the frame."""
    visual_attention: bool = False
    """At every step the words the policy attends to query the cells of the visual feature map
    (dot-product attention over the 8x8 cells): the policy also reads the attended cells, where
    across the view they are, and how well the best one matches, so "the purple door" of the
    step's clause is matched against what is in view directly."""
    progress_coef: float = 0.0
    """Weight of the progress loss on the expert's demonstrations: the policy's attention over
    the words should move from the instruction's first word to its last as the route goes
    (its mean word position against the step's progress); 0: off."""
    target_coef: float = 0.0
    """Weight of the target-view loss on the imitation samples (demonstrations, DAgger, REINFORCE's
    imitation mix): an auxiliary head says where the route's next door or goal is in the view
    (out of view, left, ahead, right), from the env's ``info["target_view"]`` (the built-in envs
    with ``"expert": "in_view"`` or ``"scanning"``); 0: off."""
    goal_coef: float = 0.0
    """Weight of the goal-view loss on the imitation samples: an auxiliary head says where the
    goal object is in the view (out of view, left, ahead, right) at every step, wherever the route
    has got to, from the env's ``info["goal_view"]`` (the built-in envs with ``"expert": "in_view"``
    or ``"scanning"``); 0: off."""

    word_dropout: float = 0.0
    """Training minibatches replace each instruction word by ``<unk>`` with this probability
    (every phase), so the agent reads a route from its slot words and their order rather than
    from one template's wording; evaluation reads every word. 0: off."""

    word_insert: float = 0.0
    """Training minibatches insert about this many random words per instruction word, each one of
    the minibatch's own words at a random place, the end included (every phase; EDA's random
    insertion), so the agent reads a route from its slot words and their order wherever they
    stand, and not from the last word being the goal's object. 0: off."""

    word_insert_end: bool = False
    """Put ``word_insert``'s words after the instruction's last word instead of at random places:
    the goal's object is then not always the last word, as in a phrasing that closes on other
    words ("go to the yellow key and stop"). Measured on the main job it costs success (BENCHMARKS.md)."""

    colour_swap: float = 0.0
    """Training minibatches recolour each episode with this probability (every phase): a random
    permutation of the six colours applied alike to its frames' pixels and to its instruction's
    colour words (``vln.augmentation``; the built-in envs only, which draw each colour flat), so
    the agent reads which door or object the words name in every combination. 0: off."""

    # ---- phase 1: imitation
    il_episodes: int = 8000
    """Expert demonstrations for behaviour cloning (0 skips imitation)."""
    il_epochs: float = 8.0
    """Passes over the demonstrations."""
    il_noise: float = 0.2
    """Demonstrations take a random (non-stop) action with this probability; labels stay the expert's."""
    dagger_rounds: int = 5
    """DAgger / student-forcing rounds: the agent drives, the expert labels (0 skips)."""
    dagger_episodes: int = 1000
    """Episodes collected per DAgger round."""
    dagger_epochs: float = 2.0
    """Passes over the aggregated data after each round."""
    dagger_beta: float = 0.5
    """Probability of taking the expert's action in the first round (halved each round)."""
    dagger_replay: int = 0
    """Each DAgger round trains on its new episodes plus this many earlier samples drawn at
    random (demonstrations and earlier rounds'), instead of on all the data so far (0): a
    round's cost stays fixed, so the same minutes buy more rounds of the agent's own states."""
    il_focal: float = 0.0
    """Focusing exponent of a focal imitation loss (behaviour cloning and DAgger): each step's
    cross-entropy is scaled by ``(1 - p) ** il_focal``, ``p`` the probability the policy gives the
    expert's action, so the steps it already gets right weigh less than the decisions it gets
    wrong (0: plain cross-entropy; REINFORCE's imitation mix always uses the plain one)."""
    ema: float = 0.0
    """Momentum of an exponential moving average of the weights during imitation (behaviour
    cloning and each DAgger round), which then replaces the weights at the end of each (0: off;
    0.99 averages over about the last 100 minibatches; a phase resumed part way starts a new average)."""

    # ---- phase 2: REINFORCE
    rl_updates: int = 0
    """REINFORCE updates, each on ``num_envs`` sampled episodes (0 skips)."""
    gamma: float = 0.95
    """Discount of returns."""
    entropy_coef: float = 0.01
    """Entropy bonus weight."""
    value_coef: float = 0.5
    """Value-baseline loss weight."""
    il_mix: float = 0.2
    """Weight of the imitation loss mixed into REINFORCE (EnvDrop uses 0.2; 0 disables): each update
    also teacher-forces ``num_envs`` of the ``il_episodes`` expert demonstrations."""
    rl_baseline: Literal["value", "group"] = "value"
    """Policy-gradient baseline: "value" (advantage = discounted return - the value head's
    estimate) or "group" (each update samples ``num_envs / rl_group`` episodes ``rl_group``
    times each; advantage = an episode's return - the mean of the others on the same episode)."""
    rl_group: int = 8
    """Samples of each episode per update with ``rl_baseline="group"``."""
    pg_coef: float = 1.0
    """Weight of the policy-gradient term (0 leaves only the imitation mix and the value
    regression: the ablation that shows what the policy gradient itself adds)."""
    rl_lr: float = 3e-4
    """Learning rate of the REINFORCE phase."""
    rl_stop_reward: float = 0.0
    """REINFORCE's reward at the stop, added to the env's (EnvDrop uses 2): +this where the episode
    succeeds, -this where the agent stops anywhere else (``info["stopped"]``), nothing on a
    timeout. The evaluation's figures never see it. 0: the env's reward alone."""
    rl_value_warmup: int = 10
    """First REINFORCE updates that fit only the value baseline (imitation never trains it), at ``lr``."""

    # ---- optimisation
    mixed_precision: bool = False
    """Compute in bfloat16 with float32 weights (Keras "mixed_bfloat16"); for GPUs."""
    data_parallel: bool = False
    """Shard each minibatch over all local devices (JAX backend, keras.distribution.DataParallel;
    the weights are replicated). --batch-size and --num-envs must divide by the device count."""
    device_rollout: bool = False
    """Collect DAgger and REINFORCE episodes on the accelerator: the agent and the functional JAX
    env (the env id's ``-jax-v0`` twin) in one compiled scan (``vln.device_rollout``); JAX backend only."""
    lr: float = 1e-3
    """Learning rate of the imitation phase (Adam)."""
    il_lr_final: float = 0.0
    """When positive, behaviour cloning's learning rate falls from ``lr`` to this along a
    cosine over its minibatches, and DAgger rounds train at this rate (0: ``lr`` throughout)."""
    clipnorm: float = 1.0
    """Gradient clipping by global norm."""
    batch_size: int = 64
    """Episodes per minibatch."""
    chunk: int = 8
    """Truncated-BPTT length: longer episodes are trained chunk by chunk, state carried."""

    # ---- evaluation and logging
    eval_episodes: int = 200
    """Held-out episodes for eval.json, per split (0 skips)."""
    eval_seed: int = 1_000_000
    """First seed of the evaluation episodes."""
    time_budget_s: float = 0.0
    """Training wall-clock budget in seconds (0: none): once spent, every phase stops early and
    the run goes on to evaluation."""
    rl_reserve: float = 0.0
    """Share of ``time_budget_s`` kept for REINFORCE (0 to below 1): imitation (cloning and DAgger)
    stops once the rest of the budget is spent, so a slower machine shortens imitation rather than
    skipping REINFORCE. A share, so any budget keeps its proportion; ignored without a budget or
    without REINFORCE updates."""
    checkpoint_every: int = 20
    """REINFORCE updates between checkpoints."""
    monitor_episodes: int = 0
    """Held-out episodes (unseen layouts where the env has splits) run greedily after behaviour
    cloning, after each DAgger round and at every REINFORCE checkpoint: the learning curves'
    held-out success (0: none)."""
    max_words: int = 0
    """Instruction length in tokens (0: from the training missions)."""
    report: bool = True
    """Write report.html at the end: config, curves, results with 95% intervals, the failure
    breakdown and a gallery of up to 12 episode videos (--no-report: none)."""

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """ValueError naming the first bad value by its flag (``--num-envs must be positive, got 0``)."""
        from vln.cli import require_non_negative, require_positive

        hints = get_type_hints(type(self))
        for f in dataclasses.fields(self):
            choices = get_args(hints[f.name]) if get_origin(hints[f.name]) is Literal else ()
            value = getattr(self, f.name)
            if choices and value not in choices:
                raise ValueError(f"--{f.name.replace('_', '-')} must be one of {', '.join(map(str, choices))}; got {value!r}")
        require_positive(num_envs=self.num_envs, env_workers=self.env_workers, hidden=self.hidden,
                         text_hidden=self.text_hidden, pool_heads=self.pool_heads, il_epochs=self.il_epochs,
                         dagger_epochs=self.dagger_epochs, rl_group=self.rl_group, rl_lr=self.rl_lr, lr=self.lr,
                         clipnorm=self.clipnorm, batch_size=self.batch_size, chunk=self.chunk, checkpoint_every=self.checkpoint_every)
        require_non_negative(seed=self.seed, il_episodes=self.il_episodes, extra_episodes=self.extra_episodes, il_noise=self.il_noise,
                             dagger_rounds=self.dagger_rounds, dagger_episodes=self.dagger_episodes,
                             dagger_beta=self.dagger_beta, dagger_replay=self.dagger_replay, il_focal=self.il_focal, ema=self.ema, rl_updates=self.rl_updates, gamma=self.gamma,
                             entropy_coef=self.entropy_coef, value_coef=self.value_coef, il_mix=self.il_mix, rl_stop_reward=self.rl_stop_reward,
                             progress_coef=self.progress_coef, target_coef=self.target_coef, goal_coef=self.goal_coef, word_dropout=self.word_dropout, word_insert=self.word_insert, colour_swap=self.colour_swap, pg_coef=self.pg_coef, il_lr_final=self.il_lr_final, rl_value_warmup=self.rl_value_warmup,
                             eval_episodes=self.eval_episodes, eval_seed=self.eval_seed, monitor_episodes=self.monitor_episodes,
                             time_budget=self.time_budget_s, rl_reserve=self.rl_reserve, max_words=self.max_words)
        for name in ("il_noise", "dagger_beta", "gamma", "word_dropout", "word_insert", "colour_swap"):  # probabilities and the discount
            if getattr(self, name) > 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at most 1, got {getattr(self, name)}")
        if self.rl_reserve >= 1:
            raise ValueError(f"--rl-reserve is a share of --time-budget and must be below 1, got {self.rl_reserve}")
        if self.visual_attention and self.step_film:
            raise ValueError("--visual-attention and --step-film cannot be combined")
        if bool(self.extra_env) != (self.extra_episodes > 0):
            raise ValueError("--extra-env and --extra-episodes go together: give both or neither")
        if self.word_insert_end and self.word_insert == 0:
            raise ValueError("--word-insert-end places --word-insert's words: give --word-insert above 0")
        if self.ema >= 1:
            raise ValueError(f"--ema must be below 1, got {self.ema}")
        if self.rl_baseline == "group" and (self.rl_group < 2 or self.num_envs % self.rl_group):
            raise ValueError(f"--rl-group must be at least 2 and divide --num-envs ({self.num_envs}) with "
                             f"--rl-baseline group, got {self.rl_group}")

    def training_env_kwargs(self) -> dict[str, Any]:
        """The training envs' kwargs: ``env_kwargs`` with ``train_env_kwargs`` over them."""
        return {**self.env_kwargs, **self.train_env_kwargs}

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown config fields: {', '.join(unknown)}")
        return cls(**data)

    @classmethod
    def load(cls, path: str | Path) -> "TrainConfig":
        return cls.from_dict(json.loads(Path(path).read_text()))


# FollowRoute with 2-3 rooms, as the main job and the route preset train it.
ROUTE_ENV = {"num_rooms": [2, 3], "max_steps": 60, "reward_shaping": True}

# The README's main job: FollowRoute (2-3 rooms) by imitation of the in-view expert
# (behaviour cloning on 5,000 demonstrations, 4 DAgger rounds), then 40 REINFORCE updates,
# on a 2-core CPU within 15 minutes. Whole episodes are one BPTT chunk (max_steps 60). The
# instruction LSTM reads both ways: a word's features then know what follows it, and the
# goal is the route's last clause. Minibatches of 16 episodes for 6 epochs of cloning: the
# recipe is bound by its number of updates more than by the frames each reads (32 episodes
# for 7 epochs before). Each minibatch's words become <unk> with probability 0.1
# (word_dropout): without it the instruction reader overfits the training phrasings on
# some seeds, and the held-out wordings time out (unseen SR 0.75 with minibatches of 16 and
# seed 1, 0.78 with the recipe before and seed 2). The 14-minute training budget is a
# safety net for slower machines of the same kind; it keeps 18% (151 s) for
# REINFORCE (rl_reserve), so there imitation is cut short rather than REINFORCE skipped.
# The training envs are harder than the task (train_env_kwargs): 3 rooms, not 2-3, and 1-3
# landmarks a room, not 0-2. Most failures stop by the wrong object in the goal's room or go
# through the wrong door of a 3-room route; the harder layouts give the agent more of both
# to learn from in the same number of demonstrations. The monitor and evaluation keep the task.
# The visual FiLM also reads the instruction LSTM's state at the last word (film_last_word),
# where the goal's clause ends the route: on these layouts it is ahead on both training seeds.
# Cloning also imitates 1,000 GoToObject episodes (extra_env): one room, a target among
# distractors that share its colour or type, and other wordings of a goal ("find the {obj}
# and stop next to it", where the object is not the last word). Without them the agent stops
# by a distractor more often and times out on the held-out goal clause "go to the {obj} and
# stop". Twice the learning rate (lr 2e-3) fits the training layouts more closely; neither
# change alone moves unseen success, together they add 0.06-0.07 on two seeds (BENCHMARKS.md).
MAIN_JOB: dict[str, Any] = dict(
    env="vln/FollowRoute-v0", env_kwargs={**ROUTE_ENV, "expert": "in_view"}, bidirectional=True,
    film_last_word=True, lr=2e-3,
    extra_env="vln/GoToObject-v0", extra_env_kwargs={"expert": "in_view"}, extra_episodes=1000,
    train_env_kwargs={"num_rooms": [3, 3], "landmarks_per_room": [1, 3]},
    il_episodes=5000,
    il_epochs=6.0, dagger_rounds=4, dagger_episodes=1000, dagger_epochs=1.0, rl_updates=40, il_mix=1.0,
    rl_lr=1e-4, entropy_coef=0.0, chunk=60, batch_size=16, word_dropout=0.1, num_envs=64,
    checkpoint_every=10, monitor_episodes=100, time_budget_s=840.0, rl_reserve=0.18)

PRESETS: dict[str, dict[str, Any]] = {
    "default": MAIN_JOB,
    # GoToObject ("go to the red ball"): the dataclass defaults, the main job before FollowRoute.
    "goto": {},
    # The full FollowRoute task as registered (2-6 rooms, max_steps 150) on a 2-core CPU: the
    # main job's recipe on the task's env, with training layouts of 3-6 rooms (1-3 landmarks a
    # room), whole episodes as one BPTT chunk (chunk 150), 8,000 route demonstrations, 8 DAgger
    # rounds of 1,500 and up to 200 REINFORCE updates, within an hour (measured 55 min: the
    # 55-minute training budget ends REINFORCE, keeping at least 15% for it). 8 DAgger rounds,
    # not the main job's 4: rounds 5-8 cut stops in the wrong room from 106 to 11 of 2,000
    # held-out episodes, which is what held the 4-6-room routes back. 2,000 GoToObject
    # demonstrations, not the main job's 1,000: with 1,000 beside the longer routes the imitation
    # agent timed out on a third of the held-out goal clause "go to the {obj} and stop". On the
    # full task REINFORCE adds the most (+0.06 unseen SR in 60 updates), so it gets 200.
    "route_full": dict(
        MAIN_JOB, env_kwargs={"reward_shaping": True, "expert": "in_view"},
        train_env_kwargs={"num_rooms": [3, 6], "landmarks_per_room": [1, 3]},
        chunk=150, il_episodes=8000, extra_episodes=2000, dagger_rounds=8, dagger_episodes=1500,
        rl_updates=200, time_budget_s=3300.0, rl_reserve=0.15),
    # A few seconds: for tests and smoke runs. No report (--report writes one): its videos
    # would add about a fifth to each of the test suite's many tiny runs.
    "tiny": dict(num_envs=8, hidden=32, text_hidden=16, il_episodes=32, il_epochs=1.0, dagger_rounds=1,
                 dagger_episodes=16, dagger_epochs=1.0, rl_updates=1, eval_episodes=8, batch_size=8, chunk=8,
                 report=False),
    # FollowRoute with a limited demo budget, then REINFORCE (the IL -> RL comparison).
    "route": dict(env="vln/FollowRoute-v0", env_kwargs=ROUTE_ENV,
                  il_episodes=1500, il_epochs=48.0, dagger_rounds=0, rl_updates=300, il_mix=1.0, rl_lr=1e-4, entropy_coef=0.0,
                  chunk=20, batch_size=32, num_envs=64, checkpoint_every=10),
    # One modern GPU (JAX backend): FollowRoute (2-6 rooms) in about 5 minutes with 16 CPU
    # cores stepping the envs. Many envs sharded over processes, large batches, bf16,
    # a larger agent; imitation on many demos and DAgger, then REINFORCE.
    "gpu": dict(env="vln/FollowRoute-v0", num_envs=512, env_workers=12, mixed_precision=True, hidden=256,
                text_hidden=128, bidirectional=True, il_episodes=30000, il_epochs=6.0, dagger_rounds=3,
                dagger_episodes=4096, dagger_epochs=1.0, batch_size=256, chunk=32, lr=1e-3, rl_updates=20,
                rl_lr=5e-5, il_mix=1.0, entropy_coef=0.0, eval_episodes=200, checkpoint_every=10,
                time_budget_s=285.0),
}


def preset(name: str, **overrides: Any) -> TrainConfig:
    """The named preset's config, with ``overrides`` (a copy: the preset itself never changes)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    return TrainConfig.from_dict(copy.deepcopy({**PRESETS[name], **overrides}))
