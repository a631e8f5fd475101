"""FollowRoute's layouts in compiled code: ``FollowRouteTask._generate``, draw for draw.

The kernel seeds the layout and episode streams as ``Task._candidate`` does
(``default_rng([salt, stream, seed, attempt])``, reproduced by ``envs.core.rng_kernel``),
makes every random choice of ``_generate`` in the same order, and skips attempts whose
layout hash (``Episode.layout_key``'s crc32) belongs to another split, so a whole batch of
candidates costs one call. The Python ``_generate`` stays as the fallback and the oracle.
"""

from __future__ import annotations


import numpy as np

from envs.core.constants import DOOR, FLOOR, WALL
from envs.core.expert_kernel import expert_path_walk
from envs.core.jit import kernel
from envs.core.crc_kernel import crc32, objects_crc
from envs.core.rng_kernel import below, permutation, seed_stream


@kernel
def _free_cell(st, r0, c0, size, taken, near_door, use_near):
    """``FollowRouteTask._free_cell``: a random free cell of the room at (r0, c0), row-major; (-1, -1) if none."""
    n_ok = 0
    for r in range(r0, r0 + size):
        for c in range(c0, c0 + size):
            if not taken[r, c] and not (use_near and near_door[r, c]):
                n_ok += 1
    if n_ok == 0:
        return -1, -1
    pick = below(st, n_ok)
    for r in range(r0, r0 + size):
        for c in range(c0, c0 + size):
            if not taken[r, c] and not (use_near and near_door[r, c]):
                if pick == 0:
                    return r, c
                pick -= 1
    return -1, -1


