"""Tests for agents.VLNAgent: shapes, sequence/step agreement, padding invariance,
save/load (also across backends), error messages, and the training step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest

from agents import AgentConfig, VLNAgent, load_agent
from agents.vocabulary import Vocabulary
from vln.objectives import objective

REPO = Path(__file__).resolve().parents[2]
TEXTS = ["go to the red ball", "turn left at the blue door and stop", "go through the green door"]
A = 4  # actions


def small_config(vocab: Vocabulary, **kw) -> AgentConfig:
    """A tiny agent so the tests stay fast on 2 CPU cores."""
    base = dict(
        vocab_size=len(vocab), num_actions=A, image_shape=(16, 16, 3), embed_dim=8, text_hidden=12,
        hidden=16, conv_filters=(4, 8, 8), attention_dim=8, action_embed=4,
    )
    base.update(kw)
    return AgentConfig(**base)


def make_agent(rnn: str = "lstm", bidirectional: bool = False, seed: int = 0, **kw) -> VLNAgent:
    keras.utils.set_random_seed(seed)
    vocab = Vocabulary.build(TEXTS)
    return VLNAgent(small_config(vocab, rnn=rnn, bidirectional=bidirectional, **kw), vocab)


def make_batch(agent: VLNAgent, t: int = 5, seed: int = 0, max_len: int | None = None) -> dict:
    rng = np.random.default_rng(seed)
    b = len(TEXTS)
    h, w, _ = agent.config.image_shape
    prev = rng.integers(0, A, (b, t)).astype(np.int32)
    prev[:, 0] = A  # "no previous action" at t=0
    return {
        "tokens": agent.vocab.encode_batch(TEXTS, max_len=max_len),
        "images": rng.integers(0, 256, (b, t, h, w, 3), dtype=np.uint8),
        "prev_actions": prev,
    }


def assert_saves_and_loads(agent: VLNAgent, tmp_path, flag: str) -> None:
    """The agent's ``.keras`` file loads with ``flag`` set in its config and the same policy."""
    batch = make_batch(agent, t=3)
    out = agent.sequence_forward(batch)
    agent.save(tmp_path / "agent.keras")
    loaded = load_agent(tmp_path / "agent.keras")
    assert getattr(loaded.config, flag)
    np.testing.assert_allclose(loaded.sequence_forward(batch)["logits"], out["logits"], atol=1e-6)


@pytest.fixture(scope="module")
def lstm_agent() -> VLNAgent:
    return make_agent("lstm")


@pytest.mark.parametrize("rnn,bidirectional", [("lstm", False), ("gru", False), ("lstm", True)])
def test_output_shapes(rnn, bidirectional):
    agent = make_agent(rnn, bidirectional)
    batch = make_batch(agent, t=3)
    b, length = batch["tokens"].shape
    out = agent.sequence_forward(batch)
    hid = agent.config.hidden
    assert out["logits"].shape == (b, 3, A)
    assert out["value"].shape == (b, 3)
    assert out["attention"].shape == (b, 3, length)
    assert out["state_h"].shape == (b, hid) and out["state_c"].shape == (b, hid)
    np.testing.assert_allclose(out["attention"].sum(-1), 1.0, atol=1e-5)
    enc = agent.encode_instruction(batch["tokens"])
    d = agent.config.text_hidden * (2 if bidirectional else 1)
    assert enc["words"].shape == (b, length, d) and enc["summary"].shape == (b, agent.config.pool_heads * d)
    assert enc["mask"].shape == (b, length)
    # The eager call and the compiled predict agree.
    eager = agent({**batch, **agent.initial_state(b)})
    np.testing.assert_allclose(keras.ops.convert_to_numpy(eager["logits"]), out["logits"], atol=1e-5)


