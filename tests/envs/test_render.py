"""Tests for envs.render: the batched raycaster and the human frame."""

import gymnasium
import numpy as np
import pytest

import envs
from envs.core.constants import CEILING_RGB, COLORS, DOOR, FLOOR, FLOOR_RGB, LEFT, RIGHT, WALL, WALL_RGB
from envs.core.world import empty_room
from envs.render.raycast import RaycastRenderer, SceneBatch

EAST, SOUTH, WEST, NORTH = 0, 1, 2, 3


def scene(grid, pos, heading, objects=(), door_color=None, k=None):
    """A SceneBatch of one world. ``pos`` is a cell (row, col): the eye sits at its centre.

    ``objects``: (row, col, type, color) cells. ``k`` pads the object arrays.
    """
    grid = np.asarray(grid, np.uint8)
    if door_color is None:
        door_color = np.full(grid.shape, -1, np.int8)
    k = max(len(objects), 1) if k is None else k
    obj_pos = np.zeros((1, k, 2))
    obj_type = np.full((1, k), -1, np.int64)
    obj_color = np.full((1, k), -1, np.int64)
    for j, (r, c, t, col) in enumerate(objects):
        obj_pos[0, j] = (r + 0.5, c + 0.5)
        obj_type[0, j] = t
        obj_color[0, j] = col
    return SceneBatch(
        grid=grid[None], door_color=np.asarray(door_color, np.int8)[None],
        pos=np.array([[pos[0] + 0.5, pos[1] + 0.5]]), heading=np.array([heading]),
        obj_pos=obj_pos, obj_type=obj_type, obj_color=obj_color,
    )


def concat(scenes):
    return SceneBatch(*(np.concatenate([getattr(s, f) for s in scenes]) for f in
                        ("grid", "door_color", "pos", "heading", "obj_pos", "obj_type", "obj_color")))


def is_wall_colour(px):
    """``px`` (..., 3) is WALL_RGB scaled by some shade (same hue, not too dark)."""
    return hue_matches(px, WALL_RGB, cos_min=0.9995, min_norm=60.0)


def hue_matches(px, rgb, cos_min=0.995, min_norm=40.0):
    px = np.asarray(px, np.float64)
    rgb = np.asarray(rgb, np.float64)
    norm = np.linalg.norm(px, axis=-1)
    cos = (px @ rgb) / np.maximum(norm * np.linalg.norm(rgb), 1e-9)
    return (cos >= cos_min) & (norm >= min_norm)


# ------------------------------------------------------------------ walls


@pytest.mark.parametrize("heading", [EAST, SOUTH, WEST, NORTH])
def test_wall_at_half_a_cell_fills_centre_column(heading):
    # A 3x3 room; the agent stands next to the wall it faces, so the face is 0.5 from the eye.
    grid = empty_room(3, 3)
    cell = {EAST: (2, 3), SOUTH: (3, 2), WEST: (2, 1), NORTH: (1, 2)}[heading]
    img = RaycastRenderer(64, 64, 90.0).render(scene(grid, cell, heading))[0]
    assert img.shape == (64, 64, 3) and img.dtype == np.uint8
    for x in (31, 32):
        col = img[:, x]
        assert (col == col[0]).all(), "a flat wall face has one colour top to bottom"
        assert is_wall_colour(col).all(), col[0]
    # Not the ceiling or the floor colour.
    assert not hue_matches(img[:, 32], CEILING_RGB, 0.999, 0).any()
    assert not hue_matches(img[:, 32], FLOOR_RGB, 0.999, 0).any()


def test_far_wall_leaves_ceiling_and_floor():
    grid = empty_room(1, 9)
    img = RaycastRenderer(64, 64, 90.0).render(scene(grid, (1, 1), EAST))[0]
    col = img[:, 32]
    assert is_wall_colour(col[32]) and is_wall_colour(col[31])
    assert not is_wall_colour(col[0]) and not is_wall_colour(col[-1])
    assert (img[0] != img[-1]).any(), "ceiling and floor differ"


def wall_rows(img, x=None):
    x = img.shape[1] // 2 if x is None else x
    return int(is_wall_colour(img[:, x]).sum())


def test_nearer_wall_is_taller():
    grid = empty_room(1, 9)
    r = RaycastRenderer(64, 64, 90.0)
    heights = [wall_rows(r.render(scene(grid, (1, c), EAST))[0]) for c in (2, 4, 6, 8)]
    assert heights == sorted(heights) and len(set(heights)) == 4, heights