@kernel
def _generate(lay, epi, rooms_lo, rooms_hi, s, sr, sc, l_lo, l_hi, lookalike_pct, hub_pct, n_colors, n_types,  # noqa: C901
              grid, door_color, room_of, objects, taken, near_door, start):
    """One candidate into the given arrays (``grid`` etc. of ``max_grid``); returns its object
    count, or 0 where ``_generate`` returns None. ``start``: (row, col, heading)."""
    pitch = s + 1
    gh, gw = grid.shape
    n = rooms_lo + below(lay, rooms_hi - rooms_lo + 1)
    room_r = np.empty(n, np.int64)
    room_c = np.empty(n, np.int64)
    edge_a = np.empty(max(n - 1, 1), np.int64)
    room_r[0] = below(lay, sr)
    room_c[0] = below(lay, sc)
    placed = 1
    front_i = np.empty(4 * n, np.int64)
    front_r = np.empty(4 * n, np.int64)
    front_c = np.empty(4 * n, np.int64)
    while placed < n:
        m = 0
        for i in range(placed):
            for d in range(4):
                nr = room_r[i] + (0, 1, 0, -1)[d]
                nc = room_c[i] + (1, 0, -1, 0)[d]
                if 0 <= nr < sr and 0 <= nc < sc:
                    seen = False
                    for j in range(placed):
                        if room_r[j] == nr and room_c[j] == nc:
                            seen = True
                            break
                    if not seen:
                        front_i[m], front_r[m], front_c[m] = i, nr, nc
                        m += 1
        f = below(lay, m)
        room_r[placed], room_c[placed] = front_r[f], front_c[f]
        edge_a[placed - 1] = front_i[f]
        placed += 1
    grid.ravel()[:] = WALL  # (flat: numba's 2-d slice fills are several times slower)
    room_of.ravel()[:] = -1
    door_color.ravel()[:] = -1
    for k in range(n):
        grid[room_r[k] * pitch + 1: room_r[k] * pitch + 1 + s, room_c[k] * pitch + 1: room_c[k] * pitch + 1 + s] = FLOOR
        room_of[room_r[k] * pitch + 1: room_r[k] * pitch + 1 + s, room_c[k] * pitch + 1: room_c[k] * pitch + 1 + s] = k
    colors = permutation(lay, n_colors)
    for e in range(n - 1):
        a, b = edge_a[e], e + 1
        off = 1 + below(lay, s)
        if room_r[a] == room_r[b]:  # side by side: a door in the vertical wall between them
            r, c = room_r[a] * pitch + off, max(room_c[a], room_c[b]) * pitch
        else:
            r, c = max(room_r[a], room_r[b]) * pitch, room_c[a] * pitch + off
        grid[r, c] = DOOR
        door_color[r, c] = colors[e]
    near_door.ravel()[:] = False  # ``_near``: the 8-neighbourhood of the doors
    for r in range(gh):
        for c in range(gw):
            if grid[r, c] == DOOR:
                near_door[max(r - 1, 0): r + 2, max(c - 1, 0): c + 2] = True
    taken.ravel()[:] = False
    goal_room = below(lay, n)
    g_type = below(lay, n_types)
    g_color = below(lay, n_colors)
    r, c = _free_cell(lay, room_r[goal_room] * pitch + 1, room_c[goal_room] * pitch + 1, s, taken, near_door, True)
    if r < 0:
        return 0
    objects[0, 0], objects[0, 1], objects[0, 2], objects[0, 3] = r, c, g_type, g_color
    taken[r, c] = True
    n_obj = 1
    for k in range(n):
        for _ in range(l_lo + below(lay, l_hi - l_lo + 1)):
            t, col = g_type, g_color
            while t == g_type and col == g_color:
                t = below(lay, n_types)
                col = below(lay, n_colors)
            if k == goal_room and lookalike_pct > 0 and below(lay, 100) < lookalike_pct:  # ``_lookalike``
                if below(lay, 2) == 0:
                    t, col = (g_type + 1 + below(lay, n_types - 1)) % n_types, g_color
                else:
                    t, col = g_type, (g_color + 1 + below(lay, n_colors - 1)) % n_colors
            r, c = _free_cell(lay, room_r[k] * pitch + 1, room_c[k] * pitch + 1, s, taken, near_door, True)
            if r >= 0:
                objects[n_obj, 0], objects[n_obj, 1], objects[n_obj, 2], objects[n_obj, 3] = r, c, t, col
                taken[r, c] = True
                n_obj += 1
    start_room = -1
    if hub_pct > 0 and below(epi, 100) < hub_pct:  # ``hub_starts``: a room with two or more doors
        doors = np.zeros(n, np.int64)
        for e in range(n - 1):
            doors[edge_a[e]] += 1
            doors[e + 1] += 1
        hubs = 0
        for k in range(n):
            if k != goal_room and doors[k] >= 2:
                hubs += 1
        if hubs > 0:
            pick = below(epi, hubs)
            for k in range(n):
                if k != goal_room and doors[k] >= 2:
                    if pick == 0:
                        start_room = k
                        break
                    pick -= 1
    if start_room < 0:
        start_room = below(epi, n - 1)
        if start_room >= goal_room:
            start_room += 1
    r, c = _free_cell(epi, room_r[start_room] * pitch + 1, room_c[start_room] * pitch + 1, s, taken, near_door, False)
    if r < 0:
        return 0
    start[0], start[1], start[2] = r, c, below(epi, 4)
    return n_obj


@kernel
def draw_candidates(seeds, attempts, layout_key, episode_key, unseen, rooms_lo, rooms_hi, s, sr, sc, l_lo, l_hi,
                    lookalike_pct, hub_pct, n_colors, n_types, crc_table, grid, door_color, room_of, objects, n_objects, start, episode_state):
    """``Task._candidate`` for each seed: from ``attempts[i]`` on, the first attempt whose
    candidate exists and whose layout hash is in the split. Writes the candidates (and
    the attempt taken into ``attempts``, the episode stream's state into ``episode_state``);
    returns the index of a seed with no valid layout within 1000 attempts, or -1.

    ``layout_key``, ``episode_key``: the streams' (salt, stream) heads; each attempt seeds
    ``default_rng([*head, seed, attempt])``.
    """
    lay = np.empty(6, np.uint64)
    key = np.empty(4, np.uint64)
    taken = np.empty(grid.shape[1:], np.bool_)
    near_door = np.empty(grid.shape[1:], np.bool_)
    for i in range(seeds.size):
        for attempt in range(attempts[i], attempts[i] + 1000):
            key[0], key[1], key[2], key[3] = layout_key[0], layout_key[1], seeds[i], attempt
            seed_stream(key, lay)
            epi = episode_state[i]
            key[0], key[1] = episode_key[0], episode_key[1]
            seed_stream(key, epi)
            n_obj = _generate(lay, epi, rooms_lo, rooms_hi, s, sr, sc, l_lo, l_hi, lookalike_pct, hub_pct, n_colors, n_types,
                              grid[i], door_color[i], room_of[i], objects[i], taken, near_door, start[i])
            if n_obj == 0:
                continue
            # Episode.layout_key: crc32 of the grid, the door colours, then the objects as int16.
            h = crc32(grid[i].ravel(), np.uint32(0), crc_table)
            h = crc32(door_color[i].ravel().view(np.uint8), h, crc_table)
            h = objects_crc(objects[i], n_obj, h, crc_table)
            if (h % np.uint32(4) == 0) == unseen:  # layout_in_split
                n_objects[i] = n_obj
                attempts[i] = attempt
                break
        else:
            return i
    return -1


