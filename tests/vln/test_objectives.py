"""Training batches: returns, advantages, and truncated BPTT's state carry."""

import numpy as np
import pytest

from agents import AgentConfig, VLNAgent
from vln.collection import Trajectory
from vln.batching import minibatch_arrays
from vln.objectives import (discounted_returns, group_samples, imitation_samples, objective, reinforce_samples,
                             stop_rewards)
from vln.optimiser import update_chunks
from agents.vocabulary import Vocabulary


def _traj(t: int, rng, success=True) -> Trajectory:
    return Trajectory(mission="go to the red ball", seed=0, images=rng.integers(0, 255, (t, 16, 16, 3), dtype=np.uint8),
                      actions=rng.integers(0, 4, t), expert=rng.integers(0, 4, t),
                      rewards=np.r_[np.zeros(t - 1), 1.0 if success else 0.0], values=np.zeros(t),
                      info={"success": success})


def test_discounted_returns():
    assert np.allclose(discounted_returns(np.array([0.0, 0.0, 1.0]), 0.5), [0.25, 0.5, 1.0])


def test_reinforce_samples_weight_actions_by_advantage():
    rng = np.random.default_rng(0)
    good, bad = _traj(3, rng, True), _traj(3, rng, False)
    s_good, s_bad = reinforce_samples([good, bad], gamma=1.0)
    assert np.array_equal(s_good.targets, good.actions)
    assert (s_good.weights > 0).all() and (s_bad.weights < 0).all()  # centred: worse than average is pushed down
    assert np.allclose(s_good.returns, 1.0)


def test_stop_reward_pays_the_right_stop_and_charges_a_wrong_one():
    rng = np.random.default_rng(0)
    good, wrong, timeout = _traj(3, rng, True), _traj(3, rng, False), _traj(3, rng, False)
    wrong.info["stopped"], timeout.info["stopped"] = True, False
    assert np.allclose(stop_rewards(good, 2.0), [0, 0, 3.0])
    assert np.allclose(stop_rewards(wrong, 2.0), [0, 0, -2.0])
    assert np.allclose(stop_rewards(timeout, 2.0), [0, 0, 0])  # the step limit ended it: no stop to judge
    assert np.allclose(stop_rewards(wrong, 0.0), wrong.rewards) and np.allclose(wrong.rewards, 0)  # a copy
    s_good, s_wrong, s_timeout = reinforce_samples([good, wrong, timeout], gamma=1.0, normalize=False, stop_reward=2.0)
    assert np.allclose(s_good.returns, 3.0) and np.allclose(s_wrong.returns, -2.0) and np.allclose(s_timeout.returns, 0)
    # A wrong stop is now worse than running out of steps.
    assert s_wrong.weights[0] < s_timeout.weights[0] < s_good.weights[0]
    group = group_samples([good, wrong, timeout], group=3, gamma=1.0, normalize=False, stop_reward=2.0)
    assert np.allclose([s.weights[0] for s in group], [3.0 - (-2.0 + 0) / 2, -2.0 - 1.5, 0 - 0.5])


def test_group_samples_compare_each_episode_with_the_others_of_its_group():
    rng = np.random.default_rng(0)
    # Group 1: one success among three; group 2: all fail (nothing to learn from it).
    trajs = [_traj(3, rng, True), _traj(4, rng, False), _traj(2, rng, False)] + [_traj(3, rng, False) for _ in range(3)]
    samples = group_samples(trajs, group=3, gamma=1.0, normalize=False)
    w = [s.weights[0] for s in samples]
    assert np.allclose(w[:3], [1.0, -0.5, -0.5]) and np.allclose(w[3:], 0.0)
    assert all(np.all(s.weights == s.weights[0]) and len(s.weights) == len(t) for s, t in zip(samples, trajs))
    assert np.array_equal(samples[1].targets, trajs[1].actions) and np.allclose(samples[0].returns, 1.0)
    scaled = group_samples(trajs, group=3, gamma=1.0)
    assert np.isclose(np.std([s.weights[0] for s in scaled]), 1.0, atol=1e-4)
    with pytest.raises(ValueError, match="groups of 4"):
        group_samples(trajs, group=4, gamma=1.0)
    with pytest.raises(ValueError, match="at least 2"):
        group_samples(trajs, group=1, gamma=1.0)


