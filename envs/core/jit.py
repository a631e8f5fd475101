"""numba when it is importable: the compiled kernels' decorator, and whether they run.

The envs' hot loops have numba kernels: the raycaster, the expert's distance tables and
paths, GoToObject's candidates, and FollowRoute's layouts and route descriptions (the
step itself is a dozen whole-batch NumPy operations, a few percent of a step, so it
stays in NumPy). The NumPy
or Python code beside each kernel stays as the fallback where numba is missing and as
the tests' oracle. ``VLN_NUMPY_ENVS=1`` turns the kernels off (the NumPy path everywhere).

Kernels compile on first use and are cached on disk (``cache=True``): next to the
sources in ``__pycache__`` when that is writable, else numba falls back to the user's
cache folder (``~/.cache/numba``), so a read-only install compiles once per user.
``NUMBA_CACHE_DIR`` overrides both.
"""

from __future__ import annotations

import os
from importlib.util import find_spec
from typing import Any, Callable

#: Whether numba is installed. It is imported only when a kernel module is (about 0.4 s).
AVAILABLE: bool = find_spec("numba") is not None
#: Whether the compiled kernels are the default path.
ENABLED: bool = AVAILABLE and os.environ.get("VLN_NUMPY_ENVS", "") not in ("1", "true", "yes")


def kernel(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``numba.njit`` with the on-disk cache, or ``fn`` itself without numba (never called then)."""
    if not AVAILABLE:
        return fn
    import numba

    # No fastmath: the kernels must round exactly as the NumPy code does (frames are compared byte by byte).
    return numba.njit(cache=True, nogil=True, boundscheck=False)(fn)
