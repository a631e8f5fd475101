"""The training objectives: what each step of an episode is pushed towards, and the loss.

Imitation and REINFORCE share one weighted cross-entropy. Each step of a ``Sample`` has a
target action and a weight:

- imitation: the expert's action, weight 1 (``il_mix`` for the demonstrations mixed into
  REINFORCE);
- REINFORCE: the action taken, weight ``pg_coef`` times its advantage, against the value
  head (``reinforce_samples``) or a leave-one-out group mean (``group_samples``).

``loss_terms`` is the loss the agent minimises (``VLNAgent.compile_for_training(objective=...)``),
its terms named as metrics.csv logs them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vln.collection import VIEW_LABELS, Trajectory


@dataclass
class Sample:
    """A trajectory with its per-step training targets."""

    traj: Trajectory
    targets: np.ndarray  # (T,) int: the action to make more (or less) likely
    weights: np.ndarray  # (T,) float: its weight
    returns: np.ndarray | None = None  # (T,) float: value targets, or None for no value loss
    progress: np.ndarray | None = None  # (T,) float in [0, 1]: how far along the route, or None
    target_view: np.ndarray | None = None  # (T,) int: where the expert's target is in each view, or None
    goal_view: np.ndarray | None = None  # (T,) int: where the goal is in each view, or None


def time_progress(length: int) -> np.ndarray:
    """An expert episode's progress at each of its ``length`` steps: 0 at the start, 1 at the end."""
    return np.linspace(0.0, 1.0, length, dtype=np.float32) if length > 1 else np.ones(length, np.float32)


def imitation_samples(trajs: Sequence[Trajectory], weight: float = 1.0, progress: bool = False) -> list[Sample]:
    """Expert labels on every visited state, weight ``weight``; ``progress``: with the
    ``time_progress`` targets of the progress loss (for the expert's own episodes). The
    target-view and goal-view labels come along wherever the env gave them (``Trajectory.target_view``,
    ``Trajectory.goal_view``)."""
    out = []
    for t in trajs:
        if (t.expert < 0).any():
            raise ValueError("imitation needs info['expert_action'] on every step; this env gives none")
        out.append(Sample(t, t.expert, np.full(len(t), weight, np.float32),
                          progress=time_progress(len(t)) if progress else None,
                          **{key: getattr(t, key) for key in VIEW_LABELS}))
    return out


def discounted_returns(rewards: np.ndarray, gamma: float) -> np.ndarray:
    out = np.zeros(len(rewards), np.float64)
    acc = 0.0
    for i in range(len(rewards) - 1, -1, -1):
        acc = rewards[i] + gamma * acc
        out[i] = acc
    return out


def stop_rewards(traj: Trajectory, stop_reward: float) -> np.ndarray:
    """The episode's rewards with EnvDrop's reward at the stop added to its last step:
    ``+stop_reward`` where it succeeded, ``-stop_reward`` where it stopped anywhere else
    (``info["stopped"]``), nothing where the step limit ended it. The env's own reward pays for
    progress along the way; this one makes the STOP itself the thing to get right, where a stop
    by the wrong object near the goal otherwise keeps most of the progress reward."""
    rewards = np.asarray(traj.rewards, np.float64).copy()
    if stop_reward and len(rewards):
        if traj.success:
            rewards[-1] += stop_reward
        elif bool(traj.info.get("stopped", False)):
            rewards[-1] -= stop_reward
    return rewards


def reinforce_samples(trajs: Sequence[Trajectory], gamma: float, pg_coef: float = 1.0, normalize: bool = True,
                      stop_reward: float = 0.0) -> list[Sample]:
    """Taken actions weighted by ``pg_coef`` times the advantage (return minus the value baseline);
    ``stop_reward``: the training reward at the stop (``stop_rewards``)."""
    returns = [discounted_returns(stop_rewards(t, stop_reward), gamma) for t in trajs]
    adv = [r - t.values for r, t in zip(returns, trajs)]
    if normalize and adv:
        flat = np.concatenate(adv)
        mean, scale = flat.mean(), flat.std() + 1e-6
        adv = [(a - mean) / scale for a in adv]
    return [Sample(t, t.actions, a.astype(np.float32) * pg_coef, r.astype(np.float32)) for t, a, r in zip(trajs, adv, returns)]


