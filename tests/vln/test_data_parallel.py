"""The data-parallel learner: JAX with 2 virtual CPU devices, keras.distribution.DataParallel.

In a subprocess (the device count is fixed when JAX starts): one training step on the same
minibatch gives the same loss and the same updated weights on one device as sharded over
two, and a tiny run with ``data_parallel`` trains and evaluates.
"""

import numpy as np

_SCRIPT = """
import json, sys
import numpy as np
import keras
from vln.batching import minibatch_arrays
from vln.collection import run_episodes, sample_missions
from vln.config import preset
from vln.environments import make_vector_env
from vln.objectives import imitation_samples, objective
from vln.optimiser import update_chunks
from vln.policies import ExpertPolicy, movement_actions
from vln.train import build_agent, data_parallel, run

out = sys.argv[1]
config = preset("tiny", env="examples.word_action_env:WordActionEnv", out=out + "/run", data_parallel=True,
                il_episodes=32, rl_updates=2, eval_episodes=8)
env = make_vector_env(config.env, 8, "train", {})
config.max_words = 16
samples = imitation_samples(run_episodes(env, ExpertPolicy(0.1, movement_actions(env), seed=0), 8, 0))
missions = sample_missions(env, 64, 0)
result = {"devices": len(keras.distribution.list_devices())}
for name in ("one", "two"):
    import contextlib
    with data_parallel(config) if name == "two" else contextlib.nullcontext():
        keras.utils.set_random_seed(0)
        agent = build_agent(config, env, missions)
        agent.compile_for_training(objective(value_coef=0.0, entropy_coef=0.0), learning_rate=1e-3, clipnorm=1.0)
        feed = minibatch_arrays(agent, samples, chunk=config.chunk, max_words=config.max_words)
        stats = update_chunks(agent, feed, chunk=config.chunk)
        placed = len(agent.trainable_variables[0].value.sharding.device_set)
        result[name] = {"loss": stats["loss"], "placed": placed, "weights": [np.asarray(w).tolist() for w in agent.get_weights()]}
env.close()
result["run"] = run(config, progress=False)["episodes"]
try:
    run(preset("tiny", out=out + "/odd", data_parallel=True, batch_size=7), progress=False)
except ValueError as exc:
    result["odd"] = str(exc)
print("RESULTS " + json.dumps(result))
"""


def test_two_devices_take_the_step_of_one(tmp_path, script_results):
    result = script_results(_SCRIPT, tmp_path, KERAS_BACKEND="jax", XLA_FLAGS="--xla_force_host_platform_device_count=2")
    assert result["devices"] == 2
    one, two = result["one"], result["two"]
    assert (one["placed"], two["placed"]) == (1, 2)  # the weights replicated on both devices
    assert abs(one["loss"] - two["loss"]) < 1e-5 * max(1.0, abs(one["loss"]))
    for a, b in zip(one["weights"], two["weights"], strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-6)
    assert result["run"] == 8
    assert result["odd"] == "--data-parallel: --batch-size (7) must divide by the 2 local devices"