def test_fov_is_configurable():
    grid = empty_room(1, 9)
    heights = []
    for fov in (60.0, 90.0, 120.0):
        img = RaycastRenderer(64, 64, fov).render(scene(grid, (1, 6), EAST))[0]
        heights.append(wall_rows(img))
    # A narrower field of view magnifies: the same wall spans more rows.
    assert heights[0] > heights[1] > heights[2], heights


def test_vertical_fov_stretches_rows_only():
    grid = empty_room(5, 9)
    ball = [(3, 6, 0, 0)]  # a red ball three cells ahead
    square = RaycastRenderer(64, 64, 90.0).render(scene(grid, (3, 3), EAST, ball))[0]
    same = RaycastRenderer(64, 64, 90.0, vfov_deg=90.0).render(scene(grid, (3, 3), EAST, ball))[0]
    np.testing.assert_array_equal(same, square)  # vfov == fov is the square-pixel camera
    narrow = RaycastRenderer(64, 64, 90.0, vfov_deg=50.0).render(scene(grid, (3, 3), EAST, ball))[0]
    red = [hue_matches(img, COLORS[0]) for img in (square, narrow)]
    rows = [np.flatnonzero(m.any(axis=1)) for m in red]
    cols = [np.flatnonzero(m.any(axis=0)) for m in red]
    # The ball is taller by about tan(45°) / tan(25°) = 2.1, as wide, in the same columns.
    assert 1.8 < len(rows[1]) / len(rows[0]) < 2.5, (rows[0], rows[1])
    assert abs(len(cols[1]) - len(cols[0])) <= 1 and abs(cols[1].mean() - cols[0].mean()) <= 1
    assert wall_rows(narrow) > 1.8 * wall_rows(square)


@pytest.mark.parametrize("bad", [dict(width=4, height=64), dict(width=64, height=64, fov_deg=10.0),
                                 dict(width=64, height=64, fov_deg=170.0),
                                 dict(width=64, height=64, vfov_deg=10.0)])
def test_bad_renderer_settings(bad):
    with pytest.raises(ValueError):
        RaycastRenderer(**bad)


# ------------------------------------------------------------------ objects and occlusion


def occlusion_world():
    grid = empty_room(5, 7)
    grid[3, 3] = WALL  # a pillar two cells ahead of the agent at (3, 1) facing east
    return grid


def test_object_behind_wall_is_hidden():
    grid = occlusion_world()
    behind = (3, 5, 0, 0)  # a red ball straight behind the pillar
    r = RaycastRenderer(64, 64, 90.0)
    empty = r.render(scene(grid, (3, 1), EAST, k=1))[0]
    hidden = r.render(scene(grid, (3, 1), EAST, [behind]))[0]
    np.testing.assert_array_equal(hidden, empty)
    # Without the pillar the same object is in view and changes the frame.
    open_grid = grid.copy()
    open_grid[3, 3] = FLOOR
    open_empty = r.render(scene(open_grid, (3, 1), EAST, k=1))[0]
    seen = r.render(scene(open_grid, (3, 1), EAST, [behind]))[0]
    assert (seen != open_empty).any()
    assert hue_matches(seen, COLORS[0], 0.99, 20).sum() > 0


def test_object_in_open_view_is_drawn_in_its_colour():
    grid = empty_room(5, 7)
    r = RaycastRenderer(64, 64, 90.0)
    for color in range(len(COLORS)):
        for obj_type in range(4):
            img = r.render(scene(grid, (3, 1), EAST, [(3, 3, obj_type, color)]))[0]
            base = r.render(scene(grid, (3, 1), EAST, k=1))[0]
            changed = (img != base).any(axis=-1)
            assert changed.sum() >= 10
            # Sprites are centred: the changed pixels straddle the centre column.
            xs = np.nonzero(changed)[1]
            assert xs.min() < 32 <= xs.max()


def test_object_behind_the_agent_is_not_drawn():
    grid = empty_room(5, 7)
    r = RaycastRenderer(64, 64, 90.0)
    base = r.render(scene(grid, (3, 4), EAST, k=1))[0]
    img = r.render(scene(grid, (3, 4), EAST, [(3, 2, 1, 2)]))[0]
    np.testing.assert_array_equal(img, base)


