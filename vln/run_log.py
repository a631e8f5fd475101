"""What a training run writes as it goes: metrics.csv, TensorBoard event files, the progress bar, curves.png.

metrics.csv and the event files (written by tensorboardX, which needs no TensorFlow, so the
JAX path logs too) lie side by side in the run folder. Scalars are tagged ``<phase>/<term>``
(e.g. ``il/loss``, ``rl/success_rate``, ``rl/heldout_success_rate``, ``dagger/train_frames_per_s``) against the training
frames seen; held-out results are tagged ``eval/<split>/<metric>``.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

METRIC_FIELDS = ("phase", "step", "env_frames", "train_frames", "loss", "policy_loss", "value_loss", "entropy",
                 "success_rate", "heldout_success_rate", "wall_time")
LOSS_TERMS = ("loss", "policy_loss", "value_loss", "entropy")


class RunLog:
    """Appends metric rows to ``metrics.csv`` and the TensorBoard event files of a run folder."""

    def __init__(self, run_dir: str | Path, progress: bool = True, purge_step: int | None = None) -> None:
        self.dir = Path(run_dir)
        self.bar = None
        if progress:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=None, unit=" updates", dynamic_ncols=True)
        # A resumed run redoes what followed its checkpoint: TensorBoard hides those events.
        self.purge_step = purge_step
        self._tb = None
        self._last: tuple[float, float] | None = None  # (train frames, wall time) of the last row

    @property
    def tensorboard(self):
        if self._tb is None:
            from tensorboardX import SummaryWriter

            self._tb = SummaryWriter(logdir=str(self.dir), purge_step=self.purge_step, flush_secs=10)
        return self._tb

    def row(self, row: Mapping[str, Any]) -> None:
        """One metrics.csv row (the fields of ``METRIC_FIELDS``), mirrored to TensorBoard."""
        path = self.dir / "metrics.csv"
        new = not path.exists() or path.stat().st_size == 0  # a resume may leave it empty
        with open(path, "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=METRIC_FIELDS)
            if new:
                writer.writeheader()
            writer.writerow(row)
        phase, frames, wall = row["phase"], int(row["train_frames"]), float(row["wall_time"])
        for key in (*LOSS_TERMS, "success_rate", "heldout_success_rate"):
            if row.get(key, "") != "":
                self.tensorboard.add_scalar(f"{phase}/{key}", float(row[key]), global_step=frames)
        if self._last is not None and wall > self._last[1] and frames >= self._last[0]:
            rate = (frames - self._last[0]) / (wall - self._last[1])
            self.tensorboard.add_scalar(f"{phase}/train_frames_per_s", rate, global_step=frames)
        self._last = (frames, wall)
        if self.bar is not None:
            self.bar.set_postfix_str(
                f"{phase} frames={frames} loss={float(row.get('loss') or 'nan'):.3f}"
                + ("" if row.get("success_rate", "") == "" else f" sr={float(row['success_rate']):.2f}"))

    def progress(self, phase: str, stats: Mapping[str, float], train_frames: int) -> None:
        """One minibatch trained: the progress bar moves."""
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix_str(f"{phase} frames={train_frames} loss={stats['loss']:.3f}")

    def evaluation(self, results: Mapping[str, Any], train_frames: int) -> None:
        """Held-out results (``evaluate_splits`` output) as ``eval/<split>/<metric>`` scalars."""
        splits = {results.get("split", "unseen"): results}
        if isinstance(results.get("seen"), Mapping) and results.get("split") != "train":
            splits["seen"] = results["seen"]
        for split, summary in splits.items():
            for key, value in summary.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool) and value == value:
                    self.tensorboard.add_scalar(f"eval/{split}/{key}", float(value), global_step=train_frames)

    def keep_rows(self, rows: int) -> None:
        """Drop the metrics.csv rows past the first ``rows`` (those a resumed run redoes)."""
        from vln.checkpoint import atomic_write_text

        path = self.dir / "metrics.csv"
        if path.exists():
            lines = path.read_text().splitlines(keepends=True)
            atomic_write_text(path, "".join(lines[: 1 + rows] if rows else []))

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def write_curves(run_dir: str | Path) -> None:
    """Learning curves from metrics.csv into curves.png (matplotlib, headless).

    Left: the loss per phase. Right: success per phase, of the episodes each phase ran (DAgger
    mixes in the expert's actions; REINFORCE samples) and, where the run monitored it, of
    greedy held-out episodes. Both against training frames.
    """
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

    def points(phase: str, key: str) -> list[tuple[float, float]]:
        return [(float(r["train_frames"]), float(r[key])) for r in rows if r["phase"] == phase and r.get(key, "") != ""]

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for phase, color in (("il", "tab:blue"), ("dagger", "tab:orange"), ("rl", "tab:green")):
        for ax, key, style, label in ((axes[0], "loss", "o-", phase), (axes[1], "success_rate", "o-", f"{phase} (rollouts)"),
                                      (axes[1], "heldout_success_rate", "s--", f"{phase} (held-out, greedy)")):
            pts = points(phase, key)
            if pts:
                ax.plot(*zip(*pts), style, color=color, label=label, ms=3)
    axes[0].set(xlabel="training frames", ylabel="loss", title="loss")
    axes[1].set(xlabel="training frames", ylabel="success rate", title="success", ylim=(0, 1.02))
    for ax in axes:
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    tmp = Path(run_dir) / ".curves.tmp.png"
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, Path(run_dir) / "curves.png")