@pytest.mark.parametrize(
    "rnn, step_film, max_pool, attention",
    [("lstm", False, False, False), ("gru", False, False, False), ("lstm", True, False, False),
     ("gru", True, False, False), ("lstm", False, True, False), ("lstm", True, True, False),
     ("lstm", False, False, True), ("gru", False, True, True)],
)
def test_sequence_equals_stepping(rnn, step_film, max_pool, attention):
    agent = make_agent(rnn, step_film=step_film, visual_max_pool=max_pool, visual_attention=attention)
    # Zero-initialised (identity, uniform attention): give them weights so the test sees them act.
    for name in ("film_step",) * step_film + ("visual_query",) * attention:
        kernel = getattr(agent, name).kernel
        kernel.assign(np.random.default_rng(1).normal(0, 0.5, kernel.shape).astype("float32"))
    batch = make_batch(agent, t=5)
    b = batch["tokens"].shape[0]
    # Start from a non-zero state to check the state is really threaded through.
    state = {k: np.full_like(v, 0.1) for k, v in agent.initial_state(b).items()}
    seq = agent.sequence_forward({**batch, **state})
    enc = agent.encode_instruction(batch["tokens"])
    outs = []
    for t in range(5):
        o = agent.step(enc, batch["images"][:, t], batch["prev_actions"][:, t], state)
        state = {"state_h": o["state_h"], "state_c": o["state_c"]}
        outs.append(o)
    for key in ("logits", "value", "attention"):
        np.testing.assert_allclose(np.stack([o[key] for o in outs], 1), seq[key], atol=1e-4)
    np.testing.assert_allclose(state["state_h"], seq["state_h"], atol=1e-4)
    np.testing.assert_allclose(state["state_c"], seq["state_c"], atol=1e-4)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_invariance(bidirectional):
    agent = make_agent("lstm", bidirectional)
    short = make_batch(agent, t=3)
    length = short["tokens"].shape[1]
    long = dict(short, tokens=agent.vocab.encode_batch(TEXTS, max_len=length + 4))
    a, b = agent.sequence_forward(short), agent.sequence_forward(long)
    for key in ("logits", "value", "state_h", "state_c"):
        np.testing.assert_allclose(a[key], b[key], atol=1e-5)
    np.testing.assert_allclose(a["attention"], b["attention"][:, :, :length], atol=1e-5)
    assert np.all(b["attention"][:, :, length:] == 0.0)
    ea, eb = agent.encode_instruction(short["tokens"]), agent.encode_instruction(long["tokens"])
    np.testing.assert_allclose(ea["summary"], eb["summary"], atol=1e-5)


def test_save_load_round_trip(tmp_path, lstm_agent):
    path = tmp_path / "agent.keras"
    lstm_agent.save(path)
    assert path.exists() and not [p for p in os.listdir(tmp_path) if p.startswith(".tmp")]
    loaded = load_agent(path)
    assert isinstance(loaded, VLNAgent)
    assert loaded.config == lstm_agent.config and loaded.vocab == lstm_agent.vocab
    batch = make_batch(lstm_agent, t=4)
    a, b = lstm_agent.sequence_forward(batch), loaded.sequence_forward(batch)
    for key in a:
        np.testing.assert_allclose(a[key], b[key], atol=1e-6)
    lstm_agent.save(path)  # overwriting an existing file works too
    assert load_agent(str(path)).config == lstm_agent.config


_OTHER_BACKEND = textwrap.dedent(
    """
    import sys, numpy as np, keras
    from agents import load_agent, VLNAgent, AgentConfig
    from agents.vocabulary import Vocabulary
    assert keras.backend.backend() == sys.argv[1], keras.backend.backend()
    data = np.load(sys.argv[2])
    batch = {k: data[k] for k in ("tokens", "images", "prev_actions")}
    agent = load_agent(sys.argv[3])
    out = agent.sequence_forward(batch)
    for k in ("logits", "value", "attention", "state_h"):
        np.testing.assert_allclose(out[k], data[k], atol=1e-5)
    # Save a fresh agent under this backend for the other one to load.
    keras.utils.set_random_seed(1)
    other = VLNAgent(agent.config, agent.vocab)
    other.save(sys.argv[4])
    np.savez(sys.argv[5], **other.sequence_forward(batch))
    print("OK")
    """
)


