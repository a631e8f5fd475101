"""Collecting episodes: streamed collection gives the episodes that waves give."""

import numpy as np
import pytest

from vln.collection import run_episodes, run_stream, run_wave

from vln.policies import AgentPolicy, ExpertPolicy
from vln.environments import make_vector_env


def _waves(env, make_policy, n_episodes, seed):
    out = []
    while len(out) < n_episodes:
        keep = min(env.num_envs, n_episodes - len(out))
        out += run_wave(env, make_policy(), [seed + len(out) + i for i in range(env.num_envs)], keep=keep)
    return out


def _assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert (x.seed, x.mission, x.success) == (y.seed, y.mission, y.success)
        np.testing.assert_array_equal(x.actions, y.actions)
        np.testing.assert_array_equal(x.expert, y.expert)
        np.testing.assert_array_equal(x.images, y.images)
        np.testing.assert_allclose(x.rewards, y.rewards)
        assert (x.target_view is None) == (y.target_view is None)
        if x.target_view is not None:
            np.testing.assert_array_equal(x.target_view, y.target_view)
        assert (x.goal_view is None) == (y.goal_view is None)
        if x.goal_view is not None:
            np.testing.assert_array_equal(x.goal_view, y.goal_view)


@pytest.mark.parametrize("env_id", ["vln/GoToObject-v0", "vln/FollowRoute-v0"])
def test_stream_equals_waves_expert(env_id):
    env = make_vector_env(env_id, 5)
    streamed = run_episodes(env, ExpertPolicy(), 23, seed=40)  # more episodes than envs: streamed
    _assert_same(streamed, _waves(env, ExpertPolicy, 23, 40))
    assert all(t.success for t in streamed)
    assert all(t.target_view is None and t.goal_view is None for t in streamed)  # only the in-view expert's envs label them


@pytest.mark.parametrize("workers", [1, 2])
def test_target_views_are_recorded_with_the_in_view_expert(workers):
    """Every step's ``info["target_view"]`` reaches the trajectory, streamed or in waves, sharded or not."""
    env = make_vector_env("vln/FollowRoute-v0", 4, env_kwargs={"expert": "in_view", "view_size": 16}, workers=workers)
    try:
        streamed = run_episodes(env, ExpertPolicy(), 9, seed=3)
        _assert_same(streamed, _waves(env, ExpertPolicy, 9, 3))
    finally:
        env.close()
    assert all(t.target_view is not None and len(t.target_view) == len(t) for t in streamed)
    assert all(t.target_view[-1] == 2 for t in streamed)  # the expert stops facing the goal: ahead
    assert all(t.goal_view is not None and len(t.goal_view) == len(t) and t.goal_view[-1] == 2 for t in streamed)


def test_stream_equals_waves_greedy_agent():
    """The agent's per-env restart (instruction, state, previous action) is exact."""
    from agents import AgentConfig, VLNAgent
    from vln.collection import sample_missions
    from agents.vocabulary import Vocabulary

    import keras

    keras.utils.set_random_seed(7)  # weights whose greedy episodes differ in length (asserted below)
    env = make_vector_env("vln/GoToObject-v0", 4, env_kwargs={"max_steps": 12})
    vocab = Vocabulary.build(sample_missions(env, 64, 0))
    agent = VLNAgent(AgentConfig(vocab_size=len(vocab), num_actions=4, hidden=16, text_hidden=8), vocab)
    kernel, bias = agent.policy_head.get_weights()
    agent.policy_head.set_weights([kernel * 20.0, bias])  # sharper: the greedy choice varies with the view
    make = lambda: AgentPolicy(agent, "greedy", max_words=16)  # noqa: E731
    streamed = run_stream(env, make(), 11, seed=7)
    _assert_same(streamed, _waves(env, make, 11, 7))
    assert len({len(t) for t in streamed}) > 1


def test_stream_without_max_words_takes_missions_of_any_length():
    """Without max_words each reset re-encodes the missions to the longest: the attention
    widens as longer routes stream in, and the episodes are still collected (zero padded)."""
    from agents import AgentConfig, VLNAgent
    from vln.collection import sample_missions
    from agents.vocabulary import Vocabulary

    env = make_vector_env("vln/FollowRoute-v0", 4, env_kwargs={"num_rooms": [2, 3], "max_steps": 8})
    vocab = Vocabulary.build(sample_missions(env, 64, 0))
    agent = VLNAgent(AgentConfig(vocab_size=len(vocab), num_actions=4, hidden=16, text_hidden=8), vocab)
    streamed = run_stream(env, AgentPolicy(agent, "greedy"), 40, seed=0)
    words = [len(t.mission.split()) for t in streamed]
    assert max(words[4:]) > max(words[:4])  # a longer mission came in by a partial reset
    width = streamed[0].attention.shape[1]
    for t in streamed:
        assert t.attention.shape == (len(t), width)
        np.testing.assert_allclose(t.attention.sum(axis=1), 1.0, rtol=1e-5)


def test_stream_on_gymnasium_sync_env():
    """A custom env (Gymnasium's SyncVectorEnv) streams through its partial resets too."""
    env = make_vector_env("examples.word_action_env:WordActionEnv", 3)
    streamed = run_episodes(env, ExpertPolicy(), 10, seed=0)
    _assert_same(streamed, _waves(env, ExpertPolicy, 10, 0))
