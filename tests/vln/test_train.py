"""Training end to end: a tiny imitation run that must learn, and resume after a kill."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from vln.collection import run_episodes

from vln.policies import ExpertPolicy
from vln.config import preset
from vln.environments import make_vector_env
from vln.train import run

ROOT = Path(__file__).resolve().parents[2]
WORD_ENV = "examples.word_action_env:WordActionEnv"


def test_tiny_imitation_learns_word_actions(tmp_path):
    """Behaviour cloning alone must follow one-word instructions (chance is 1/64 for 3 steps)."""
    config = preset("tiny", env=WORD_ENV, out=str(tmp_path / "run"), il_episodes=256, il_epochs=8.0, dagger_rounds=0,
                    rl_updates=0, eval_episodes=64, batch_size=16, chunk=4, num_envs=16, hidden=32)
    t = time.time()
    results = run(config, progress=False)
    assert time.time() - t < 90
    assert results["success_rate"] >= 0.9, results
    for name in ("agent.keras", "config.json", "metrics.csv", "eval.json", "curves.png"):
        assert (tmp_path / "run" / name).exists(), name
    saved = json.loads((tmp_path / "run" / "eval.json").read_text())
    assert set(saved) >= {"success_rate", "spl", "navigation_error", "oracle_success_rate", "ndtw", "sdtw", "path_length", "episodes"}


def test_init_starts_from_a_saved_agent(tmp_path):
    """--init loads an agent, skips imitation, and its before-RL figures are the agent's own."""
    first = preset("tiny", env=WORD_ENV, out=str(tmp_path / "il"), il_episodes=64, dagger_rounds=0, rl_updates=0,
                   eval_episodes=16)
    il_results = run(first, progress=False)
    config = preset("tiny", env=WORD_ENV, out=str(tmp_path / "rl"), init_agent=str(tmp_path / "il"), rl_updates=2,
                    eval_episodes=16)
    run(config, progress=False)
    out = tmp_path / "rl"
    phases = {row.split(",")[0] for row in (out / "metrics.csv").read_text().splitlines()[1:]}
    assert phases == {"rl"}  # no imitation, no DAgger
    before = json.loads((out / "eval_before_rl.json").read_text())
    assert before["success_rate"] == il_results["success_rate"] and before["spl"] == il_results["spl"]
    assert json.loads((out / "config.json").read_text())["max_words"] == first.max_words
    assert (out / "agent.keras").exists() and (out / "eval.json").exists()
    with pytest.raises(ValueError, match="actions"):
        run(preset("tiny", out=str(tmp_path / "wrong"), init_agent=str(tmp_path / "il"), rl_updates=1), progress=False)

    # The leave-one-out group baseline: 8 envs = 2 episodes sampled 4 times each per update.
    group = preset("tiny", env=WORD_ENV, out=str(tmp_path / "group"), init_agent=str(tmp_path / "il"), rl_updates=2,
                   eval_episodes=0, rl_baseline="group", rl_group=4)
    run(group, progress=False)
    rows = (tmp_path / "group" / "metrics.csv").read_text().splitlines()[1:]
    assert [row.split(",")[0] for row in rows] == ["rl", "rl"]
    # --pg-coef 0 (with no imitation mix and no entropy bonus) is the ablation: the policy stays as it was.
    from vln.checkpoint import load_checkpoint

    ablation = preset("tiny", env=WORD_ENV, out=str(tmp_path / "ablation"), init_agent=str(tmp_path / "il"),
                      rl_updates=3, rl_value_warmup=1, eval_episodes=0, pg_coef=0.0, il_mix=0.0, entropy_coef=0.0)
    run(ablation, progress=False)
    (before, words), (after, _) = load_checkpoint(tmp_path / "il"), load_checkpoint(tmp_path / "ablation")
    env = make_vector_env(WORD_ENV, 4)
    obs, _ = env.reset(seed=7)
    tokens = before.vocab.encode_batch([str(m) for m in obs["mission"]], max_len=words)
    outs = [agent.step(agent.encode_instruction(tokens), obs["image"], np.full(4, agent.config.num_actions, np.int32),
                       agent.initial_state(4)) for agent in (before, after)]
    np.testing.assert_allclose(np.asarray(outs[0]["logits"]), np.asarray(outs[1]["logits"]), atol=1e-6)
    for bad, match in ((dict(rl_baseline="group", rl_group=3), "divide --num-envs"), (dict(rl_baseline="critic"), "--rl-baseline")):
        with pytest.raises(ValueError, match=match):
            run(preset("tiny", env=WORD_ENV, out=str(tmp_path / "bad"), init_agent=str(tmp_path / "il"), rl_updates=1,
                       **bad), progress=False)