def test_nearer_object_paints_over_farther_one():
    grid = empty_room(1, 9)
    r = RaycastRenderer(64, 64, 90.0)
    near, far = (1, 3, 1, 2), (1, 6, 1, 0)  # a blue box in front of a red box
    both = r.render(scene(grid, (1, 1), EAST, [far, near]))[0]
    both_rev = r.render(scene(grid, (1, 1), EAST, [near, far]))[0]
    np.testing.assert_array_equal(both, both_rev)
    base = r.render(scene(grid, (1, 1), EAST, k=2))[0]
    only_near = r.render(scene(grid, (1, 1), EAST, [near], k=2))[0]
    only_far = r.render(scene(grid, (1, 1), EAST, [far], k=2))[0]
    near_px = (only_near != base).any(axis=-1)
    far_px = (only_far != base).any(axis=-1)
    assert (near_px & far_px).sum() >= 4, "the test needs the two sprites to overlap"
    np.testing.assert_array_equal(both[near_px], only_near[near_px])  # the near box wins
    np.testing.assert_array_equal(both[far_px & ~near_px], only_far[far_px & ~near_px])


# ------------------------------------------------------------------ doors


@pytest.mark.parametrize("color", [0, 1, 2, 3, 4])
def test_door_in_view_draws_its_colour(color):
    grid = empty_room(3, 3)
    grid = np.concatenate([grid, empty_room(3, 3)[:, 1:]], axis=1)  # two rooms side by side
    grid[2, 4] = DOOR
    doors = np.full(grid.shape, -1, np.int8)
    doors[2, 4] = color
    r = RaycastRenderer(64, 64, 90.0)
    img = r.render(scene(grid, (2, 2), EAST, door_color=doors))[0]
    walled = grid.copy()
    walled[2, 4] = WALL
    no_door = r.render(scene(walled, (2, 2), EAST))[0]
    assert hue_matches(img, COLORS[color]).sum() >= 20
    assert hue_matches(no_door, COLORS[color]).sum() == 0
    # Through the opening the next room is seen: the centre column is not a wall at 1.5.
    assert wall_rows(img) < wall_rows(no_door)


# ------------------------------------------------------------------ batching and the env


def test_batch_equals_each_alone():
    r = RaycastRenderer(48, 48, 75.0)
    grid = occlusion_world()
    doors = np.full(grid.shape, -1, np.int8)
    grid[0, 4] = DOOR
    doors[0, 4] = 3
    scenes = [
        scene(grid, (3, 1), EAST, [(3, 5, 0, 0), (1, 4, 2, 1)], doors),
        scene(grid, (1, 6), WEST, [(3, 5, 3, 4), (5, 2, 1, 5)], doors),
        scene(grid, (5, 5), NORTH, [(1, 5, 0, 2)], doors, k=2),
        scene(grid, (2, 2), SOUTH, [], doors, k=2),
    ]
    batch = r.render(concat(scenes))
    assert batch.shape == (4, 48, 48, 3) and batch.dtype == np.uint8
    for i, s in enumerate(scenes):
        np.testing.assert_array_equal(batch[i], r.render(s)[0])
    assert len({b.tobytes() for b in batch}) == 4


@pytest.mark.parametrize("env_id", envs.ENV_IDS)
def test_vector_frames_equal_single_env_frames(env_id):
    venv = gymnasium.make_vec(env_id, num_envs=3, vectorization_mode="vector_entry_point", view_size=32)
    obs, _ = venv.reset(seed=11)
    for i in range(3):
        env = gymnasium.make(env_id, view_size=32)
        single, _ = env.reset(seed=11 + i)
        np.testing.assert_array_equal(obs["image"][i], single["image"])


@pytest.mark.parametrize("env_id", envs.ENV_IDS)
@pytest.mark.parametrize("turn", [LEFT, RIGHT])
def test_four_turns_return_the_same_frame(env_id, turn):
    env = gymnasium.make(env_id)
    for seed in (0, 1):
        obs, _ = env.reset(seed=seed)
        frames = [obs["image"]]
        for _ in range(4):
            obs, *_ = env.step(turn)
            frames.append(obs["image"])
        np.testing.assert_array_equal(frames[4], frames[0])
        assert len({f.tobytes() for f in frames[:4]}) >= 3, "the four headings look different"


@pytest.mark.parametrize("env_id", envs.ENV_IDS)
@pytest.mark.parametrize("size", [32, 48])
def test_view_size_and_fov_are_configurable(env_id, size):
    frames = []
    for fov in (60.0, 110.0):
        env = gymnasium.make(env_id, view_size=size, fov_deg=fov)
        obs, _ = env.reset(seed=3)
        assert obs["image"].shape == (size, size, 3) and obs["image"].dtype == np.uint8
        assert env.observation_space["image"].shape == (size, size, 3)
        assert env.observation_space.contains(obs)
        frames.append(obs["image"])
    assert (frames[0] != frames[1]).any()