def _run_backend(backend: str, *args: str) -> None:
    env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="3")
    env["JAX_PLATFORMS"] = "cpu"
    proc = subprocess.run(
        [sys.executable, "-c", _OTHER_BACKEND, backend, *args],
        env=env, capture_output=True, text=True, timeout=240, cwd=REPO,
    )
    assert proc.returncode == 0 and "OK" in proc.stdout, proc.stdout + proc.stderr


def test_load_across_backends(tmp_path, lstm_agent):
    """A file saved here loads under the other backend with the same outputs, and back."""
    other = "jax" if keras.backend.backend() != "jax" else "tensorflow"
    batch = make_batch(lstm_agent, t=3)
    saved = tmp_path / "here.keras"
    lstm_agent.save(saved)
    np.savez(tmp_path / "data.npz", **batch, **lstm_agent.sequence_forward(batch))
    _run_backend(other, str(tmp_path / "data.npz"), str(saved), str(tmp_path / "there.keras"),
                 str(tmp_path / "there.npz"))
    back = load_agent(tmp_path / "there.keras")
    expected = np.load(tmp_path / "there.npz")
    out = back.sequence_forward(batch)
    for key in ("logits", "value", "attention", "state_h"):
        np.testing.assert_allclose(out[key], expected[key], atol=1e-5)


def test_load_errors(tmp_path, lstm_agent):
    missing = tmp_path / "nope.keras"
    with pytest.raises(ValueError, match="not found.*nope.keras"):
        load_agent(missing)
    corrupt = tmp_path / "corrupt.keras"
    corrupt.write_bytes(b"this is not a zip file")
    with pytest.raises(ValueError, match="corrupt.keras"):
        load_agent(corrupt)
    # A valid .keras file that holds some other model.
    other = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    plain = tmp_path / "plain.keras"
    other.save(plain)
    with pytest.raises(ValueError, match="plain.keras.*VLN agent"):
        load_agent(plain)
    # A truncated archive (e.g. a copy cut short).
    good = tmp_path / "good.keras"
    lstm_agent.save(good)
    cut = tmp_path / "cut.keras"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ValueError, match="cut.keras"):
        load_agent(cut)
    # Config and weights that do not match (hidden size edited in config.json).
    with zipfile.ZipFile(good) as zin:
        meta = json.loads(zin.read("config.json"))
        meta["config"]["agent_config"]["hidden"] += 8
        mismatched = tmp_path / "mismatched.keras"
        with zipfile.ZipFile(mismatched, "w") as zout:
            for item in zin.infolist():
                data = json.dumps(meta).encode() if item.filename == "config.json" else zin.read(item)
                zout.writestr(item, data)
    with pytest.raises(ValueError, match="mismatched.keras"):
        load_agent(mismatched)


def _train_batch(agent: VLNAgent, seed: int = 0) -> dict:
    batch = make_batch(agent, t=6, seed=seed)
    rng = np.random.default_rng(seed + 1)
    b, t = batch["prev_actions"].shape
    mask = np.ones((b, t), np.float32)
    mask[0, 4:] = 0.0  # a padded tail
    batch.update(
        actions=rng.integers(0, A, (b, t)).astype(np.int32),
        weights=mask.copy(),
        mask=mask,
        returns=np.tile(np.linspace(1.0, 0.5, t, dtype=np.float32), (b, 1)),  # like discounted returns
        value_mask=mask.copy(),
    )
    return batch


def test_training_reduces_loss():
    agent = make_agent("lstm")
    agent.compile_for_training(objective(entropy_coef=0.0), learning_rate=1e-2)
    batch = _train_batch(agent)
    first = agent.train_batch(batch)
    assert set(first) == {"loss", "policy_loss", "value_loss", "entropy"}
    assert all(np.isfinite(v) for v in first.values())
    for _ in range(19):
        last = agent.train_batch(batch)
    assert last["loss"] < 0.7 * first["loss"], (first, last)
    assert last["policy_loss"] < first["policy_loss"] and last["value_loss"] < first["value_loss"]