def test_imitation_needs_an_expert():
    rng = np.random.default_rng(0)
    t = _traj(3, rng)
    t.expert[:] = -1
    with pytest.raises(ValueError, match="expert_action"):
        imitation_samples([t])


def test_truncated_bptt_carries_the_state():
    """Chunk 2 run from chunk 1's final state gives the full sequence's outputs."""
    vocab = Vocabulary.build(["go to the red ball"])
    agent = VLNAgent(AgentConfig(vocab_size=len(vocab), num_actions=4, image_shape=(16, 16, 3), hidden=16,
                                 text_hidden=8, conv_filters=(4, 4, 4)), vocab)
    rng = np.random.default_rng(1)
    b, t, c = 2, 6, 3
    feed = {"tokens": vocab.encode_batch(["go to the red ball", "go to the ball"], max_len=8),
            "images": rng.integers(0, 255, (b, t, 16, 16, 3), dtype=np.uint8),
            "prev_actions": rng.integers(0, 5, (b, t)).astype(np.int32)}
    full = agent.sequence_forward(feed)
    first = agent.sequence_forward({**feed, "images": feed["images"][:, :c], "prev_actions": feed["prev_actions"][:, :c]})
    second = agent.sequence_forward({**feed, "images": feed["images"][:, c:], "prev_actions": feed["prev_actions"][:, c:],
                                     "state_h": first["state_h"], "state_c": first["state_c"]})
    np.testing.assert_allclose(second["logits"], full["logits"][:, c:], atol=1e-4)
    # And a training minibatch longer than the chunk runs chunk by chunk.
    agent.compile_for_training(objective(value_coef=0.0, entropy_coef=0.0), learning_rate=1e-3)
    feed = minibatch_arrays(agent, imitation_samples([_traj(7, rng), _traj(2, rng)]), chunk=3, max_words=8)
    stats = update_chunks(agent, feed, chunk=3)
    assert feed["mask"].sum() == 9 and np.isfinite(stats["loss"])


def test_fit_follows_the_learning_rate_schedule():
    """fit sets the optimiser's rate from its progress; cloning_rate is a cosine from lr to il_lr_final."""
    from vln.config import preset
    from vln.optimiser import fit
    from vln.phases import cloning_rate

    vocab = Vocabulary.build(["go to the red ball"])
    agent = VLNAgent(AgentConfig(vocab_size=len(vocab), num_actions=4, image_shape=(16, 16, 3), hidden=16,
                                 text_hidden=8, conv_filters=(4, 4, 4)), vocab)
    agent.compile_for_training(objective(value_coef=0.0, entropy_coef=0.0), learning_rate=1e-3)
    rng = np.random.default_rng(2)
    seen: list[float] = []

    def rate(progress: float) -> float:
        seen.append(progress)
        return 1e-3 * (1.0 - progress)

    fit(agent, imitation_samples([_traj(4, rng) for _ in range(4)]), epochs=2.0, batch_size=2, chunk=4,
        max_words=8, rng=rng, learning_rate=rate)
    assert seen == [0.0, 0.25, 0.5, 0.75]
    assert np.isclose(float(agent.optimizer.learning_rate), 1e-3 * 0.25)
    schedule = cloning_rate(preset("tiny", lr=1e-3, il_lr_final=1e-4))
    assert np.isclose(schedule(0.0), 1e-3) and np.isclose(schedule(0.5), 5.5e-4) and np.isclose(schedule(1.0), 1e-4)
    assert cloning_rate(preset("tiny")) is None


def test_drop_words_replaces_words_not_padding():
    from agents.vocabulary import PAD_ID, UNK_ID
    from vln.batching import drop_words

    tokens = np.random.default_rng(0).integers(2, 50, (400, 30)).astype(np.int32)
    tokens[:, 20:] = PAD_ID
    np.testing.assert_array_equal(drop_words(tokens, 0.0, np.random.default_rng(1)), tokens)
    everything = drop_words(tokens, 1.0, np.random.default_rng(1))
    assert (everything[:, :20] == UNK_ID).all() and (everything[:, 20:] == PAD_ID).all()
    some = drop_words(tokens, 0.25, np.random.default_rng(1))
    dropped = some[:, :20] != tokens[:, :20]
    assert 0.23 < dropped.mean() < 0.27 and (some[dropped.nonzero()[0], dropped.nonzero()[1]] == UNK_ID).all()
    assert (some[:, 20:] == PAD_ID).all() and some.dtype == tokens.dtype
    np.testing.assert_array_equal(some, drop_words(tokens, 0.25, np.random.default_rng(1)))


