"""Where a training run stands: its phase, counters and RNG, and the checkpoint that saves them.

All of ``--resume``'s bookkeeping lives here. A run goes through ``PHASES`` in order; a phase
function asks ``pending(phase)`` whether it still has work, and ends with ``complete(phase,
agent)``, which moves the run to the next phase and checkpoints it. A resumed run restores
the counters from the checkpoint, so each phase continues where it stopped, and drops the
metric rows logged after that checkpoint.

A stop signal (``vln.preemption``) is looked at through ``should_pause`` and ``stop_here``.
Behaviour cloning can be checkpointed between minibatches: ``minibatch`` counts those done,
and such a checkpoint keeps the RNG as it was when the fit drew its minibatch order, so a
resume draws the same order and skips the minibatches done.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from vln.checkpoint import write_checkpoint
from vln.config import TrainConfig
from vln.optimiser import NonFiniteLoss
from vln.preemption import Stopped, requested
from vln.run_log import LOSS_TERMS, RunLog

PHASES = ("il", "dagger", "rl", "done")


class RunState:
    """The state of one training run: what a checkpoint saves, and the log it appends to."""

    def __init__(self, config: TrainConfig, progress: bool = True) -> None:
        self.config = config
        self.dir = Path(config.out)
        self.ckpt_dir = self.dir / "checkpoint"
        self.counters = {"phase": PHASES[0], "round": 0, "update": 0, "env_frames": 0, "train_frames": 0,
                         "metrics_rows": 0, "wall_time": 0.0, "minibatch": 0}
        self.rng = np.random.default_rng(config.seed)
        self.fit_rng: dict[str, Any] | None = None  # the RNG before a resumable fit drew its order
        self.started = time.time()
        self.last_saved = ""  # what the checkpoint on disk holds, for error messages
        self.progress = progress
        self.log_to: RunLog | None = None
        self.resumed_at: int | None = None  # training frames of the checkpoint a resume continues from
        # With --device-rollout, where DAgger and REINFORCE collect (vln.device_rollout.DeviceEpisodes;
        # set by vln.train); None: on the CPU vector env.
        self.device: Any = None
        # With --colour-swap, each training minibatch's recolouring (vln.augmentation.ColourSwap;
        # set by vln.train once the agent's vocabulary is known); None: off.
        self.augment: Any = None

    # ------------------------------------------------------------ phases
    def pending(self, phase: str) -> bool:
        """Whether the run is in ``phase`` (a phase already completed, e.g. before a resume, is not)."""
        return self.counters["phase"] == phase

    def complete(self, phase: str, agent) -> None:
        """``phase`` is done: the run moves to the next phase, checkpointed."""
        self.counters["phase"] = PHASES[PHASES.index(phase) + 1]
        self.save_checkpoint(agent)

    def skip_to(self, phase: str) -> None:
        """Start at ``phase`` (a run from a trained agent, ``--init``, has no imitation)."""
        self.counters["phase"] = phase

    # ------------------------------------------------------------ time
    def elapsed(self) -> float:
        return self.counters["wall_time"] + (time.time() - self.started)

    def out_of_time(self, imitation: bool = False) -> bool:
        """Whether the run's training time budget (``time_budget_s``, 0: none) is spent; for
        ``imitation``, the budget less the share it keeps for REINFORCE (``rl_reserve``)."""
        budget = self.config.time_budget_s
        if imitation and self.config.rl_updates > 0:
            budget *= 1 - self.config.rl_reserve
        return 0 < self.config.time_budget_s and budget <= self.elapsed()

    # ------------------------------------------------------------ stop signals
    def should_pause(self, imitation: bool = False) -> bool:
        """A loop's stop test: the time budget (``out_of_time``) is spent, or a stop signal came."""
        return requested() is not None or self.out_of_time(imitation)

    def stop_here(self, agent=None, during: str | None = None, why: str | None = None) -> None:
        """At a safe point: where a stop signal came, checkpoint ``agent`` (given where the
        weights match the counters) and raise ``Stopped``; ``why`` says why nothing is saved."""
        signum = requested()
        if signum is None:
            return
        if agent is not None:
            self.save_checkpoint(agent)
            kept = f"checkpoint saved after {self.last_saved}"
        else:
            kept = (f"{why}; " if why else "") + self.kept()
        raise Stopped(signum, during or self.training_now(), kept, str(self.dir))

    # ------------------------------------------------------------ logging
    @property
    def log(self) -> RunLog:
        if self.log_to is None:
            self.log_to = RunLog(self.dir, self.progress, purge_step=self.resumed_at)
        return self.log_to

    def log_row(self, phase: str, stats: dict[str, float], success_rate: float | None = None,
                heldout: float | None = None) -> None:
        """One metrics row of ``phase`` at the current counters (``heldout``: greedy held-out success)."""
        c = self.counters
        row = {"phase": phase, "step": c["update"] if phase == "rl" else c["round"], "env_frames": c["env_frames"],
               "train_frames": c["train_frames"], "success_rate": "" if success_rate is None else success_rate,
               "heldout_success_rate": "" if heldout is None else heldout, "wall_time": round(self.elapsed(), 2)}
        row.update({k: stats.get(k, "") for k in LOSS_TERMS})
        self.log.row(row)
        c["metrics_rows"] += 1

    # ------------------------------------------------------------ checkpoint
    def training_now(self) -> str:
        """The step being trained, for error messages."""
        c = self.counters
        return {"il": "behaviour cloning", "dagger": f"DAgger round {c['round'] + 1}",
                "rl": f"REINFORCE update {c['update'] + 1}"}.get(c["phase"], "the end")

    def saved_after(self) -> str:
        """What the counters say is done (so what a checkpoint of them holds)."""
        c = self.counters
        if c["phase"] == "il" and c["minibatch"]:
            return f"behaviour cloning minibatch {c['minibatch']}"
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
        rng = self.fit_rng if self.counters["minibatch"] else self.rng.bit_generator.state
        state = dict(self.counters, wall_time=self.elapsed(), rng=rng)
        write_checkpoint(agent, self.ckpt_dir, state)
        self.last_saved = self.saved_after()

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint's ``state``: counters, RNG, and metrics.csv cut back to it."""
        self.rng.bit_generator.state = state.pop("rng")
        self.counters.update(state)
        self.started = time.time()
        self.last_saved = self.saved_after()
        self.resumed_at = int(self.counters["train_frames"])
        for stale in self.ckpt_dir.glob(".*.keras"):  # temp files of a save the kill interrupted
            stale.unlink(missing_ok=True)
        self.log.keep_rows(self.counters["metrics_rows"])  # rows logged after the checkpoint are redone

    def close(self) -> None:
        if self.log_to is not None:
            self.log_to.close()