def test_train_batch_optional_keys():
    """returns/value_mask/state are optional: no value loss without a value_mask."""
    agent = make_agent("gru")
    agent.compile_for_training(objective())
    batch = _train_batch(agent)
    for k in ("returns", "value_mask"):
        batch.pop(k)
    logs = agent.train_batch(batch)
    assert logs["value_loss"] == 0.0 and np.isfinite(logs["loss"])


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_reinforce_sign(sign):
    """Weight +1 on an action makes it more likely after one update; -1 less likely."""
    agent = make_agent("lstm", seed=3)
    agent.compile_for_training(objective(entropy_coef=0.0), learning_rate=1e-3)
    batch = _train_batch(agent, seed=2)
    chosen = 2
    batch["actions"] = np.full_like(batch["actions"], chosen)
    batch["weights"] = sign * batch["mask"]
    batch.pop("value_mask")

    def prob() -> np.ndarray:
        logits = agent.sequence_forward(batch)["logits"]
        p = np.exp(logits - logits.max(-1, keepdims=True))
        return (p / p.sum(-1, keepdims=True))[..., chosen]

    before = prob()
    agent.train_batch(batch)
    after = prob()
    real = batch["mask"] > 0
    change = (after - before)[real].mean()
    assert sign * change > 0, (before, after)
    # Stepping uses the updated weights too (shared variables).
    enc = agent.encode_instruction(batch["tokens"])
    o = agent.step(enc, batch["images"][:, 0], batch["prev_actions"][:, 0],
                   agent.initial_state(len(TEXTS)))
    np.testing.assert_allclose(o["logits"], agent.sequence_forward(batch)["logits"][:, 0], atol=1e-4)


def test_value_loss_does_not_train_the_policy():
    """The value head learns on stopped features: a value-only loss (zero policy weights,
    no entropy bonus) changes the value but leaves every logit as it was."""
    agent = make_agent("lstm", seed=4)
    agent.compile_for_training(objective(entropy_coef=0.0), learning_rate=1e-2)
    batch = _train_batch(agent, seed=5)
    batch["weights"] = np.zeros_like(batch["weights"])
    batch["returns"] = np.full_like(batch["returns"], 3.0)
    before = agent.sequence_forward(batch)
    for _ in range(3):
        logs = agent.train_batch(batch)
    after = agent.sequence_forward(batch)
    assert logs["value_loss"] > 0
    np.testing.assert_allclose(after["logits"], before["logits"], atol=1e-6)
    assert np.abs(after["value"] - before["value"]).max() > 1e-3


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_keras_load_model_works_after_import_agents(tmp_path, backend):
    """``import agents`` registers the Keras classes: plain ``keras.saving.load_model`` loads an agent file."""
    vocab = Vocabulary.build(["go to the red ball"])
    agent = VLNAgent(AgentConfig(vocab_size=len(vocab), num_actions=4, image_shape=(16, 16, 3), hidden=8,
                                 text_hidden=8, conv_filters=(4, 4, 4)), vocab)
    path = tmp_path / "agent.keras"
    agent.save(path)
    script = ("import sys, keras, agents\n"
              "agent = keras.saving.load_model(sys.argv[1])\n"
              "print(type(agent).__name__, agent.vocab.words[2:], keras.backend.backend())\n")
    env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=str(Path(__file__).resolve().parents[2]),
               TF_CPP_MIN_LOG_LEVEL="3", JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-c", script, str(path)], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split()[0] == "VLNAgent" and proc.stdout.split()[-1] == backend
    assert "'ball'" in proc.stdout


def test_patch_stem_builds_saves_and_costs_less(tmp_path):
    vocab = Vocabulary.build(TEXTS)
    keras.utils.set_random_seed(0)
    agent = VLNAgent(small_config(vocab, image_shape=(64, 64, 3), visual_stem="patch"), vocab)
    strided = VLNAgent(small_config(vocab, image_shape=(64, 64, 3)), vocab)
    batch = make_batch(agent, t=3)
    out = agent.sequence_forward(batch)
    assert out["logits"].shape == (len(TEXTS), 3, A)
    # Both stems end on the same 8x8 grid, so the dense layer after them is the same size.
    assert agent.visual_dense.kernel.shape == strided.visual_dense.kernel.shape
    assert agent.conv1.kernel.shape[:2] == (4, 4) and agent.conv1.strides == (4, 4)
    agent.save(tmp_path / "agent.keras")
    loaded = load_agent(tmp_path / "agent.keras")
    assert loaded.config.visual_stem == "patch"
    np.testing.assert_allclose(loaded.sequence_forward(batch)["logits"], out["logits"], atol=1e-6)
    with pytest.raises(ValueError, match="visual_stem"):
        small_config(vocab, visual_stem="huge")