def test_fit_drops_words_in_training_minibatches_only_when_asked(monkeypatch):
    """With word_dropout the minibatches fit trains on carry <unk> for some words, the same ones
    for the same rng; without it the words are whole and the rng advances as it always did."""
    import vln.optimiser
    from agents.vocabulary import UNK_ID
    from vln.optimiser import fit

    vocab = Vocabulary.build(["go to the red ball"])
    agent = VLNAgent(AgentConfig(vocab_size=len(vocab), num_actions=4, image_shape=(16, 16, 3), hidden=16,
                                 text_hidden=8, conv_filters=(4, 4, 4)), vocab)
    samples = imitation_samples([_traj(4, np.random.default_rng(k)) for k in range(8)])
    fed: list[np.ndarray] = []

    def record(agent, arrays, *, chunk):
        fed.append(arrays["tokens"].copy())
        return {"loss": 0.0}

    monkeypatch.setattr(vln.optimiser, "update_chunks", record)

    def tokens(rate: float, seed: int = 3) -> tuple[np.ndarray, dict]:
        fed.clear()
        rng = np.random.default_rng(seed)
        fit(agent, samples, epochs=4.0, batch_size=4, chunk=4, max_words=8, rng=rng, word_dropout=rate)
        return np.concatenate(fed), rng.bit_generator.state

    whole, state = tokens(0.0)
    plain_rng = np.random.default_rng(3)
    fit(agent, samples, epochs=4.0, batch_size=4, chunk=4, max_words=8, rng=plain_rng)
    assert state == plain_rng.bit_generator.state and not (whole == UNK_ID).any()
    dropped, _ = tokens(0.5)
    words = whole > 1
    assert 0.3 < (dropped[words] == UNK_ID).mean() < 0.7
    np.testing.assert_array_equal(dropped[~words], whole[~words])
    np.testing.assert_array_equal(dropped, tokens(0.5)[0])
    assert not np.array_equal(dropped, tokens(0.5, seed=4)[0])


def test_insert_words_adds_the_minibatch_words_and_keeps_the_instruction_in_order():
    from agents.vocabulary import PAD_ID
    from vln.batching import insert_words

    rng = np.random.default_rng(0)
    tokens = np.full((300, 40), PAD_ID, np.int32)
    lengths = rng.integers(5, 36, 300)
    for i, n in enumerate(lengths):
        tokens[i, :n] = rng.integers(2, 30, n)
    tokens[0, :] = rng.integers(2, 30, 40)  # full: no room for any
    np.testing.assert_array_equal(insert_words(tokens, 0.0, np.random.default_rng(1)), tokens)
    out = insert_words(tokens, 0.2, np.random.default_rng(1))
    np.testing.assert_array_equal(out, insert_words(tokens, 0.2, np.random.default_rng(1)))
    assert out.shape == tokens.shape and out.dtype == tokens.dtype
    new_lengths = (out != PAD_ID).sum(1)
    assert (new_lengths >= lengths).all() and new_lengths[0] == 40 and (new_lengths <= 40).all()
    added = (new_lengths - lengths)[1:]
    assert 0.15 < added.sum() / lengths[1:].sum() < 0.25  # about the rate per word, where there is room
    assert set(out[out != PAD_ID].tolist()) <= set(tokens[tokens != PAD_ID].tolist())
    ends = 0
    for row, new, n in zip(tokens, out, new_lengths):
        assert (new[:n] != PAD_ID).all() and (new[n:] == PAD_ID).all()  # the padding stays at the end
        words, k = row[row != PAD_ID], 0
        for w in new[:n]:  # the instruction is a subsequence of the new one, in order
            k += k < len(words) and w == words[k]
        assert k == len(words)
        ends += new[n - 1] != words[-1]
    # Insertions go anywhere, the end too: the last word is no longer always the instruction's.
    assert ends > 10
    # At the end: the instruction is the new one's prefix, the same number of words added.
    tail = insert_words(tokens, 0.2, np.random.default_rng(1), at_end=True)
    np.testing.assert_array_equal((tail != PAD_ID).sum(1), new_lengths)
    for row, new, n in zip(tokens, tail, lengths):
        np.testing.assert_array_equal(new[:n], row[:n])


