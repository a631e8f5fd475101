"""What a run logs: TensorBoard event files beside metrics.csv, read back without TensorFlow."""

import csv
import struct

import pytest

from vln.config import preset
from vln.run_log import RunLog
from vln.train import run

WORD_ENV = "examples.word_action_env:WordActionEnv"


def read_events(path) -> list:
    """The ``Event`` protobufs of one event file: TFRecords (length, CRC, event, CRC); tensorboardX ships the proto."""
    from tensorboardX.proto.event_pb2 import Event

    data, pos, out = path.read_bytes(), 0, []
    while pos < len(data):
        (length,) = struct.unpack("<Q", data[pos:pos + 8])
        out.append(Event.FromString(data[pos + 12:pos + 12 + length]))
        pos += 12 + length + 4
    return out


def read_scalars(folder) -> dict[str, list[tuple[int, float]]]:
    """Every scalar of the event files in ``folder``: tag -> [(step, value)], in file order."""
    out: dict[str, list[tuple[int, float]]] = {}
    for path in sorted(folder.glob("events.out.tfevents.*")):
        for event in read_events(path):
            for value in event.summary.value:
                out.setdefault(value.tag, []).append((event.step, value.simple_value))
    return out


def test_training_writes_tensorboard_scalars_beside_metrics_csv(tmp_path):
    config = preset("tiny", env=WORD_ENV, out=str(tmp_path / "run"), il_episodes=64, dagger_rounds=1, rl_updates=2,
                    eval_episodes=8)
    run(config, progress=False)
    folder = tmp_path / "run"
    scalars = read_scalars(folder)
    with open(folder / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    # Each metrics.csv row is in TensorBoard: the phase's loss at its training frames.
    for row in rows:
        assert (int(row["train_frames"]), pytest.approx(float(row["loss"]))) in scalars[f"{row['phase']}/loss"]
    for tag in ("il/loss", "il/policy_loss", "dagger/success_rate", "rl/success_rate", "rl/value_loss",
                "dagger/train_frames_per_s", "eval/unseen/success_rate", "eval/seen/spl"):
        assert tag in scalars, sorted(scalars)
    assert all(v > 0 for _, v in scalars["dagger/train_frames_per_s"])


def test_a_resumed_log_purges_the_steps_it_redoes(tmp_path):
    log = RunLog(tmp_path, progress=False)
    row = dict(phase="il", step=0, env_frames=0, loss=1.0, policy_loss=1.0, value_loss=0.0, entropy=1.0, success_rate="")
    for frames, wall in ((100, 1.0), (200, 2.0)):
        log.row({**row, "train_frames": frames, "wall_time": wall})
    log.close()
    resumed = RunLog(tmp_path, progress=False, purge_step=150)
    resumed.row({**row, "train_frames": 200, "loss": 0.5, "wall_time": 3.0})
    resumed.close()
    # The resumed writer starts with a purge marker at 150: TensorBoard hides the first run's 200.
    from tensorboardX.proto.event_pb2 import SessionLog

    events = [e for path in sorted(tmp_path.glob("events.out.tfevents.*")) for e in read_events(path)]
    assert any(e.session_log.status == SessionLog.START and e.step == 150 for e in events)