def group_samples(trajs: Sequence[Trajectory], group: int, gamma: float, pg_coef: float = 1.0,
                  normalize: bool = True, stop_reward: float = 0.0) -> list[Sample]:
    """Taken actions weighted by a leave-one-out group baseline (RLOO, Kool et al. 2019).

    ``trajs`` come in consecutive groups of ``group`` sampled episodes of the same seeded
    episode (same layout, start and instruction). An episode's advantage, on each of its
    steps, is its return minus the mean return of the others in its group: layout and
    route difficulty, which dominate a return, cancel out, so the weights say which
    behaviours did better on the same task. The value head still gets its returns.
    Weights are ``pg_coef`` times the advantage; ``stop_reward`` as in ``reinforce_samples``.
    """
    if group < 2:
        raise ValueError(f"a group baseline needs at least 2 episodes per group, got {group}")
    if len(trajs) % group:
        raise ValueError(f"{len(trajs)} episodes do not split into groups of {group}")
    rewards = [stop_rewards(t, stop_reward) for t in trajs]
    totals = np.array([float(np.sum(r)) for r in rewards]).reshape(-1, group)
    adv = (totals - (totals.sum(axis=1, keepdims=True) - totals) / (group - 1)).reshape(-1)
    if normalize:
        adv = adv / (adv.std() + 1e-6)
    return [Sample(t, t.actions, np.full(len(t), a, np.float32) * pg_coef,
                   discounted_returns(r, gamma).astype(np.float32)) for t, r, a in zip(trajs, rewards, adv)]