def test_expert_waves_are_deterministic_and_complete():
    env = make_vector_env("vln/GoToObject-v0", 4)
    a = run_episodes(env, ExpertPolicy(), 6, seed=5)
    b = run_episodes(env, ExpertPolicy(), 6, seed=5)
    assert [t.seed for t in a] == [5, 6, 7, 8, 9, 10]
    assert all(t.success for t in a)
    for x, y in zip(a, b):
        assert x.mission == y.mission and np.array_equal(x.images, y.images) and np.array_equal(x.actions, y.actions)
        assert np.array_equal(x.actions, x.expert)


def test_existing_run_is_not_overwritten(tmp_path):
    config = preset("tiny", env=WORD_ENV, out=str(tmp_path / "run"), il_episodes=16, dagger_rounds=0, rl_updates=0,
                    eval_episodes=0)
    run(config, progress=False)
    with pytest.raises(ValueError, match="--resume"):
        run(preset("tiny", env=WORD_ENV, out=str(tmp_path / "run")), progress=False)


def test_resume_after_kill(tmp_path):
    """Kill a run once it has checkpointed; --resume finishes it from the checkpoint."""
    out = tmp_path / "run"
    cmd = [sys.executable, str(ROOT / "scripts" / "train.py"), "--preset", "tiny", "--out", str(out), "--no-progress",
           "--rl-updates", "40", "--eval-episodes", "8"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = out / "checkpoint" / "state.json"
    deadline = time.time() + 120
    while time.time() < deadline:
        if state.exists() and json.loads(state.read_text()).get("phase") == "rl" and json.loads(state.read_text())["update"] >= 20:
            break
        time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("the run never checkpointed in the RL phase")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = json.loads(state.read_text())
    assert not (out / "eval.json").exists()
    done = subprocess.run(cmd + ["--resume"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    final = json.loads(state.read_text())
    assert final["phase"] == "done" and final["update"] == 40 and final["update"] > killed_at["update"]
    rows = (out / "metrics.csv").read_text().splitlines()[1:]
    rl_steps = [int(r.split(",")[1]) for r in rows if r.startswith("rl,")]
    assert rl_steps == sorted(set(rl_steps)) and rl_steps[-1] == 40  # no step logged twice
    assert (out / "eval.json").exists()


def test_time_budget_cuts_phases(tmp_path):
    """Once the budget is spent, every phase stops (after at least one update) and evaluation still runs."""
    config = preset("tiny", out=str(tmp_path / "run"), il_epochs=50.0, dagger_rounds=3, rl_updates=50,
                    time_budget_s=1e-3)
    results = run(config, progress=False)
    assert results["episodes"] == config.eval_episodes
    rows = (tmp_path / "run" / "metrics.csv").read_text().splitlines()[1:]
    assert [r.split(",")[0] for r in rows] == ["il"]  # one imitation row; no DAgger round, no REINFORCE update


def test_time_budget_keeps_its_reserve_for_reinforce(tmp_path):
    """With rl_reserve, imitation stops once the budget less the reserved share is spent, and
    REINFORCE still runs in the reserve; a share of 1 or more is refused."""
    config = preset("tiny", out=str(tmp_path / "run"), il_epochs=50.0, dagger_rounds=3, rl_updates=2,
                    time_budget_s=300.0, rl_reserve=0.99999)
    run(config, progress=False)
    rows = (tmp_path / "run" / "metrics.csv").read_text().splitlines()[1:]
    assert [r.split(",")[0] for r in rows] == ["il", "rl", "rl"]  # cloning cut, no DAgger round, both updates
    assert (tmp_path / "run" / "eval_before_rl.json").exists()
    with pytest.raises(ValueError, match="--rl-reserve is a share"):
        preset("tiny", time_budget_s=60.0, rl_reserve=1.0)
    assert preset("default", time_budget_s=60.0).rl_reserve == 0.18  # a short budget keeps the same share


def test_the_main_job_trains_a_route_follower_by_imitation_then_reinforce():
    config = preset("default")
    assert config.env == "vln/FollowRoute-v0"
    assert config.il_episodes > 0 and config.dagger_rounds > 0 and config.rl_updates > 0
    assert config.monitor_episodes > 0  # held-out success on the learning curves
    # Trained on harder layouts than it is judged on: the monitor and evaluation keep 2-3 rooms.
    assert config.env_kwargs["num_rooms"] == [2, 3] and config.train_env_kwargs["num_rooms"] == [3, 3]
    assert config.bidirectional and config.film_last_word  # the goal's clause reaches the visual features
    assert preset("goto").env == "vln/GoToObject-v0"


def test_a_run_keeps_its_imitation_agent_and_monitors_heldout_success(tmp_path):
    """agent_before_rl.keras is the agent eval_before_rl.json measured; held-out success is logged per phase."""
    import csv

    from agents import load_agent
    from vln.evaluation import evaluate

    out = tmp_path / "run"
    config = preset("tiny", env=WORD_ENV, out=str(out), il_episodes=64, dagger_rounds=1, rl_updates=2, checkpoint_every=1,
                    eval_episodes=16, monitor_episodes=8)
    run(config, progress=False)
    before = json.loads((out / "eval_before_rl.json").read_text())
    summary, _ = evaluate(load_agent(out / "agent_before_rl.keras"), WORD_ENV, 16, config.eval_seed, "train",
                          max_words=config.max_words)
    assert summary["success_rate"] == before["success_rate"] and summary["path_length"] == before["path_length"]
    with open(out / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    heldout = {(r["phase"], r["step"]): float(r["heldout_success_rate"]) for r in rows if r["heldout_success_rate"] != ""}
    assert set(heldout) == {("il", "0"), ("dagger", "1"), ("rl", "1"), ("rl", "2")}
    assert all(0.0 <= v <= 1.0 for v in heldout.values())


def test_dagger_replay_trains_on_the_new_samples_and_a_seeded_draw_of_the_old():
    from types import SimpleNamespace

    from vln.phases import replayed

    def run_with(replay: int, seed: int = 0):
        return SimpleNamespace(config=SimpleNamespace(dagger_replay=replay), rng=np.random.default_rng(seed))

    data = list(range(100))  # stand-ins for samples: 90 earlier, 10 new
    assert replayed(run_with(0), data, 10) is data
    got = replayed(run_with(25), data, 10)
    assert got[:10] == data[90:] and len(got) == 35
    assert len(set(got[10:])) == 25 and all(x < 90 for x in got[10:])
    assert got == replayed(run_with(25), data, 10)  # the run's seed decides the draw
    assert got != replayed(run_with(25, seed=1), data, 10)
    assert sorted(replayed(run_with(500), data, 10)) == data  # asked for more than there is: all of it


def test_train_env_kwargs_reach_the_training_envs_only(tmp_path, monkeypatch):
    """A curriculum (train_env_kwargs) changes the training envs; the monitor and eval.json keep env_kwargs."""
    import vln.environments
    import vln.train

    made = []
    real = vln.environments.make_vector_env

    def recording(name, num_envs, split="train", env_kwargs=None, **kw):
        made.append((split, dict(env_kwargs or {})))
        return real(name, num_envs, split, env_kwargs, **kw)

    monkeypatch.setattr(vln.train, "make_vector_env", recording)
    monkeypatch.setattr(vln.environments, "make_vector_env", recording)
    route = {"num_rooms": [2, 2], "max_steps": 20}
    config = preset("tiny", env="vln/FollowRoute-v0", env_kwargs=route, train_env_kwargs={"lookalikes": 1.0},
                    out=str(tmp_path / "run"), rl_updates=0, monitor_episodes=4)
    assert config.training_env_kwargs() == {**route, "lookalikes": 1.0}
    run(config, progress=False)
    assert made[0] == ("train", {**route, "lookalikes": 1.0})
    assert len(made) > 1 and all(kwargs == route for _, kwargs in made[1:]), made
    assert {split for split, _ in made[1:]} >= {"seen", "unseen"}


def test_an_extra_env_adds_its_expert_demonstrations(tmp_path):
    """--extra-env's demonstrations join the main env's (multi-task imitation); an env with other
    frames, or the flags apart, is refused."""
    from vln import phases
    from vln.run_state import RunState
    from vln.train import make_extra_env

    config = preset("tiny", env="vln/FollowRoute-v0", env_kwargs={"num_rooms": [2, 2], "max_steps": 40},
                    extra_env="vln/GoToObject-v0", extra_episodes=5, il_episodes=4, out=str(tmp_path / "run"))
    env = make_vector_env(config.env, config.num_envs, "train", config.training_env_kwargs(), imitation=True)
    extra = make_extra_env(config, env)
    try:
        dataset, _ = phases.demonstrations(RunState(config, progress=False), env, extra)
    finally:
        extra.close()
    routes = [s for s in dataset if "door" in s.traj.mission]  # every route names a door; no GoToObject mission does
    assert len(routes) == 4 and len(dataset) == 9
    assert all(s.traj.seed >= phases.EXTRA_SEED for s in dataset if "door" not in s.traj.mission)
    with pytest.raises(ValueError, match="--extra-env vln/GoToObject-v0 has 4 actions and frames \\(32, 32, 3\\)"):
        make_extra_env(preset("tiny", env="vln/FollowRoute-v0", extra_env="vln/GoToObject-v0", extra_episodes=5,
                              extra_env_kwargs={"view_size": 32}), env)
    env.close()
    with pytest.raises(ValueError, match="--extra-env and --extra-episodes go together"):
        preset("tiny", extra_episodes=5)