def test_step_film_changes_the_policy_with_the_attended_words(tmp_path):
    agent = make_agent(step_film=True)
    batch = make_batch(agent, t=4)
    before = agent.sequence_forward(batch)["logits"]
    kernel = agent.film_step.kernel
    kernel.assign(np.random.default_rng(2).normal(0, 0.5, kernel.shape).astype("float32"))
    after = agent.sequence_forward(batch)["logits"]
    # Identity at initialisation; with weights, the step's word context moves the policy.
    assert np.abs(after - before).max() > 1e-3
    agent.save(tmp_path / "agent.keras")
    loaded = load_agent(tmp_path / "agent.keras")
    assert loaded.config.step_film
    np.testing.assert_allclose(loaded.sequence_forward(batch)["logits"], after, atol=1e-6)


def test_averaged_weights_are_the_moving_average_of_the_steps():
    """With ``ema_momentum`` m the agent ends on m * (average so far) + (1 - m) * (latest weights),
    the first step's weights starting the average; without it nothing changes."""
    agent = make_agent("lstm", seed=5)
    batch = _train_batch(agent)
    agent.compile_for_training(objective(entropy_coef=0.0), learning_rate=1e-2, ema_momentum=0.5)
    assert not agent.use_averaged_weights()  # no step taken: no average yet
    seen = []
    for _ in range(3):
        agent.train_batch(batch)
        seen.append([v.numpy().copy() for v in agent.trainable_variables])
    expected = [0.5 * (0.5 * a + 0.5 * b) + 0.5 * c for a, b, c in zip(*seen)]
    assert agent.use_averaged_weights()
    got = [v.numpy() for v in agent.trainable_variables]
    assert any(not np.allclose(g, s) for g, s in zip(got, seen[-1]))  # it moved off the last step's
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)

    plain = make_agent("lstm", seed=5)
    plain.compile_for_training(objective(entropy_coef=0.0), learning_rate=1e-2)
    plain.train_batch(batch)
    before = [v.numpy().copy() for v in plain.trainable_variables]
    assert not plain.use_averaged_weights()
    assert all(np.array_equal(b, v.numpy()) for b, v in zip(before, plain.trainable_variables))
    with pytest.raises(ValueError, match="ema_momentum"):
        plain.compile_for_training(objective(), ema_momentum=1.0)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_film_last_word_conditions_the_features_on_the_instructions_last_word(bidirectional):
    """The summary gains the forward LSTM's state at each instruction's last real word: padding
    after it changes nothing, and instructions that differ only in their last word get
    different summaries in that part (the pooled part may not notice)."""
    agent = make_agent("lstm", bidirectional, film_last_word=True)
    cfg = agent.config
    batch = make_batch(agent, t=3)
    length = batch["tokens"].shape[1]
    enc = agent.encode_instruction(batch["tokens"])
    assert enc["summary"].shape == (len(TEXTS), cfg.summary_dim)
    assert cfg.summary_dim == cfg.pool_heads * cfg.word_dim + cfg.text_hidden
    # The extra part is the forward state at the last word.
    n_words = (batch["tokens"] != 0).sum(1)
    fwd = enc["words"][np.arange(len(TEXTS)), n_words - 1, : cfg.text_hidden]
    np.testing.assert_allclose(enc["summary"][:, -cfg.text_hidden:], fwd, atol=1e-6)
    padded = agent.encode_instruction(agent.vocab.encode_batch(TEXTS, max_len=length + 4))
    np.testing.assert_allclose(enc["summary"], padded["summary"], atol=1e-5)
    a, b = agent.vocab.encode_batch(["go to the red ball", "go to the red door"])
    ends = agent.encode_instruction(np.stack([a, b]))["summary"][:, -cfg.text_hidden:]
    assert not np.allclose(ends[0], ends[1])
    # The FiLM reads it, and the sequence and step entry points still agree.
    kernel = agent.film_params.kernel
    kernel.assign(np.random.default_rng(1).normal(0, 0.5, kernel.shape).astype("float32"))
    seq = agent.sequence_forward(batch)
    state = agent.initial_state(len(TEXTS))
    o = agent.step(enc, batch["images"][:, 0], batch["prev_actions"][:, 0], state)
    np.testing.assert_allclose(o["logits"], seq["logits"][:, 0], atol=1e-4)


