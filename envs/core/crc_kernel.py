"""zlib's CRC-32 in compiled code, so kernels can hash layouts as ``Episode.layout_key`` does."""

from __future__ import annotations

import numpy as np

from envs.core.jit import kernel


def _crc_table() -> np.ndarray:
    """zlib's CRC-32 table (reflected polynomial 0xEDB88320), for ``zlib.crc32`` inside the kernel."""
    table = np.zeros(256, np.uint32)
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
        table[i] = c
    return table


CRC_TABLE = _crc_table()


@kernel
def crc32(data, crc, table):
    """``zlib.crc32(data, crc)`` of a uint8 array."""
    c = crc ^ np.uint32(0xFFFFFFFF)
    for byte in data:
        c = table[(c ^ np.uint32(byte)) & np.uint32(0xFF)] ^ (c >> np.uint32(8))
    return c ^ np.uint32(0xFFFFFFFF)


@kernel
def objects_crc(objects, n, crc, table):
    """``crc32`` continued over ``objects[:n]`` ((row, col, type, colour) rows) as int16, as ``Episode.layout_key`` hashes them."""
    buf = np.empty(4 * n, np.int16)
    for k in range(n):
        for f in range(4):
            buf[4 * k + f] = objects[k, f]
    return crc32(buf.view(np.uint8), crc, table)