def test_fit_inserts_words_only_when_asked(monkeypatch):
    import vln.optimiser
    from vln.batching import word_positions
    from vln.optimiser import fit

    vocab = Vocabulary.build(["go to the red ball"])
    agent = VLNAgent(AgentConfig(vocab_size=len(vocab), num_actions=4, image_shape=(16, 16, 3), hidden=16,
                                 text_hidden=8, conv_filters=(4, 4, 4)), vocab)
    samples = imitation_samples([_traj(4, np.random.default_rng(k)) for k in range(8)])
    fed: list[dict] = []
    monkeypatch.setattr(vln.optimiser, "update_chunks", lambda agent, arrays, *, chunk: fed.append(arrays) or {"loss": 0.0})

    def run(rate: float, at_end: bool = False) -> tuple[list[dict], dict]:
        fed.clear()
        rng = np.random.default_rng(3)
        fit(agent, samples, epochs=4.0, batch_size=4, chunk=4, max_words=12, rng=rng, word_insert=rate,
            word_insert_end=at_end)
        return list(fed), rng.bit_generator.state

    plain, state = run(0.0)
    plain_rng = np.random.default_rng(3)
    fit(agent, samples, epochs=4.0, batch_size=4, chunk=4, max_words=12, rng=plain_rng)
    assert state == plain_rng.bit_generator.state  # off: the rng goes on as it always did
    grown, _ = run(0.5)
    before = sum(int((f["tokens"] != 0).sum()) for f in plain)
    after = sum(int((f["tokens"] != 0).sum()) for f in grown)
    assert after > before
    for f in grown:  # the progress loss's word positions follow the new words
        np.testing.assert_array_equal(f["word_pos"], word_positions(f["tokens"]))
    tail, _ = run(0.5, at_end=True)  # the same minibatches, the instruction first in each row
    assert sum(int((f["tokens"] != 0).sum()) for f in tail) == after
    for f, p in zip(tail, plain):
        n = (p["tokens"] != 0).sum(1)
        for row, prow, k in zip(f["tokens"], p["tokens"], n):
            np.testing.assert_array_equal(row[:k], prow[:k])


def test_the_progress_loss_asks_the_attention_to_move_along_the_instruction():
    from keras import ops

    from vln.batching import word_positions
    from vln.objectives import loss_terms, time_progress

    assert time_progress(5).tolist() == [0.0, 0.25, 0.5, 0.75, 1.0] and time_progress(1).tolist() == [1.0]
    tokens = np.array([[5, 6, 7, 0], [5, 6, 7, 8]])
    pos = word_positions(tokens)
    np.testing.assert_allclose(pos, [[0, 0.5, 1, 0], [0, 1 / 3, 2 / 3, 1]])
    b, t, length = 2, 3, 4
    y = {"actions": np.zeros((b, t)), "weights": np.zeros((b, t)), "mask": np.ones((b, t)), "returns": np.zeros((b, t)),
         "value_mask": np.zeros((b, t)), "progress": np.tile([[0.0, 0.5, 1.0]], (b, 1)),
         "progress_mask": np.array([[1, 1, 1], [0, 0, 0]]), "word_pos": pos}
    on_time = np.zeros((b, t, length))
    on_time[0, np.arange(3), np.arange(3)] = 1.0  # word k at step k: mean positions 0, 0.5, 1
    stuck_at_end = np.zeros((b, t, length))
    stuck_at_end[0, :, 2] = 1.0  # the last word at every step
    stuck_at_end[1] = on_time[1] = 0.25  # no progress targets for the second episode: not counted
    pred = {"logits": np.zeros((b, t, 4), np.float32), "value": np.zeros((b, t), np.float32)}

    def loss(attention, coef):
        return float(ops.convert_to_numpy(loss_terms(y, {**pred, "attention": attention.astype(np.float32)},
                                                     value_coef=0.0, entropy_coef=0.0, progress_coef=coef)["loss"]))

    base = loss(on_time, 0.0)
    assert loss(on_time, 2.0) == pytest.approx(base)
    assert loss(stuck_at_end, 2.0) == pytest.approx(base + 2.0 * (1.0 + 0.25 + 0.0) / 3)
    assert loss(stuck_at_end, 0.0) == pytest.approx(base)