# Clause kinds of ``describe_routes``' codes, as ``FollowRouteTask._clauses`` names them.
CLAUSE_KINDS = ("exit", "door", "turn", "landmark", "goal")


@kernel
def describe_routes(dist, starts, grid, door_color, objects, n_objects, streams, n_templates, n_joiners,
                    paths, path_len, clauses, n_clauses, joiner):
    """The expert's path of each episode, ``FollowRouteTask._clauses`` of it as codes, and
    ``route_instruction``'s draws.

    ``dist`` (B, 4, H, W), ``starts`` (B, 3) (row, col, heading). Writes ``paths`` (B, L, 2)
    with ``path_len``, and ``clauses`` (B, C, 3) with ``n_clauses``: (kind, argument,
    template) with kind an index of ``CLAUSE_KINDS``, the argument the door's colour, the
    side of the turn (0 left, 1 right) or the landmark's object slot, and the phrasing
    drawn below ``n_templates[kind]`` from the episode's stream (``streams`` (B, 6)); then
    ``joiner``, drawn below ``n_joiners`` where there are several clauses (-1 otherwise).
    """
    for b in range(dist.shape[0]):
        path = paths[b]
        n = expert_path_walk(dist[b], starts[b, 0], starts[b, 1], starts[b, 2], path)
        path_len[b] = n
        out = clauses[b]
        m = 0
        # Segment bounds: the start, every door on the path, the end.
        bounds = np.empty(n + 2, np.int64)
        n_b = 1
        bounds[0] = 0
        for t in range(n):
            if grid[b, path[t, 0], path[t, 1]] == DOOR:
                bounds[n_b] = t
                n_b += 1
        bounds[n_b] = n - 1
        n_b += 1
        used = np.zeros(objects.shape[1], np.bool_)
        for seg in range(n_b - 1):
            start, end = bounds[seg], bounds[seg + 1]
            if seg > 0:  # the turn after the door: the first change of direction before the next door
                in_r = path[start, 0] - path[start - 1, 0]
                in_c = path[start, 1] - path[start - 1, 1]
                for t in range(start, end):
                    m_r = path[t + 1, 0] - path[t, 0]
                    m_c = path[t + 1, 1] - path[t, 1]
                    if m_r != in_r or m_c != in_c:
                        out[m, 0], out[m, 1] = 2, 0 if in_r * m_c - in_c * m_r > 0 else 1
                        m += 1
                        break
            for k in range(1, n_objects[b]):  # the first landmark not yet named that the segment passes
                if used[k]:
                    continue
                passed = False
                for t in range(start, end + 1):
                    if abs(objects[b, k, 0] - path[t, 0]) <= 1 and abs(objects[b, k, 1] - path[t, 1]) <= 1:
                        passed = True
                        break
                if passed:
                    out[m, 0], out[m, 1] = 3, k
                    m += 1
                    used[k] = True
                    break
            r, c = path[end, 0], path[end, 1]
            if end < n - 1 or grid[b, r, c] == DOOR:
                out[m, 0], out[m, 1] = 0 if seg == 0 else 1, door_color[b, r, c]
                m += 1
        out[m, 0], out[m, 1] = 4, 0
        n_clauses[b] = m + 1
        for j in range(m + 1):  # route_instruction: a phrasing per clause, then the joiner
            out[j, 2] = below(streams[b], n_templates[out[j, 0]])
        joiner[b] = below(streams[b], n_joiners) if m > 0 else -1
