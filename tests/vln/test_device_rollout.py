"""The compiled device rollout takes the CPU path's trajectories, and trains through the existing objectives.

In a subprocess with ``KERAS_BACKEND=jax`` on JAX's CPU backend: a fixed (greedy) tiny
agent runs the same FollowRoute episodes through ``vln.collection.run_wave`` on the CPU
vector env and through ``DeviceRollout`` (the agent's stateless call and the functional
env in one ``lax.scan``); lengths, actions, expert labels, frames, rewards and values
agree. With ``beta=1`` the expert's looked-up actions drive (and succeed). Then one
REINFORCE update from a sampled device wave through ``fit`` (``reinforce_update``) and,
from the same weights, on the device (``device_reinforce_update``): the same loss terms.

A training run with ``device_rollout=True`` collects DAgger's and REINFORCE's episodes through
``vln.phases.collect`` on the device: for the same seeds, the same episodes as the CPU path
(missions, greedy actions, expert labels); a tiny run completes. Its up-front checks refuse
what the functional env cannot do, before anything is written.
"""

import pytest

pytest.importorskip("jax")

_SCRIPT = """
import json, sys
from pathlib import Path
from types import SimpleNamespace
import numpy as np, keras, jax
from agents import AgentConfig, VLNAgent
from agents.vocabulary import Vocabulary
from envs.functional.gym_env import NavFunctional
from envs.tasks import FollowRouteTask, FollowRouteVectorEnv
from vln import phases
from vln.collection import run_wave, sample_missions
from vln.config import preset
from vln.device_rollout import DeviceEpisodes, DeviceRollout, bank_tokenizer, device_reinforce_update, reinforce_update
from vln.objectives import objective
from vln.policies import AgentPolicy
from vln.train import run

keras.utils.set_random_seed(0)
n, max_steps, words, first = 4, 14, 32, 20
cpu = FollowRouteVectorEnv(num_envs=n, max_steps=max_steps, reward_shaping=True)
vocab = Vocabulary.build(sample_missions(cpu, 32, 0))
agent = VLNAgent(AgentConfig(vocab_size=len(vocab), num_actions=4, hidden=16, text_hidden=8, conv_filters=(4, 4, 4)), vocab)
# Sharper random logits (actions that depend on what the agent sees), STOP rarer.
kernel, bias = agent.policy_head.get_weights()
bias[3] -= 2.0
agent.policy_head.set_weights([kernel * 8.0, bias])
agent.value_head.set_weights([w + 0.1 for w in agent.value_head.get_weights()])
ref = run_wave(cpu, AgentPolicy(agent, "greedy", max_words=words), list(range(first, first + n)))
func = NavFunctional(FollowRouteTask(max_steps=max_steps), max_steps=max_steps, reward_shaping=True, bank_size=n,
                     bank_start=first, tokenize=bank_tokenizer(agent, words))
got = DeviceRollout(agent, func, mode="greedy")
got = got.trajectories(got.collect(np.arange(n), jax.random.PRNGKey(0)))
out = {"cpu": [], "device": []}
for key, trajs in (("cpu", ref), ("device", got)):
    for t in trajs:
        out[key].append({"mission": t.mission, "seed": t.seed, "actions": t.actions.tolist(), "expert": t.expert.tolist(),
                         "rewards": t.rewards.astype(np.float32).tolist(), "values": t.values.tolist(),
                         "success": bool(t.info["success"]), "frames": int(len(t.images))})
out["frames_equal"] = [bool(np.array_equal(a.images, b.images)) for a, b in zip(ref, got)]
# A training run's collections (vln.phases.collect): DAgger's and REINFORCE's seeds on the CPU
# env and on the device (DeviceEpisodes, its bank refilled per wave) give the same episodes.
runs = {"cpu": SimpleNamespace(device=None),
        "device": SimpleNamespace(device=DeviceEpisodes(agent, "vln/FollowRoute-v0",
                                                        {"max_steps": max_steps, "reward_shaping": True}, n, words))}
seeds = {"dagger": range(phases.DAGGER_SEED, phases.DAGGER_SEED + 6),  # a wave and part of one
         "rl": range(phases.RL_SEED, phases.RL_SEED + n), "group": [phases.RL_SEED + i // 2 for i in range(n)]}

def collected(path, name, beta=0.0):
    policy = AgentPolicy(agent, "greedy", beta=beta, seed=0, max_words=words)
    return [{"mission": t.mission, "seed": t.seed, "actions": t.actions.tolist(), "expert": t.expert.tolist(),
             "success": t.success} for t in phases.collect(runs[path], cpu, policy, seeds[name])]

out["collect"] = {name: {path: collected(path, name) for path in runs} for name in seeds}
out["collect"]["expert_led"] = {path: collected(path, "dagger", beta=1.0) for path in runs}
# DAgger's mixture at beta 1: the expert drives, its labels from the bank's tables (it succeeds
# where its path fits in the 14 steps).
dagger = DeviceRollout(agent, func, mode="sample", beta=1.0)
led = dagger.trajectories(dagger.collect(np.arange(n), jax.random.PRNGKey(2)))
out["expert_led"] = [bool((t.actions == t.expert).all()) for t in led]
out["expert_success"] = [t.success for t in led]
# One REINFORCE update of a sampled wave through fit (frames on the host), then, from the same
# weights, the same wave's update on the device: the same loss terms.
before = [w.copy() for w in agent.get_weights()]
agent.compile_for_training(objective(value_coef=0.5, entropy_coef=0.01), learning_rate=1e-3)
sampled = DeviceRollout(agent, func, mode="sample")
trajs, host = reinforce_update(agent, sampled, np.arange(n), jax.random.PRNGKey(1), gamma=0.95, batch_size=n,
                               chunk=max_steps, max_words=words, rng=np.random.default_rng(0))
changed = any(not np.array_equal(a, b) for a, b in zip(before, agent.get_weights()))
agent.set_weights(before)
dev_trajs, dev = device_reinforce_update(agent, sampled, np.arange(n), jax.random.PRNGKey(1), gamma=0.95,
                                         max_words=words)
out["update"] = {"episodes": len(trajs), "finite": bool(np.isfinite(host["loss"])), "changed": changed,
                 "same_wave": [a.actions.tolist() == b.actions.tolist() for a, b in zip(trajs, dev_trajs)],
                 "device_changed": any(not np.array_equal(a, b) for a, b in zip(before, agent.get_weights()))}
out["terms"] = {"host": host, "device": dev}
# A tiny training run collecting DAgger's and REINFORCE's episodes on the device (no sample
# video: its CPU rollout's compiles are not what this checks).
import vln.recording
vln.recording.write_sample_video = lambda *args, **kwargs: None
folder = Path(sys.argv[1]) / "run"
run(preset("tiny", env="vln/FollowRoute-v0", env_kwargs={"num_rooms": [2, 2], "max_steps": 12}, device_rollout=True,
           out=str(folder), num_envs=n, hidden=16, text_hidden=8, il_episodes=8, dagger_episodes=n, rl_updates=1,
           chunk=12, eval_episodes=0), progress=False)
out["phases"] = [line.split(",")[0] for line in (folder / "metrics.csv").read_text().splitlines()[1:]]
print("RESULTS " + json.dumps(out))
"""