def test_expert_demonstrations_carry_progress_and_train_with_it():
    vocab = Vocabulary.build(["go to the red ball"])
    agent = VLNAgent(AgentConfig(vocab_size=len(vocab), num_actions=4, image_shape=(16, 16, 3), hidden=16,
                                 text_hidden=8, conv_filters=(4, 4, 4)), vocab)
    rng = np.random.default_rng(3)
    samples = imitation_samples([_traj(5, rng), _traj(3, rng)], progress=True)
    assert samples[0].progress.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert imitation_samples([_traj(3, rng)])[0].progress is None
    feed = minibatch_arrays(agent, samples, chunk=2, max_words=8)
    assert feed["progress_mask"].sum() == 8 and feed["word_pos"].shape == (2, 8)
    agent.compile_for_training(objective(value_coef=0.0, entropy_coef=0.0, progress_coef=1.0), learning_rate=1e-3)
    with_progress = update_chunks(agent, feed, chunk=2)  # chunks of 2 steps; the word positions stay whole
    assert np.isfinite(with_progress["loss"])


def test_padding_to_fewer_steps_trains_the_same():
    """Minibatches padded to a multiple of 1 step or of the chunk give the same losses: the last
    chunk is just shorter (what TensorFlow runs, ``vln.batching.pad_steps``)."""
    from vln.batching import TF_PAD_STEPS, pad_steps

    vocab = Vocabulary.build(["go to the red ball"])
    agent = VLNAgent(AgentConfig(vocab_size=len(vocab), num_actions=4, image_shape=(16, 16, 3), hidden=16,
                                 text_hidden=8, conv_filters=(4, 4, 4)), vocab)
    rng = np.random.default_rng(4)
    samples = imitation_samples([_traj(7, rng), _traj(2, rng)])
    start = agent.get_weights()
    losses = {}
    for pad_to in (4, 1):
        agent.set_weights(start)
        agent.compile_for_training(objective(value_coef=0.0, entropy_coef=0.0), learning_rate=1e-2)
        feed = minibatch_arrays(agent, samples, chunk=4, max_words=8, pad_to=pad_to)
        assert feed["mask"].shape == (2, 8 if pad_to == 4 else 7)
        losses[pad_to] = update_chunks(agent, feed, chunk=4)["loss"]
    assert losses[1] == pytest.approx(losses[4], rel=1e-5)
    import keras

    assert pad_steps(20) == (TF_PAD_STEPS if keras.backend.backend() == "tensorflow" else 20) and pad_steps(3) == 3


def test_the_focal_imitation_loss_weighs_each_step_by_how_wrong_the_policy_is():
    from keras import ops

    from vln.objectives import loss_terms

    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 3, 4)).astype(np.float32)
    logits[0, 0] = [9.0, 0.0, 0.0, 0.0]  # near sure of the expert's action: almost no weight left
    actions = np.array([[0, 1, 2], [3, 0, 1]])
    weights = np.array([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]], np.float32)  # the last step is padding
    y = {"actions": actions, "weights": weights, "mask": weights, "returns": np.zeros((2, 3)), "value_mask": np.zeros((2, 3))}
    pred = {"logits": logits, "value": np.zeros((2, 3), np.float32)}
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    p = np.exp(np.take_along_axis(logp, actions[..., None], -1)[..., 0])

    def loss(focal):
        return float(ops.convert_to_numpy(loss_terms(y, pred, value_coef=0.0, entropy_coef=0.0, focal=focal)["policy_loss"]))

    for gamma in (0.0, 1.0, 2.0):
        expected = (weights * (1 - p) ** gamma * -np.log(p)).sum() / weights.sum()
        assert loss(gamma) == pytest.approx(expected, rel=1e-5)
    assert loss(2.0) < loss(1.0) < loss(0.0)


def test_the_target_view_loss_is_a_cross_entropy_on_labelled_steps():
    from keras import ops

    from vln.objectives import loss_terms

    b, t = 2, 3
    y = {"actions": np.zeros((b, t)), "weights": np.zeros((b, t)), "mask": np.ones((b, t)), "returns": np.zeros((b, t)),
         "value_mask": np.zeros((b, t)), "target_view": np.array([[2, 0, 3], [1, 1, 1]]),
         "target_mask": np.array([[1, 1, 1], [0, 0, 0]])}
    logits = np.zeros((b, t, 4), np.float32)
    logits[0, 0, 2] = 50.0  # sure and right on step 0; uniform on steps 1 and 2; the second episode is unlabelled
    pred = {"logits": np.zeros((b, t, 4), np.float32), "value": np.zeros((b, t), np.float32), "target_logits": logits}

    def loss(coef):
        return float(ops.convert_to_numpy(loss_terms(y, pred, value_coef=0.0, entropy_coef=0.0, target_coef=coef)["loss"]))

    assert loss(2.0) == pytest.approx(loss(0.0) + 2.0 * (0.0 + 2 * np.log(4.0)) / 3, rel=1e-5)


