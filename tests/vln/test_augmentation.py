"""Colour swaps (vln.augmentation): the recoloured frames are the renderer's own, the words follow."""

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401  (registers the built-in envs)
from agents.vocabulary import Vocabulary
from envs.core.constants import COLOR_NAMES
from vln.augmentation import ColourSwap, shade_table
from vln.config import preset
from vln.environments import draws_flat_colours


@pytest.fixture(scope="module")
def scenes():
    """Frames of FollowRoute envs along the expert's routes, and the envs' episode batch."""
    venv = gym.make_vec("vln/FollowRoute-v0", num_envs=8, vectorization_mode="vector_entry_point",
                        num_rooms=[3, 3], landmarks_per_room=[1, 3], expert="in_view")
    obs, info = venv.reset(seed=11)
    for _ in range(4):  # through doors and past objects, so lintels and sprites are near and far
        obs, _, _, _, info = venv.step(info["expert_action"])
    yield venv, obs
    venv.close()


def test_recoloured_frames_are_what_the_renderer_draws_in_the_new_colours(scenes):
    venv, obs = scenes
    batch = venv.unwrapped.batch
    idx = np.arange(venv.num_envs)
    frames = batch.render(idx)
    np.testing.assert_array_equal(frames, obs["image"])
    perm = np.array([3, 5, 0, 4, 1, 2])
    door, objs = batch.door_color.copy(), batch.obj_color.copy()
    try:
        batch.door_color = np.where(door >= 0, perm[np.maximum(door, 0)], -1).astype(door.dtype)
        batch.obj_color = np.where(objs >= 0, perm[np.maximum(objs, 0)], -1).astype(objs.dtype)
        want = batch.render(idx)
    finally:
        batch.door_color, batch.obj_color = door, objs
    vocab = Vocabulary.build(["go through the " + " ".join(COLOR_NAMES) + " door"])
    swap = ColourSwap(vocab, 1.0)
    got, _ = swap.recolour(frames, np.zeros(4, np.int32), perm)
    coloured = (frames != want).any(axis=-1)
    assert coloured.mean() > 0.01  # the scenes do show doors and objects
    # The same pixels change, to within a level of the gain's rounding.
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 2
    assert np.mean(got == want) > 0.99
    np.testing.assert_array_equal(got[~coloured], frames[~coloured])  # walls, floor and ceiling untouched


def test_colour_words_follow_the_frames_and_the_rest_stays():
    vocab = Vocabulary.build(["walk through the red door and stop by the blue ball", " ".join(COLOR_NAMES)])
    swap = ColourSwap(vocab, 1.0)
    tokens = vocab.encode_batch(["walk through the red door and stop by the blue ball"], 16)
    frames = np.zeros((1, 3, 8, 8, 3), np.uint8)
    perm = np.array([2, 1, 0, 3, 4, 5])  # red <-> blue
    _, new = swap.recolour(frames[0], tokens[0], perm)
    assert vocab.decode(new) == "walk through the blue door and stop by the red ball"
    feed = {"images": frames, "tokens": tokens, "mask": np.ones((1, 3), np.float32)}
    out = swap(feed, np.random.default_rng(0))
    assert out["mask"] is feed["mask"] and out["tokens"] is not tokens  # copies; the input is untouched
    np.testing.assert_array_equal(tokens, vocab.encode_batch(["walk through the red door and stop by the blue ball"], 16))
    again = swap(feed, np.random.default_rng(0))
    np.testing.assert_array_equal(out["tokens"], again["tokens"])  # the same rng, the same swap
    assert ColourSwap(vocab, 0.0)(feed, np.random.default_rng(0)) is feed
    with pytest.raises(ValueError, match="lacks"):
        ColourSwap(Vocabulary.build(["go to the red ball"]), 0.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ColourSwap(vocab, 1.5)


def test_no_two_colours_draw_the_same_pixel():
    codes, owner, recoloured = shade_table()
    assert len(np.unique(codes)) == len(codes) and set(owner.tolist()) == set(range(len(COLOR_NAMES)))
    assert recoloured.shape == (len(codes), len(COLOR_NAMES), 3)


def test_only_the_built_in_envs_can_be_recoloured(tmp_path):
    from vln.train import run

    assert draws_flat_colours("vln/FollowRoute-v0") and draws_flat_colours("vln/GoToObject-v0")
    assert not draws_flat_colours("MiniGrid-Empty-5x5-v0")
    with pytest.raises(ValueError, match="--colour-swap needs one of the built-in envs"):
        run(preset("tiny", env="MiniGrid-Empty-5x5-v0", colour_swap=0.5, out=str(tmp_path / "run")), progress=False)
    with pytest.raises(ValueError, match="--colour-swap must be at most 1"):
        preset("tiny", colour_swap=2.0)