def test_the_device_rollout_takes_the_cpu_paths_trajectories(tmp_path, script_results):
    """One subprocess for all the JAX checks: its imports and the agent's compiles are paid once."""
    result = script_results(_SCRIPT, tmp_path, KERAS_BACKEND="jax")
    cpu, dev = result["cpu"], result["device"]
    assert len(cpu) == len(dev) == 4
    for a, b in zip(cpu, dev):
        for key in ("mission", "seed", "actions", "expert", "rewards", "success", "frames"):
            assert a[key] == b[key], (key, a[key], b[key])
        assert max(abs(x - y) for x, y in zip(a["values"], b["values"])) < 1e-4
    assert all(result["frames_equal"])
    assert result["expert_led"] == [True] * 4 and any(result["expert_success"])
    assert len({a for t in cpu for a in t["actions"]}) >= 2  # the actions vary
    assert result["update"] == {"episodes": 4, "finite": True, "changed": True, "same_wave": [True] * 4,
                                "device_changed": True}
    host, dev = result["terms"]["host"], result["terms"]["device"]
    for term in ("loss", "policy_loss", "value_loss", "entropy"):
        assert abs(host[term] - dev[term]) <= 1e-4 * max(1.0, abs(host[term])), (term, host, dev)
    assert host["value_loss"] > 0 and host["entropy"] > 0
    # Through vln.phases.collect, DAgger's and REINFORCE's seeds give the same episodes on both paths.
    for name, paths in result["collect"].items():
        assert len(paths["cpu"]) == len(paths["device"]) == (4 if name in ("rl", "group") else 6), name
        assert paths["cpu"] == paths["device"], name
    assert len({a for t in result["collect"]["dagger"]["cpu"] for a in t["actions"]}) >= 2
    assert all(t["actions"] == t["expert"] for t in result["collect"]["expert_led"]["device"])
    assert [t["seed"] for t in result["collect"]["group"]["device"]] == [20_000_000, 20_000_000, 20_000_001, 20_000_001]
    # The tiny run with --device-rollout completed, logging DAgger and REINFORCE.
    assert {"il", "dagger", "rl"} <= set(result["phases"]), result["phases"]


def test_device_rollout_is_refused_where_it_cannot_run(tmp_path, monkeypatch):
    """Checked before anything is written, each with a one-line message naming the flag."""
    import keras

    from vln.config import preset
    from vln.device_rollout import functional_env_kwargs
    from vln.train import run

    out = tmp_path / "run"

    def refused(message: str, **overrides) -> None:
        with pytest.raises(ValueError, match=message) as caught:
            run(preset("tiny", out=str(out), device_rollout=True, **overrides), progress=False)
        assert "--device-rollout" in str(caught.value) and "\n" not in str(caught.value)
        assert not out.exists()

    refused("needs a built-in env with a -jax-v0 twin", env="examples.word_action_env:WordActionEnv")
    refused("only the shortest-path expert, not --env-kwargs expert='in_view'", env="vln/FollowRoute-v0",
            env_kwargs={"num_rooms": [2, 3], "expert": "in_view"})
    refused("takes no --env-kwargs colours", env_kwargs={"colours": 3})
    monkeypatch.setattr(keras.backend, "backend", lambda: "tensorflow")
    refused("needs the JAX backend")
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    refused("without --data-parallel", data_parallel=True)
    # What it can do: the CPU env's arguments the twin takes, the shortest-path expert dropped.
    kwargs = {"num_rooms": [2, 3], "max_steps": 60, "reward_shaping": True, "view_size": 32, "expert": "shortest"}
    assert functional_env_kwargs("vln/FollowRoute-v0", kwargs) == {k: v for k, v in kwargs.items() if k != "expert"}