def loss_terms(y: dict[str, Any], y_pred: dict[str, Any], *, value_coef: float, entropy_coef: float,
               progress_coef: float = 0.0, target_coef: float = 0.0, goal_coef: float = 0.0,
               focal: float = 0.0) -> dict[str, Any]:
    """The loss of one teacher-forced minibatch, and its named terms (Keras ops, any backend).

    ``y`` holds ``actions``, ``weights``, ``mask``, ``returns``, ``value_mask`` (all (B, T)),
    for the progress loss ``progress``, ``progress_mask`` (B, T) and ``word_pos`` (B, L), and
    for the target-view loss ``target_view``, ``target_mask`` (B, T), for the goal-view loss
    ``goal_view``, ``goal_mask`` (B, T); ``y_pred`` the agent's ``logits`` (B, T, A), ``value``
    (B, T), ``attention`` (B, T, L) and, with a target or a goal head, ``target_logits`` or
    ``goal_logits`` (B, T, K).
    Returns ``loss`` and ``policy_loss`` (the weighted cross-entropy), ``entropy``,
    ``value_loss`` (times ``value_coef``).

    The progress loss (``progress_coef`` > 0, in ``loss`` only) asks that where the policy
    attends in the instruction move along it as the episode goes: the attention's mean word
    position (0 first word, 1 last) against how far along the route the step is. A
    Room-to-Room instruction describes the route in order, and without it the attention
    settled on the last words, whose encoder state summarises the whole sentence, at every
    step (the self-monitoring agent's progress monitor, Ma et al. 2019, in its simplest form).

    The target-view loss (``target_coef`` > 0, in ``loss`` only) is a cross-entropy on every
    labelled step: where in the view the route's next door or goal is (out of view, left,
    ahead, right), predicted from the policy's state and attended words. The action labels
    say which way to turn; this says which of the doors and objects in view the route means,
    a dense signal for telling the goal from the landmarks and the route's door from the others.

    The goal-view loss (``goal_coef`` > 0, in ``loss`` only) is the same cross-entropy on where
    the goal object itself is in the view, at every step of the route: which of the objects in
    view the instruction's last clause names, learnt on every frame that shows the goal or
    other objects rather than only at the stop.

    ``focal`` > 0 scales each step's cross-entropy by ``(1 - p) ** focal``, ``p`` the policy's
    probability of the labelled action (the focal loss, Lin et al. 2017): steps the policy
    already gets right (most of a route is walking on) weigh little, and the few decisions it
    gets wrong (which door, which object) weigh more. For imitation only: with REINFORCE's
    signed weights it would no longer be the policy gradient.
    """
    from keras import ops

    logits, value = y_pred["logits"], y_pred["value"]
    num_actions = logits.shape[-1]
    # Clip so padded steps holding e.g. -1 stay valid indices (their weight is 0).
    actions = ops.clip(ops.cast(y["actions"], "int32"), 0, num_actions - 1)
    weights = ops.cast(y["weights"], "float32")
    mask = ops.cast(y["mask"], "float32")
    returns = ops.cast(y["returns"], "float32")
    value_mask = ops.cast(y["value_mask"], "float32")

    logp = ops.log_softmax(logits, axis=-1)
    cross_entropy = -ops.sum(ops.one_hot(actions, num_actions) * logp, axis=-1)
    if focal > 0:
        # Floored: at p = 1 exactly the power's gradient is infinite for an exponent below 1.
        cross_entropy = ops.power(ops.maximum(1.0 - ops.exp(-cross_entropy), 1e-7), focal) * cross_entropy
    entropy_t = -ops.sum(ops.exp(logp) * logp, axis=-1)
    steps = ops.maximum(ops.sum(mask), 1.0)
    policy_loss = ops.sum(weights * cross_entropy) / steps
    entropy = ops.sum(mask * entropy_t) / steps
    value_loss = value_coef * ops.sum(value_mask * ops.square(value - returns)) / ops.maximum(ops.sum(value_mask), 1.0)
    loss = policy_loss - entropy_coef * entropy + value_loss
    if progress_coef > 0:
        where = ops.sum(y_pred["attention"] * ops.cast(y["word_pos"], "float32")[:, None, :], axis=-1)  # (B, T)
        progress_mask = ops.cast(y["progress_mask"], "float32")
        loss = loss + progress_coef * ops.sum(progress_mask * ops.square(where - ops.cast(y["progress"], "float32"))) \
            / ops.maximum(ops.sum(progress_mask), 1.0)
    if target_coef > 0:
        loss = loss + target_coef * view_cross_entropy(y_pred["target_logits"], y["target_view"], y["target_mask"])
    if goal_coef > 0:
        loss = loss + goal_coef * view_cross_entropy(y_pred["goal_logits"], y["goal_view"], y["goal_mask"])
    return {"loss": loss, "policy_loss": policy_loss, "entropy": entropy, "value_loss": value_loss}


def view_cross_entropy(logits: Any, labels: Any, mask: Any) -> Any:
    """Mean cross-entropy of ``logits`` (B, T, K) against the class ``labels`` (B, T) over the
    steps ``mask`` (B, T) marks: the auxiliary view heads' loss."""
    from keras import ops

    logp = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
    classes = logp.shape[-1]
    labels = ops.clip(ops.cast(labels, "int32"), 0, classes - 1)
    mask = ops.cast(mask, "float32")
    ce = -ops.sum(ops.one_hot(labels, classes) * logp, axis=-1)
    return ops.sum(mask * ce) / ops.maximum(ops.sum(mask), 1.0)


def objective(value_coef: float = 0.5, entropy_coef: float = 0.01, progress_coef: float = 0.0,
              target_coef: float = 0.0, goal_coef: float = 0.0,
              focal: float = 0.0) -> Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]:
    """``loss_terms`` with its coefficients bound: what ``VLNAgent.compile_for_training`` takes."""
    return functools.partial(loss_terms, value_coef=float(value_coef), entropy_coef=float(entropy_coef),
                             progress_coef=float(progress_coef), target_coef=float(target_coef),
                             goal_coef=float(goal_coef), focal=float(focal))