def test_the_goal_view_loss_is_the_same_cross_entropy_on_its_own_labels_and_head():
    from keras import ops

    from vln.objectives import loss_terms

    b, t = 2, 3
    y = {"actions": np.zeros((b, t)), "weights": np.zeros((b, t)), "mask": np.ones((b, t)), "returns": np.zeros((b, t)),
         "value_mask": np.zeros((b, t)), "target_view": np.zeros((b, t)), "target_mask": np.ones((b, t)),
         "goal_view": np.array([[0, 0, 0], [1, 2, 3]]), "goal_mask": np.array([[0, 0, 0], [1, 1, 0]])}
    goal_logits = np.zeros((b, t, 4), np.float32)
    goal_logits[1, 0, 1] = 50.0  # sure and right on the first labelled step, uniform on the second
    pred = {"logits": np.zeros((b, t, 4), np.float32), "value": np.zeros((b, t), np.float32),
            "target_logits": np.zeros((b, t, 4), np.float32), "goal_logits": goal_logits}

    def loss(target, goal):
        terms = loss_terms(y, pred, value_coef=0.0, entropy_coef=0.0, target_coef=target, goal_coef=goal)
        return float(ops.convert_to_numpy(terms["loss"]))

    assert loss(0.0, 3.0) == pytest.approx(loss(0.0, 0.0) + 3.0 * np.log(4.0) / 2, rel=1e-5)
    assert loss(1.0, 3.0) == pytest.approx(loss(0.0, 0.0) + np.log(4.0) + 3.0 * np.log(4.0) / 2, rel=1e-5)


@pytest.mark.parametrize("view", ["target", "goal"])
def test_view_labels_flow_from_trajectories_to_a_training_step(view):
    """Each auxiliary view head (the route's target, the goal) learns its own labels, and only those."""
    other = {"target": "goal", "goal": "target"}[view]
    vocab = Vocabulary.build(["go to the red ball"])
    agent = VLNAgent(AgentConfig(vocab_size=len(vocab), num_actions=4, image_shape=(16, 16, 3), hidden=16,
                                 text_hidden=8, conv_filters=(4, 4, 4), **{f"{view}_classes": 4}), vocab)
    rng = np.random.default_rng(5)
    labelled = _traj(5, rng)
    setattr(labelled, f"{view}_view", np.array([0, 1, 2, 3, 2]))
    samples = imitation_samples([labelled, _traj(3, rng)])
    assert getattr(samples[0], f"{view}_view").tolist() == [0, 1, 2, 3, 2] and getattr(samples[1], f"{view}_view") is None
    assert getattr(reinforce_samples([labelled], gamma=0.9)[0], f"{view}_view") is None  # REINFORCE's own samples: no labels
    feed = minibatch_arrays(agent, samples, chunk=2, max_words=8)
    assert feed[f"{view}_mask"].sum() == 5 and feed[f"{view}_view"][0, :5].tolist() == [0, 1, 2, 3, 2]
    assert feed[f"{other}_mask"].sum() == 0
    out = agent(agent._sequence_inputs(feed))
    assert tuple(out[f"{view}_logits"].shape) == (2, feed["mask"].shape[1], 4) and f"{other}_logits" not in out
    before = agent.get_layer(f"{view}_head").get_weights()[0].copy()
    agent.compile_for_training(objective(value_coef=0.0, entropy_coef=0.0, **{f"{view}_coef": 1.0}), learning_rate=1e-2)
    assert np.isfinite(update_chunks(agent, feed, chunk=2)["loss"])
    assert not np.allclose(agent.get_layer(f"{view}_head").get_weights()[0], before)  # the head is trained
    with pytest.raises(ValueError, match=f"{view}_classes"):
        AgentConfig(vocab_size=4, num_actions=4, **{f"{view}_classes": 1})
