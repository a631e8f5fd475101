"""The compiled raycaster draws the NumPy renderer's frames, byte for byte.

Golden frames (tests/envs/data/golden_frames.npz, written by the NumPy renderer through
make_golden_frames.py) pin both paths to fixed bytes; random scenes check that the two
paths agree where no fixture reaches (doors, crowded sprites, other view sizes).
"""

import sys
from pathlib import Path

import numpy as np
import pytest

from envs.core import jit
from envs.core.constants import DOOR, FLOOR, WALL
from envs.render.raycast import RaycastRenderer, SceneBatch

DATA = Path(__file__).parent / "data"
sys.path.insert(0, str(DATA))
import make_golden_frames as golden  # noqa: E402

needs_numba = pytest.mark.skipif(not jit.AVAILABLE, reason="numba is not installed")
PATHS = [pytest.param(False, id="numpy"), pytest.param(True, id="compiled", marks=needs_numba)]


@pytest.fixture(scope="module")
def fixture_frames():
    with np.load(DATA / "golden_frames.npz") as data:
        return {name: data[name] for name in data.files}


@pytest.mark.parametrize("compiled", PATHS)
@pytest.mark.parametrize("name, cls, opts", golden.CASES, ids=[c[0] for c in golden.CASES])
def test_golden_frames(fixture_frames, name, cls, opts, compiled):
    frames = golden.golden_frames(cls, opts, compiled=compiled)
    expected = fixture_frames[name]
    assert frames.shape == expected.shape
    bad = np.argwhere((frames != expected).any(axis=(2, 3, 4)))
    assert bad.size == 0, f"{len(bad)} frames differ, first (snapshot, env) {bad[0].tolist()}"


def test_the_default_path_is_compiled_where_numba_is():
    assert RaycastRenderer().compiled == jit.ENABLED
    assert RaycastRenderer(compiled=False).compiled is False


def random_scenes(rng: np.random.Generator, n: int, gh: int, gw: int, k: int) -> SceneBatch:
    """Random walls, coloured doors and objects; eyes at free cell centres, any heading."""
    grid = np.where(rng.random((n, gh, gw)) < 0.25, WALL, FLOOR).astype(np.uint8)
    grid[rng.random((n, gh, gw)) < 0.08] = DOOR
    door_color = np.where(grid == DOOR, rng.integers(0, 6, (n, gh, gw)), -1).astype(np.int8)
    pos = np.zeros((n, 2))
    for b in range(n):
        free = np.argwhere(grid[b] != WALL)
        pos[b] = free[rng.integers(len(free))] + 0.5
    obj_pos = rng.integers(0, [gh, gw], (n, k, 2)) + 0.5
    # Some objects share a cell or a depth (the far-to-near order's ties), some are absent.
    obj_pos[:, 1] = obj_pos[:, 0]
    obj_type = np.where(rng.random((n, k)) < 0.8, rng.integers(0, 4, (n, k)), -1)
    return SceneBatch(grid, door_color, pos, rng.integers(0, 4, n), obj_pos, obj_type, rng.integers(0, 6, (n, k)))


@needs_numba
@pytest.mark.parametrize("size, fov, vfov", [((64, 64), 90.0, None), ((48, 48), 110.0, 60.0), ((40, 24), 70.0, 120.0)])
def test_compiled_matches_numpy_on_random_scenes(size, fov, vfov):
    rng = np.random.default_rng(7)
    compiled = RaycastRenderer(*size, fov, vfov, compiled=True)
    oracle = RaycastRenderer(*size, fov, vfov, compiled=False)
    for gh, gw, k in ((5, 5, 3), (13, 19, 12), (1, 30, 6)):
        scenes = random_scenes(rng, 64, gh, gw, k)
        np.testing.assert_array_equal(compiled.render(scenes), oracle.render(scenes))


@needs_numba
def test_off_centre_eyes_use_the_numpy_path():
    scenes = random_scenes(np.random.default_rng(3), 4, 7, 7, 2)
    scenes.pos[0] += 0.25  # not at a cell centre: only the NumPy DDA draws it
    np.testing.assert_array_equal(RaycastRenderer(compiled=True).render(scenes),
                                  RaycastRenderer(compiled=False).render(scenes))