@pytest.mark.parametrize("option", ["goal_pool", "door_pool"])
def test_an_anchored_pool_adds_its_pooling_to_the_summary(tmp_path, option):
    """With ``goal_pool`` (``door_pool``) the summary gains the pooling of the word features biased
    toward the last word (the first): at initialisation weights exp(-0.5 d), d words from it.
    Padding changes nothing, the FiLM reads it, sequence and step agree, its slope trains, and
    the agent saves and loads."""
    agent = make_agent("lstm", True, **{option: True})
    layer = getattr(agent, option)
    cfg = agent.config
    assert cfg.summary_dim == (cfg.pool_heads + 1) * cfg.word_dim
    batch = make_batch(agent, t=3)
    length = batch["tokens"].shape[1]
    score = layer.score.kernel
    score.assign(np.zeros(score.shape, "float32"))  # no content score: the bias alone
    enc = agent.encode_instruction(batch["tokens"])
    assert enc["summary"].shape == (len(TEXTS), cfg.summary_dim)
    for row, n in enumerate((batch["tokens"] != 0).sum(1)):
        w = np.exp(-0.5 * (n - 1 - np.arange(n) if option == "goal_pool" else np.arange(n)))
        got = np.asarray(enc["summary"])[row, -cfg.word_dim:]
        np.testing.assert_allclose(got, (w / w.sum()) @ np.asarray(enc["words"])[row, :n], atol=1e-5)
    score.assign(np.random.default_rng(2).normal(0, 1.0, score.shape).astype("float32"))
    padded = agent.encode_instruction(agent.vocab.encode_batch(TEXTS, max_len=length + 4))
    np.testing.assert_allclose(agent.encode_instruction(batch["tokens"])["summary"], padded["summary"], atol=1e-5)
    kernel = agent.film_params.kernel
    kernel.assign(np.random.default_rng(1).normal(0, 0.5, kernel.shape).astype("float32"))
    seq = agent.sequence_forward(batch)
    enc = agent.encode_instruction(batch["tokens"])
    o = agent.step(enc, batch["images"][:, 0], batch["prev_actions"][:, 0], agent.initial_state(len(TEXTS)))
    np.testing.assert_allclose(o["logits"], seq["logits"][:, 0], atol=1e-4)
    agent.compile_for_training(objective(entropy_coef=0.0), learning_rate=1e-2)
    agent.train_batch(_train_batch(agent))
    assert float(layer.slope.numpy()) != 0.5
    assert_saves_and_loads(agent, tmp_path, option)


