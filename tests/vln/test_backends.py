"""The training step on both Keras backends: JAX (the GPU path) learns as TensorFlow does.

tests/vln/test_train.py trains under the suite's backend (TensorFlow by default); here a
subprocess trains the same tiny config under the other backend, in float32 and in
bfloat16 mixed precision (the GPU preset's), plus a run whose env is sharded over worker
processes.
"""

import keras

_SCRIPT = """
import json, sys
from vln.config import preset
from vln.train import run

out = sys.argv[1]
results = {}
# The sharded env first: its workers fork before the backend starts threads, as in train.py.
sharded = preset("tiny", out=out + "/sharded", env_workers=2, mixed_precision=True, rl_updates=1)
results["sharded"] = run(sharded, progress=False)["episodes"]
for mixed in (False, True):
    config = preset("tiny", env="examples.word_action_env:WordActionEnv", out=f"{out}/{mixed}", il_episodes=256,
                    il_epochs=8.0, dagger_rounds=0, rl_updates=0, eval_episodes=64, batch_size=16, chunk=4,
                    num_envs=16, hidden=32, mixed_precision=mixed)
    results[str(mixed)] = run(config, progress=False)["success_rate"]
print("RESULTS " + json.dumps(results))
"""


def test_other_backend_learns(tmp_path, script_results):
    backend = "jax" if keras.backend.backend() != "jax" else "tensorflow"
    results = script_results(_SCRIPT, tmp_path, KERAS_BACKEND=backend)
    assert results["sharded"] == 8
    assert results["False"] >= 0.9, results  # float32
    assert results["True"] >= 0.9, results  # bfloat16 compute, float32 weights
