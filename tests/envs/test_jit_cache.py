"""The kernels' compile is cached on disk, also where the package folder is read-only."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from envs.core import jit

ROOT = Path(__file__).resolve().parents[2]

# In a fresh process: the package folder made unwritable for numba (as in a read-only
# install), then one small kernel compiled and run.
CODE = """
import numba.core.caching as caching
def unwritable(self):
    raise OSError("read-only install")
caching.InTreeCacheLocator.ensure_cache_path = unwritable
import numpy as np
from envs.core.rng_kernel import below, seed_stream
st = np.zeros(6, np.uint64)
seed_stream(np.array([1, 2, 3], np.uint64), st)
assert below(st, 10) == np.random.default_rng([1, 2, 3]).integers(10)
print(sum(below.stats.cache_hits.values()), sum(below.stats.cache_misses.values()))
"""


@pytest.mark.skipif(not jit.AVAILABLE, reason="numba is not installed")
def test_a_read_only_install_caches_the_kernels_in_the_user_cache(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["XDG_CACHE_HOME"] = str(tmp_path)  # numba's user-wide cache folder: $XDG_CACHE_HOME/numba
    runs = [subprocess.run([sys.executable, "-c", CODE], cwd=ROOT, env=env, capture_output=True, text=True)
            for _ in range(2)]
    for run in runs:
        assert run.returncode == 0, run.stderr[-2000:]
    assert list((tmp_path / "numba").rglob("*.nbi")), "no cache index in the user's cache folder"
    (hits, misses), (hits_again, misses_again) = (map(int, run.stdout.split()) for run in runs)
    assert (hits, misses) == (0, 1), "the first process compiles"
    assert (hits_again, misses_again) == (1, 0), "the second loads what the first compiled"
