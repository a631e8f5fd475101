"""``np.random.default_rng([...])`` streams in compiled code, draw for draw.

Episode generators seeded as ``default_rng([salt, stream, seed, attempt])`` can run inside a
numba kernel and still draw the very numbers NumPy's ``Generator`` draws: NumPy's
``SeedSequence`` hashing, its PCG64 bit generator (128-bit LCG, XSL-RR output, 32-bit
draws taken from halves of a 64-bit one), and ``Generator.integers`` (Lemire's bounded
method) and ``permutation`` (masked rejection), as NumPy's C code does them. Only what
the tasks draw is here: integers below a bound under 2**32, and small permutations.

A stream is a (6,) uint64 array: the LCG state (high, low), its increment (high, low),
and the buffered half of the last 64-bit draw (whether there is one, its value).
"""

from __future__ import annotations

import numpy as np

from envs.core.jit import kernel

_M32 = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)
_S16 = np.uint64(16)
_ONE = np.uint64(1)
_ZERO = np.uint64(0)
# SeedSequence's hash constants (numpy/random/bit_generator.pyx).
_INIT_A, _MULT_A = np.uint64(0x43B0D7E5), np.uint64(0x931E8875)
_INIT_B, _MULT_B = np.uint64(0x8B51F9DD), np.uint64(0x58F38DED)
_MIX_L, _MIX_R = np.uint64(0xCA01F9DD), np.uint64(0x4973F715)
# PCG64's 128-bit multiplier, high and low words.
_MUL_HI, _MUL_LO = np.uint64(0x2360ED051FC65DA4), np.uint64(0x4385DF649FCCF645)


@kernel
def _mulhi(a, b):
    """High 64 bits of the 128-bit product of two uint64."""
    a0, a1 = a & _M32, a >> _S32
    b0, b1 = b & _M32, b >> _S32
    p00, p01, p10, p11 = a0 * b0, a0 * b1, a1 * b0, a1 * b1
    mid = (p00 >> _S32) + (p01 & _M32) + (p10 & _M32)
    return p11 + (p01 >> _S32) + (p10 >> _S32) + (mid >> _S32)


@kernel
def _step(st):
    """state = state * multiplier + increment (mod 2**128)."""
    hi, lo = st[0], st[1]
    new_hi = _mulhi(lo, _MUL_LO) + lo * _MUL_HI + hi * _MUL_LO
    new_lo = lo * _MUL_LO
    out_lo = new_lo + st[3]
    carry = _ONE if out_lo < new_lo else _ZERO
    st[0] = new_hi + st[2] + carry
    st[1] = out_lo


@kernel
def _hashmix(value, hash_const):
    value = (value ^ hash_const) & _M32
    hash_const = (hash_const * _MULT_A) & _M32
    value = (value * hash_const) & _M32
    return value ^ (value >> _S16), hash_const


@kernel
def _mix(x, y):
    r = (_MIX_L * x - _MIX_R * y) & _M32
    return r ^ (r >> _S16)


@kernel
def seed_stream(key, st):
    """Seed ``st`` as ``default_rng(key)`` does, ``key`` a (k,) uint64 array of non-negative ints."""
    words = np.empty(2 * key.size, np.uint64)  # each int as its little-endian 32-bit words (0 is one word)
    n = 0
    for v in key:
        words[n] = v & _M32
        n += 1
        v = v >> _S32
        while v > _ZERO:
            words[n] = v & _M32
            n += 1
            v = v >> _S32
    pool = np.empty(4, np.uint64)
    hc = _INIT_A
    for i in range(4):
        pool[i], hc = _hashmix(words[i] if i < n else _ZERO, hc)
    for i_src in range(4):
        for i_dst in range(4):
            if i_src != i_dst:
                h, hc = _hashmix(pool[i_src], hc)
                pool[i_dst] = _mix(pool[i_dst], h)
    for i_src in range(4, n):
        for i_dst in range(4):
            h, hc = _hashmix(words[i_src], hc)
            pool[i_dst] = _mix(pool[i_dst], h)
    state = np.empty(8, np.uint64)  # generate_state(4, uint64), as 32-bit words
    hc = _INIT_B
    for i in range(8):
        v = (pool[i % 4] ^ hc) & _M32
        hc = (hc * _MULT_B) & _M32
        v = (v * hc) & _M32
        state[i] = v ^ (v >> _S16)
    seed_hi, seed_lo = state[0] | (state[1] << _S32), state[2] | (state[3] << _S32)
    inc_hi, inc_lo = state[4] | (state[5] << _S32), state[6] | (state[7] << _S32)
    # pcg_setseq_128_srandom_r: state 0, increment (initseq << 1) | 1, step, add the seed, step.
    st[0], st[1] = _ZERO, _ZERO
    st[2] = (inc_hi << _ONE) | (inc_lo >> np.uint64(63))
    st[3] = (inc_lo << _ONE) | _ONE
    _step(st)
    lo = st[1] + seed_lo
    st[0] = st[0] + seed_hi + (_ONE if lo < st[1] else _ZERO)
    st[1] = lo
    _step(st)
    st[4], st[5] = _ZERO, _ZERO


@kernel
def _next64(st):
    _step(st)
    hi, lo = st[0], st[1]
    x = hi ^ lo
    rot = hi >> np.uint64(58)
    return (x >> rot) | (x << ((np.uint64(64) - rot) & np.uint64(63)))


@kernel
def _next32(st):
    if st[4] != _ZERO:
        st[4] = _ZERO
        return st[5]
    v = _next64(st)
    st[4] = _ONE
    st[5] = v >> _S32
    return v & _M32


@kernel
def below(st, n):
    """``Generator.integers(n)`` for 1 <= n <= 2**32 - 1 (none drawn when n == 1)."""
    rng = np.uint64(n - 1)
    if rng == _ZERO:
        return 0
    excl = rng + _ONE
    m = _next32(st) * excl
    leftover = m & _M32
    if leftover < excl:
        threshold = (_M32 - rng) % excl
        while leftover < threshold:
            m = _next32(st) * excl
            leftover = m & _M32
    return np.int64(m >> _S32)


@kernel
def permutation(st, n):
    """``Generator.permutation(n)``: a shuffled ``arange(n)``, n < 2**32."""
    out = np.arange(n)
    for i in range(n - 1, 0, -1):
        mask = np.uint64(i)
        for s in (1, 2, 4, 8, 16, 32):
            mask |= mask >> np.uint64(s)
        j = _next32(st) & mask
        while j > np.uint64(i):
            j = _next32(st) & mask
        k = np.int64(j)
        out[i], out[k] = out[k], out[i]
    return out


class CompiledStream:
    """The ``integers(n)`` of a NumPy ``Generator``, continued from a kernel's stream state.

    Lets Python code written for a ``Generator`` (the mission phrasing) go on drawing from
    a stream that a kernel started.
    """

    def __init__(self, state: np.ndarray) -> None:
        self.state = state

    def integers(self, n: int) -> int:
        return int(below(self.state, n))


class DrawnIntegers:
    """The ``integers(n)`` of a ``Generator`` whose draws a kernel has already made, in order.

    For Python code written against a ``Generator`` (the mission phrasing) when a kernel
    drew its numbers from the same stream; each ``n`` is checked against the draw's bound.
    """

    def __init__(self, values: list[int], bounds: list[int]) -> None:
        self._draws = iter(zip(values, bounds))

    def integers(self, n: int) -> int:
        value, bound = next(self._draws)
        if bound != n:
            raise ValueError(f"the kernel drew below {bound}, the caller asks below {n}")
        return value