def test_default_view_is_64():
    for env_id in envs.ENV_IDS:
        obs, _ = gymnasium.make(env_id).reset(seed=0)
        assert obs["image"].shape == (64, 64, 3) and obs["image"].dtype == np.uint8


@pytest.mark.parametrize("env_id", envs.ENV_IDS)
def test_rgb_array_render_is_view_beside_map(env_id):
    env = gymnasium.make(env_id, render_mode="rgb_array", view_size=32)
    obs, _ = env.reset(seed=5)
    frame = env.render()
    assert frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype == np.uint8
    h, w = frame.shape[:2]
    scale = env.unwrapped.metadata["render_view_scale"]
    assert scale == 4
    assert h >= scale * 32 and w > h, "the map sits beside the upscaled first-person view"
    big = np.repeat(np.repeat(obs["image"], scale, axis=0), scale, axis=1)
    np.testing.assert_array_equal(frame[: big.shape[0], : big.shape[1]], big)
    assert frame[:, big.shape[1] :].any(), "the map is drawn"
    # The frame follows the agent.
    obs, *_ = env.step(LEFT)
    frame2 = env.render()
    assert frame2.shape == frame.shape and (frame2 != frame).any()
    # Without a render mode, render() gives nothing.
    env2 = gymnasium.make(env_id)
    env2.reset(seed=5)
    assert env2.render() is None


@pytest.mark.parametrize("env_id", envs.ENV_IDS)
def test_rgb_array_frames_are_not_padded(env_id):
    """No padding (to even sizes, say: video writers do that). The last column is the map's
    outer wall, the last row the view's or the map's."""
    env = gymnasium.make(env_id, render_mode="rgb_array")
    for seed in range(4):
        env.reset(seed=seed)
        frame = env.render()
        assert frame[:, -1].any() and frame[-1].any(), (seed, frame.shape)


def test_both_envs_declare_the_render_view_scale():
    for env_id in envs.ENV_IDS:
        env = gymnasium.make(env_id)
        venv = gymnasium.make_vec(env_id, num_envs=2, vectorization_mode="vector_entry_point")
        assert env.metadata["render_view_scale"] == venv.metadata["render_view_scale"] == 4
        venv.close()


def test_vector_render_gives_one_frame_per_env():
    venv = gymnasium.make_vec("vln/GoToObject-v0", num_envs=2, vectorization_mode="vector_entry_point",
                              render_mode="rgb_array", view_size=32)
    obs, _ = venv.reset(seed=0)
    frames = venv.render()
    assert len(frames) == 2
    assert all(f.ndim == 3 and f.shape[2] == 3 and f.dtype == np.uint8 for f in frames)
    scale = venv.metadata["render_view_scale"]
    for frame, view in zip(frames, obs["image"]):
        big = np.repeat(np.repeat(view, scale, axis=0), scale, axis=1)
        np.testing.assert_array_equal(frame[: big.shape[0], : big.shape[1]], big)


@pytest.mark.parametrize("fov", [60.0, 90.0, 120.0])
def test_precomputed_walks_match_the_dda(fov):
    """Eyes at cell centres use precomputed ray walks; they must give the DDA's exact rays."""
    rng = np.random.default_rng(0)
    b, h, w = 40, 9, 12
    grid = np.where(rng.random((b, h, w)) < 0.25, WALL, np.where(rng.random((b, h, w)) < 0.1, DOOR, FLOOR)).astype(np.uint8)
    grid[:, [0, -1], :] = WALL
    grid[:, :, [0, -1]] = WALL
    pos = np.stack([rng.integers(1, h - 1, b), rng.integers(1, w - 1, b)], axis=1)
    grid[np.arange(b), pos[:, 0], pos[:, 1]] = FLOOR
    door_color = np.where(grid == DOOR, rng.integers(0, 6, (b, h, w)), -1).astype(np.int8)
    scene = SceneBatch(grid=grid, door_color=door_color, pos=pos + 0.5, heading=rng.integers(0, 4, b),
                       obj_pos=np.zeros((b, 1, 2)), obj_type=np.full((b, 1), -1), obj_color=np.full((b, 1), -1))
    r = RaycastRenderer(32, 32, fov)
    depth, wall_idx, door_depth, door_col, _, _ = r._cast_walks(scene)
    _, ref_depth, ref_side, ref_door_depth, ref_door_col, _, _ = r._cast(scene)
    np.testing.assert_array_equal(depth, np.maximum(ref_depth, 1e-3))
    np.testing.assert_array_equal(wall_idx, r._wall_index(ref_side, ref_depth))
    np.testing.assert_array_equal(door_depth, ref_door_depth)
    np.testing.assert_array_equal(door_col, ref_door_col)