def test_visual_max_pool_reads_what_is_in_view_wherever_it_is(tmp_path):
    """The pooled part of the visual features is the per-channel max of the rectified, FiLM-ed
    map: a red square moved by two feature cells leaves it unchanged (the flattened dense part
    changes), and the agent saves and loads with it."""
    vocab = Vocabulary.build(TEXTS)
    keras.utils.set_random_seed(0)
    agent = VLNAgent(small_config(vocab, image_shape=(64, 64, 3), visual_max_pool=True), vocab)
    cfg = agent.config
    assert cfg.visual_dim == cfg.hidden + cfg.conv_filters[2]
    frames = np.zeros((2, 64, 64, 3), np.uint8)
    frames[0, 24:30, 16:22, 0] = 255
    frames[1, 24:30, 32:38, 0] = 255  # 16 pixels right: two cells of the 8x8 map
    summary = agent.encode_instruction(agent.vocab.encode_batch(TEXTS[:1] * 2))["summary"]
    features = keras.ops.convert_to_numpy(agent._visual(frames, summary))
    assert features.shape == (2, cfg.visual_dim)
    np.testing.assert_allclose(features[0, cfg.hidden:], features[1, cfg.hidden:], atol=1e-6)
    assert np.abs(features[0, : cfg.hidden] - features[1, : cfg.hidden]).max() > 1e-4
    # The square lifts the pooled features above an empty frame's, never below.
    empty = keras.ops.convert_to_numpy(agent._visual(np.zeros_like(frames), summary))
    assert (features[0, cfg.hidden:] >= empty[0, cfg.hidden:] - 1e-6).all()
    assert (features[0, cfg.hidden:] > empty[0, cfg.hidden:] + 1e-4).any()
    assert_saves_and_loads(agent, tmp_path, "visual_max_pool")


def test_visual_attention_reads_the_cell_the_words_ask_for(tmp_path):
    """The step's query scores each cell of the map by a dot product: the attention then peaks on
    the cell that matches, in its column, its features are what is read, and its score is the
    largest; the agent trains, saves and loads with it, and refuses it with the per-step FiLM."""
    vocab = Vocabulary.build(TEXTS)
    agent = VLNAgent(small_config(vocab, image_shape=(64, 64, 3), visual_attention=True), vocab)
    cfg = agent.config
    rows, cols = cfg.feature_grid
    channels = cfg.conv_filters[2]
    assert cfg.visual_dim == cfg.map_dim + channels + cols + 1
    cells = np.zeros((2, rows, cols, channels), np.float32)
    cells[0, 3, 1, 0] = cells[1, 5, 6, 0] = 20.0  # one cell lit on channel 0, in columns 1 and 6
    cells[:, :, :, 1] = 1.0  # every cell the same on channel 1
    features = np.ones((2, cfg.map_dim), np.float32)
    vis = np.concatenate([features, cells.reshape(2, -1)], axis=1)
    kernel = np.zeros(agent.visual_query.kernel.shape, np.float32)
    kernel[:, 0] = 1.0  # the query asks for channel 0 whatever it reads
    agent.visual_query.kernel.assign(kernel)
    h = np.full((2, cfg.hidden), 0.5, np.float32)
    context = np.full((2, cfg.word_dim), 0.5, np.float32)
    q0 = 0.5 * (cfg.hidden + cfg.word_dim)
    out = keras.ops.convert_to_numpy(agent._attend_map(vis, h, context))
    assert out.shape == (2, cfg.visual_dim)
    np.testing.assert_allclose(out[:, : cfg.map_dim], features)
    attended = out[:, cfg.map_dim : cfg.map_dim + channels]
    columns = out[:, cfg.map_dim + channels : -1]
    np.testing.assert_allclose(attended[:, 0], 20.0, rtol=1e-4)  # the lit cell takes all the weight
    np.testing.assert_allclose(attended[:, 1], 1.0, rtol=1e-4)
    assert columns[0].argmax() == 1 and columns[1].argmax() == 6
    np.testing.assert_allclose(columns.sum(-1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(out[:, -1], 20.0 * q0 / np.sqrt(channels), rtol=1e-4)
    # A uniform query (the zero initialisation) reads the mean of the cells.
    agent.visual_query.kernel.assign(np.zeros_like(kernel))
    uniform = keras.ops.convert_to_numpy(agent._attend_map(vis, h, context))
    np.testing.assert_allclose(uniform[:, cfg.map_dim : cfg.map_dim + channels], cells.mean(axis=(1, 2)), rtol=1e-5)
    agent.visual_query.kernel.assign(kernel)
    assert_saves_and_loads(agent, tmp_path, "visual_attention")
    with pytest.raises(ValueError, match="visual_attention and step_film"):
        small_config(vocab, visual_attention=True, step_film=True)
