"""GoToObject's candidates in compiled code: ``GoToObjectTask._draw`` and its selection, number for number.

For each seed, attempt after attempt, the kernel draws the same counter-based uniforms as
``envs.core.task.hash_uniforms`` (SplitMix64's mixer, exact in uint64), makes the same
choices as ``_draw`` (a stable sort's first cells, the first smallest start key), and
keeps the first candidate that has a start cell and whose layout hash
(``Episode.layout_key``'s crc32) belongs to the split. The NumPy ``_draw`` stays as the
fallback and the oracle.
"""

from __future__ import annotations

import numpy as np

from envs.core.constants import FLOOR, WALL
from envs.core.crc_kernel import crc32, objects_crc
from envs.core.jit import kernel

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@kernel
def _mix64(x):
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@kernel
def _uniforms(salt, stream, seed, attempt, out):
    """``hash_uniforms`` of one (seed, attempt): ``out.size`` uniforms in [0, 1)."""
    key = _mix64(salt ^ stream)
    key = _mix64(key ^ seed)
    key = _mix64(key ^ attempt)
    for j in range(out.size):
        bits = _mix64(key + np.uint64(j + 1) * _GOLDEN)
        out[j] = np.float64(bits >> np.uint64(11)) * 2.0**-53


@kernel
def _below(u, n):
    return np.int64(u * n)


@kernel
def draw_candidates(seeds, attempts, max_attempts, salts, streams, room_lo, room_hi, d_lo, d_hi, n_types, n_colors,
                    n_phrasings, crc_table, h_out, w_out, n_objects, objects, start, start_dir, phrasing):
    """The first valid candidate of each seed from ``attempts[i]`` on, within ``max_attempts``.

    ``salts``, ``streams``: (layout, episode) of ``hash_uniforms``. Writes the room size,
    the objects ((row, col, type, colour) per slot, slot 0 the target), the start cell and
    heading and the phrasing, and the attempt taken into ``attempts``. Returns the index of
    a seed without a valid candidate, or -1.
    """
    k = 1 + d_hi
    cells = room_hi * room_hi
    lay = np.empty(5 + 3 * d_hi + cells)
    epi = np.empty(2 + cells)
    kind = np.empty(k, np.int64)
    picked = np.zeros(cells, np.bool_)
    taken = np.zeros(cells, np.bool_)
    picks = np.empty(k, np.int64)
    for i in range(seeds.size):
        for attempt in range(attempts[i], attempts[i] + max_attempts):
            _uniforms(salts[0], streams[0], seeds[i], np.uint64(attempt), lay)
            _uniforms(salts[1], streams[1], seeds[i], np.uint64(attempt), epi)
            h = room_lo + _below(lay[0], room_hi - room_lo + 1)
            w = room_lo + _below(lay[1], room_hi - room_lo + 1)
            n_obj = 1 + d_lo + _below(lay[2], d_hi - d_lo + 1)
            target = _below(lay[3], n_types) * n_colors + _below(lay[4], n_colors)
            kind[0] = target
            t_type, t_color = target // n_colors, target % n_colors
            for j in range(d_hi):  # ``_distractor_kinds``
                roll, u1, u2 = lay[5 + j], lay[5 + d_hi + j], lay[5 + 2 * d_hi + j]
                if roll < 0.35:
                    kind[1 + j] = t_type * n_colors + (t_color + 1 + _below(u1, n_colors - 1)) % n_colors
                elif roll < 0.7:
                    kind[1 + j] = ((t_type + 1 + _below(u1, n_types - 1)) % n_types) * n_colors + t_color
                else:
                    kind[1 + j] = (target + 1 + _below(u2, n_types * n_colors - 1)) % (n_types * n_colors)
            # The k smallest cell keys, in a stable sort's order (cells outside the room key 2.0).
            keys = lay[5 + 3 * d_hi:]
            picked[:] = False
            for j in range(k):
                best, best_key = -1, 3.0
                for c in range(cells):
                    key = keys[c] if c // room_hi < h and c % room_hi < w else 2.0
                    if not picked[c] and key < best_key:
                        best, best_key = c, key
                picked[best] = True
                picks[j] = best
            taken[:] = False
            for j in range(n_obj):
                taken[picks[j]] = True
            t_row, t_col = picks[0] // room_hi + 1, picks[0] % room_hi + 1
            # The start: the free cell with the smallest key at least two cells from the target.
            best, best_key = 0, 2.0
            for c in range(cells):
                r, cc = c // room_hi, c % room_hi
                if r < h and cc < w and not taken[c] and max(abs(r + 1 - t_row), abs(cc + 1 - t_col)) >= 2:
                    if epi[2 + c] < best_key:
                        best, best_key = c, epi[2 + c]
            if not best_key < 2.0:
                continue
            for j in range(k):
                objects[i, j, 0] = picks[j] // room_hi + 1
                objects[i, j, 1] = picks[j] % room_hi + 1
                objects[i, j, 2] = kind[j] // n_colors
                objects[i, j, 3] = kind[j] % n_colors
            # Episode.layout_key: the empty room's grid, its door colours (-1), then the objects as int16.
            crc = np.uint32(0)
            row_bytes = np.empty(w + 2, np.uint8)
            for r in range(h + 2):
                for c in range(w + 2):
                    row_bytes[c] = FLOOR if 0 < r < h + 1 and 0 < c < w + 1 else WALL
                crc = crc32(row_bytes, crc, crc_table)
            row_bytes[:] = 255  # int8 -1
            for r in range(h + 2):
                crc = crc32(row_bytes, crc, crc_table)
            crc = objects_crc(objects[i], n_obj, crc, crc_table)
            if (crc % np.uint32(4) == 0) == (streams[0] == np.uint64(1)):  # layout_in_split
                h_out[i], w_out[i], n_objects[i], attempts[i] = h, w, n_obj, attempt
                start[i, 0], start[i, 1] = best // room_hi + 1, best % room_hi + 1
                start_dir[i], phrasing[i] = _below(epi[0], 4), _below(epi[1], n_phrasings)
                break
        else:
            return i
    return -1
