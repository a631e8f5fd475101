"""Tests for the tasks: layouts, instructions, splits, rewards and end-of-episode info."""

import re

import gymnasium
import numpy as np
import pytest

import envs
from envs.core.constants import COLOR_NAMES, DOOR, LEFT, OBJECT_TYPES, STOP, WALL
from envs.core.mission import GOTO, ROUTE, SPLITS, all_training_words
from envs.core.task import HELD_OUT_LAYOUTS, layout_in_split
from envs.nav_env import SHAPING_SCALE
from envs.tasks import FollowRouteTask, GoToObjectTask

GOTO_ID, ROUTE_ID = envs.ENV_IDS
OBJ_NAMES = [f"{c} {t}" for c in COLOR_NAMES for t in OBJECT_TYPES]


def rollout(env, seed, policy=None, max_len=500):
    """Reset with ``seed`` and step (expert by default); returns per-step records."""
    obs, info = env.reset(seed=seed)
    rec = [(obs["image"].copy(), obs["mission"], info["expert_action"], 0.0)]
    for t in range(max_len):
        a = info["expert_action"] if policy is None else policy(t, info)
        obs, r, term, trunc, info = env.step(a)
        rec.append((obs["image"].copy(), obs["mission"], info["expert_action"], r))
        if term or trunc:
            return rec, info
    raise AssertionError("episode did not end")


def layout(ep):
    return (ep.grid.tobytes(), ep.door_color.tobytes(), tuple(ep.objects), ep.start, ep.start_dir, ep.mission)


# ------------------------------------------------------------------ determinism


@pytest.mark.parametrize("env_id", envs.ENV_IDS)
def test_same_seed_same_episode(env_id):
    a, b = gymnasium.make(env_id, view_size=24), gymnasium.make(env_id, view_size=24)
    for seed in (0, 7, 123456):
        rec_a, info_a = rollout(a, seed)
        ep_a = a.unwrapped.episode
        rec_b, info_b = rollout(b, seed)
        ep_b = b.unwrapped.episode
        assert layout(ep_a) == layout(ep_b)
        assert len(rec_a) == len(rec_b)
        for (img_a, m_a, x_a, r_a), (img_b, m_b, x_b, r_b) in zip(rec_a, rec_b):
            np.testing.assert_array_equal(img_a, img_b)
            assert (m_a, x_a, r_a) == (m_b, x_b, r_b)
        assert info_a["reference_path"] == info_b["reference_path"]
    # And a task object alone, across fresh instances.
    task = type(a.unwrapped.task)
    assert layout(task().generate(5)) == layout(task().generate(5))


@pytest.mark.parametrize("env_id", envs.ENV_IDS)
def test_different_seeds_differ(env_id):
    env = gymnasium.make(env_id, view_size=16)
    keys, missions, frames = set(), set(), set()
    for seed in range(12):
        obs, _ = env.reset(seed=seed)
        keys.add(env.unwrapped.episode.layout_key())
        missions.add(obs["mission"])
        frames.add(obs["image"].tobytes())
    assert len(keys) == 12
    assert len(missions) >= 6
    assert len(frames) >= 11


def test_reset_without_seed_after_seeding_is_reproducible():
    a, b = gymnasium.make(GOTO_ID, view_size=16), gymnasium.make(GOTO_ID, view_size=16)
    a.reset(seed=3)
    b.reset(seed=3)
    for _ in range(3):
        oa, _ = a.reset()
        ob, _ = b.reset()
        assert layout(a.unwrapped.episode) == layout(b.unwrapped.episode)
        np.testing.assert_array_equal(oa["image"], ob["image"])


# ------------------------------------------------------------------ splits


def test_layout_in_split_rule():
    for key in range(200):
        held_out = key % HELD_OUT_LAYOUTS == 0
        assert layout_in_split(key, "unseen") == held_out
        assert layout_in_split(key, "train") == (not held_out)
        assert layout_in_split(key, "seen") == layout_in_split(key, "train")


@pytest.mark.parametrize("task_cls", [GoToObjectTask, FollowRouteTask])
def test_unseen_layouts_disjoint_from_train(task_cls):
    task = task_cls()
    seeds = range(60)
    train = task.generate_batch(seeds, "train")
    seen = task.generate_batch(seeds, "seen")
    unseen = task.generate_batch(seeds, "unseen")
    train_keys = {e.layout_key() for e in train}
    unseen_keys = {e.layout_key() for e in unseen}
    assert all(layout_in_split(k, "train") for k in train_keys)
    assert all(layout_in_split(k, "unseen") for k in unseen_keys)
    assert train_keys.isdisjoint(unseen_keys)
    assert len(unseen_keys) >= 55
    # val-seen shares train's layouts (same seed, same layout) with its own start/phrasing.
    assert [e.layout_key() for e in seen] == [e.layout_key() for e in train]


def words(text):
    return set(text.replace(",", " ").split())


def test_unseen_words_all_appear_in_training():
    known = all_training_words() | set(COLOR_NAMES) | set(OBJECT_TYPES) | {"left", "right"}
    for task in (GoToObjectTask(), FollowRouteTask()):
        for ep in task.generate_batch(range(60), "unseen"):
            assert words(ep.mission) <= known, ep.mission


def test_all_training_words_covers_training_missions():
    known = all_training_words() | set(COLOR_NAMES) | set(OBJECT_TYPES) | {"left", "right"}
    for task in (GoToObjectTask(), FollowRouteTask()):
        for ep in task.generate_batch(range(60), "train"):
            assert words(ep.mission) <= known, ep.mission


def template_regex(template):
    slot = {"{obj}": "(?:" + "|".join(OBJ_NAMES) + ")", "{door}": "(?:" + "|".join(COLOR_NAMES) + ")",
            "{side}": "(?:left|right)"}
    out = re.escape(template)
    for k, v in slot.items():
        out = out.replace(re.escape(k), v)
    return out


def goto_regex(group):
    return re.compile("(?:" + "|".join(template_regex(t) for t in GOTO[group]) + ")")


def route_regex(group):
    clause = "(?:" + "|".join(template_regex(t) for kind in ROUTE.values() for t in kind[group]) + ")"
    return re.compile(f"{clause}(?:(?:, then |, | and ){clause})*")


def test_goto_missions_use_split_templates():
    task = GoToObjectTask()
    for split in SPLITS:
        group = "heldout" if split == "unseen" else "train"
        other = "train" if group == "heldout" else "heldout"
        for ep in task.generate_batch(range(60), split):
            target = ep.objects[ep.goal].description
            assert ep.mission in {t.format(obj=target) for t in GOTO[group]}, (split, ep.mission)
            assert not goto_regex(other).fullmatch(ep.mission)


def test_route_missions_use_split_templates():
    task = FollowRouteTask()
    for split in ("train", "unseen"):
        group = "heldout" if split == "unseen" else "train"
        other = "train" if group == "heldout" else "heldout"
        for ep in task.generate_batch(range(60), split):
            assert route_regex(group).fullmatch(ep.mission), (split, ep.mission)
            assert not route_regex(other).fullmatch(ep.mission), (split, ep.mission)


@pytest.mark.parametrize("task_cls", [GoToObjectTask, FollowRouteTask])
@pytest.mark.parametrize("split,group", [("unseen", "train"), ("seen", "heldout")])
def test_phrasings_override_the_split_and_keep_its_layouts(task_cls, split, group):
    regex = goto_regex if task_cls is GoToObjectTask else route_regex
    other = "train" if group == "heldout" else "heldout"
    own = task_cls().generate_batch(range(40), split)
    swapped = task_cls(phrasings=group).generate_batch(range(40), split)
    assert [e.layout_key() for e in swapped] == [e.layout_key() for e in own]
    assert [(e.start, e.start_dir) for e in swapped] == [(e.start, e.start_dir) for e in own]
    for ep in swapped:
        assert regex(group).fullmatch(ep.mission), (split, ep.mission)
        assert not regex(other).fullmatch(ep.mission), (split, ep.mission)
    python = task_cls(phrasings=group, compiled=False).generate_batch(range(40), split)  # without numba
    assert [e.mission for e in python] == [e.mission for e in swapped]


def test_phrasings_reach_the_env_and_reject_unknown_groups():
    env = gymnasium.make(ROUTE_ID, split="unseen", phrasings="train")
    obs, _ = env.reset(seed=3)
    assert route_regex("train").fullmatch(obs["mission"]), obs["mission"]
    with pytest.raises(ValueError, match="phrasings"):
        FollowRouteTask(phrasings="unseen")
    with pytest.raises(ValueError, match="phrasings"):
        GoToObjectTask(phrasings="held-out")


def test_templates_of_the_two_groups_are_distinct():
    assert not set(GOTO["train"]) & set(GOTO["heldout"])
    for kind in ROUTE.values():
        assert not set(kind["train"]) & set(kind["heldout"])


# ------------------------------------------------------------------ GoToObject layouts


@pytest.mark.parametrize("kwargs", [{}, dict(room_size=(5, 5), num_distractors=(7, 7)),
                                    dict(room_size=8, num_distractors=(0, 12))])
def test_goto_layouts(kwargs):
    task = GoToObjectTask(**kwargs)
    lo, hi = task.room_size
    for split in ("train", "unseen"):
        for ep in task.generate_batch(range(80), split):
            target = ep.objects[ep.goal]
            assert ep.goal == 0
            for o in ep.objects[1:]:
                assert (o.type, o.color) != (target.type, target.color)
            assert len({(o.row, o.col) for o in ep.objects}) == len(ep.objects)
            d_lo, d_hi = task.num_distractors
            assert d_lo <= len(ep.objects) - 1 <= d_hi
            h, w = ep.grid.shape
            assert lo + 2 <= h <= hi + 2 and lo + 2 <= w <= hi + 2
            assert (ep.grid[[0, -1]] == WALL).all() and (ep.grid[:, [0, -1]] == WALL).all()
            assert (ep.grid[1:-1, 1:-1] != WALL).all()
            assert max(abs(ep.start[0] - target.row), abs(ep.start[1] - target.col)) >= 2
            assert not ep.blocked()[ep.start]
            assert target.description in ep.mission


def test_goto_distractors_share_colour_or_type_often():
    eps = GoToObjectTask(num_distractors=(3, 5)).generate_batch(range(50))
    shared = sum(any(o.type == e.objects[0].type or o.color == e.objects[0].color for o in e.objects[1:]) for e in eps)
    assert shared >= 40


# ------------------------------------------------------------------ FollowRoute layouts


def rooms_of(grid):
    """Label floor cells by room: connected components that do not cross doors or walls."""
    label = np.full(grid.shape, -1, np.int64)
    n = 0
    for cell in zip(*np.nonzero((grid != WALL) & (grid != DOOR))):
        if label[cell] >= 0:
            continue
        stack = [cell]
        label[cell] = n
        while stack:
            r, c = stack.pop()
            for dr, dc in ((0, 1), (1, 0), (0, -1), (-1, 0)):
                nb = (r + dr, c + dc)
                if grid[nb] not in (WALL, DOOR) and label[nb] < 0:
                    label[nb] = n
                    stack.append(nb)
        n += 1
    return label, n


@pytest.mark.parametrize("split", ["train", "unseen"])
def test_route_layouts(split):
    task = FollowRouteTask()
    for ep in task.generate_batch(range(60), split):
        label, n = rooms_of(ep.grid)
        assert task.num_rooms[0] <= n <= task.num_rooms[1]
        goal = ep.objects[ep.goal]
        assert label[ep.start] != label[goal.row, goal.col], "the goal is in another room"
        doors = ep.grid == DOOR
        assert doors.sum() == n - 1, "rooms form a tree"
        colours = ep.door_color[doors].tolist()
        assert len(set(colours)) == len(colours), "door colours are distinct"
        assert (ep.door_color[~doors] == -1).all()
        for o in ep.objects[1:]:
            assert (o.type, o.color) != (goal.type, goal.color)
        # The mission names the doors on the expert's path, in order, and no other door.
        path = ep.extras["route"]
        assert path[0] == ep.start and ep.goal_region()[path[-1]]
        on_path = [COLOR_NAMES[ep.door_color[c]] for c in path if ep.grid[c] == DOOR]
        assert on_path, "another room is always through a door"
        mentioned = re.findall(r"(\w+) door", ep.mission)
        assert mentioned == on_path, (ep.mission, on_path)
        assert goal.description in ep.mission
        assert ep.mission.removesuffix(" and stop").endswith(goal.description)


def test_route_lookalikes_share_the_goals_colour_or_type_in_its_room():
    seeds = range(200)
    plain = FollowRouteTask(num_rooms=(2, 3)).generate_batch(seeds)
    zero = FollowRouteTask(num_rooms=(2, 3), lookalikes=0.0).generate_batch(seeds)
    assert [(e.grid.tobytes(), e.objects, e.start, e.mission) for e in plain] == \
        [(e.grid.tobytes(), e.objects, e.start, e.mission) for e in zero], "0 draws nothing extra"

    def goal_room_landmarks(ep):
        room_of, goal = ep.extras["room_of"], ep.objects[ep.goal]
        return goal, [o for o in ep.objects[1:] if room_of[o.row, o.col] == room_of[goal.row, goal.col]]

    shares = {"colour": 0, "type": 0}
    for ep in FollowRouteTask(num_rooms=(2, 3), lookalikes=1.0).generate_batch(seeds):
        goal, others = goal_room_landmarks(ep)
        for o in others:  # every one a look-alike, never the goal's twin
            assert (o.color == goal.color) != (o.type == goal.type)
            shares["colour" if o.color == goal.color else "type"] += 1
    assert min(shares.values()) > 0.35 * sum(shares.values()), shares
    looks = [sum((o.color == g.color) or (o.type == g.type) for o in others)
             for g, others in map(goal_room_landmarks, plain)]
    assert sum(looks) < 0.5 * sum(len(goal_room_landmarks(ep)[1]) for ep in plain)
    with pytest.raises(ValueError, match="lookalikes"):
        FollowRouteTask(lookalikes=1.5)


def room_doors(ep, room: int) -> int:
    """Doors of ``room``: door cells next to one of its floor cells."""
    room_of = ep.extras["room_of"]
    rows, cols = np.nonzero(ep.grid == DOOR)
    return sum(any(room_of[r + dr, c + dc] == room for dr, dc in ((0, 1), (1, 0), (0, -1), (-1, 0)))
               for r, c in zip(rows.tolist(), cols.tolist()))


def test_route_hub_starts_start_in_a_room_with_several_doors():
    seeds = range(300)
    plain = FollowRouteTask(num_rooms=(3, 3)).generate_batch(seeds)
    zero = FollowRouteTask(num_rooms=(3, 3), hub_starts=0.0).generate_batch(seeds)
    assert [(e.grid.tobytes(), e.objects, e.start, e.start_dir, e.mission) for e in plain] == \
        [(e.grid.tobytes(), e.objects, e.start, e.start_dir, e.mission) for e in zero], "0 draws nothing extra"

    def start_is_hub(ep):
        return room_doors(ep, ep.extras["room_of"][ep.start]) >= 2

    def goal_is_hub(ep):
        goal = ep.objects[ep.goal]
        return room_doors(ep, ep.extras["room_of"][goal.row, goal.col]) >= 2

    # 3 rooms make a chain, its middle room the one hub: every start is there unless the goal is.
    hubs = FollowRouteTask(num_rooms=(3, 3), hub_starts=1.0).generate_batch(seeds)
    assert all(start_is_hub(ep) != goal_is_hub(ep) for ep in hubs)
    assert 0.2 < np.mean([start_is_hub(ep) for ep in plain]) < 0.45  # about a third without it
    assert np.mean([start_is_hub(ep) for ep in hubs]) > 0.55  # two thirds with it
    with pytest.raises(ValueError, match="hub_starts"):
        FollowRouteTask(hub_starts=-0.1)


def test_route_room_count_is_configurable():
    for n in (2, 4, 6):
        for ep in FollowRouteTask(num_rooms=n).generate_batch(range(10)):
            assert rooms_of(ep.grid)[1] == n


# ------------------------------------------------------------------ rewards and endings


@pytest.mark.parametrize("env_id", envs.ENV_IDS)
def test_success_reward(env_id):
    env = gymnasium.make(env_id, view_size=16, max_steps=60 if env_id == GOTO_ID else 150)
    for seed in range(5):
        rec, info = rollout(env, seed)
        steps = len(rec) - 1
        assert info["success"]
        assert rec[-1][3] == pytest.approx(1.0 - 0.9 * steps / env.unwrapped.max_steps)
        assert all(r == 0.0 for *_, r in rec[:-1]), "no reward before the end without shaping"


@pytest.mark.parametrize("env_id", envs.ENV_IDS)
def test_failed_stop_gives_zero_and_metrics(env_id):
    env = gymnasium.make(env_id, view_size=16)
    obs, info = env.reset(seed=2)
    ep = env.unwrapped.episode
    obs, r, term, trunc, info = env.step(STOP)
    assert term and not trunc and r == 0.0
    assert info["success"] is False and info["oracle_success"] is False
    assert info["distance_to_goal"] > 0
    assert info["path_length"] == 0.0
    assert info["trajectory"] == [tuple(ep.start)]  # stopping in place adds no point
    assert info["reference_path"][0] == tuple(ep.start)
    assert info["shortest_path_length"] == len(info["reference_path"]) - 1 > 0
    with pytest.raises(RuntimeError):
        env.step(0)


@pytest.mark.parametrize("env_id", envs.ENV_IDS)
def test_end_info_on_success(env_id):
    env = gymnasium.make(env_id, view_size=16)
    rec, info = rollout(env, 9)
    for key in ("success", "distance_to_goal", "path_length", "shortest_path_length", "reference_path",
                "trajectory", "oracle_success"):
        assert key in info
    assert info["success"] is True and info["oracle_success"] is True
    assert info["distance_to_goal"] == 0.0
    assert isinstance(info["path_length"], float) and isinstance(info["shortest_path_length"], float)
    ep = env.unwrapped.episode
    assert info["trajectory"][0] == tuple(ep.start)
    b = env.unwrapped.batch
    assert info["trajectory"][-1] == (int(b.row[0]), int(b.col[0]))
    assert ep.goal_region()[info["reference_path"][-1]]
    # Intermediate steps do not carry the end-of-episode keys.
    env.reset(seed=9)
    _, _, term, trunc, mid = env.step(LEFT)
    assert not (term or trunc) and "success" not in mid


@pytest.mark.parametrize("env_id", envs.ENV_IDS)
def test_truncation_and_oracle_success(env_id):
    # Reach the goal, then turn on the spot until the step limit: truncated, not a success,
    # but an oracle success (the agent was within reach and did not stop).
    env = gymnasium.make(env_id, view_size=16, max_steps=80)
    obs, info = env.reset(seed=1)
    t = 0
    while info["expert_action"] != STOP:
        obs, r, term, trunc, info = env.step(info["expert_action"])
        t += 1
    for t in range(t + 1, 81):
        obs, r, term, trunc, info = env.step(LEFT)
        assert not term
        assert trunc == (t == 80)
    assert trunc and r == 0.0
    assert info["success"] is False and info["oracle_success"] is True
    assert info["distance_to_goal"] == 0.0
    # Cells visited, each once per visit: turning on the spot adds no point.
    traj = info["trajectory"]
    assert len(traj) == info["path_length"] + 1
    assert all(a != b for a, b in zip(traj, traj[1:]))


@pytest.mark.parametrize("env_id", envs.ENV_IDS)
def test_truncation_at_max_steps(env_id):
    env = gymnasium.make(env_id, view_size=16, max_steps=5)
    env.reset(seed=0)
    for t in range(1, 6):
        obs, r, term, trunc, info = env.step(LEFT)
        assert not term and trunc == (t == 5) and r == 0.0
    assert info["success"] is False and info["path_length"] == 0.0


@pytest.mark.parametrize("env_id", envs.ENV_IDS)
def test_reward_shaping(env_id):
    env = gymnasium.make(env_id, view_size=16, reward_shaping=True)
    b = env.unwrapped.batch
    closer = farther = 0
    for seed in range(4):
        obs, info = env.reset(seed=seed)
        rng = np.random.default_rng(seed)
        for _ in range(60):
            before = int(b.geo[0, b.row[0], b.col[0]])
            a = info["expert_action"] if rng.random() < 0.6 else int(rng.integers(3))
            obs, r, term, trunc, info = env.step(a)
            after = int(b.geo[0, b.row[0], b.col[0]])
            success_bonus = 0.0
            if term and info["success"]:
                success_bonus = 1.0 - 0.9 * info["episode_steps"] / env.unwrapped.max_steps
            assert r == pytest.approx(success_bonus + SHAPING_SCALE * (before - after))
            if after < before:
                assert r > 0
                closer += 1
            elif after > before:
                assert r < 0
                farther += 1
            if term or trunc:
                break
    assert closer > 0 and farther > 0
    # Without shaping, moving closer earns nothing.
    env = gymnasium.make(env_id, view_size=16)
    obs, info = env.reset(seed=0)
    b = env.unwrapped.batch
    while info["expert_action"] != 0:
        obs, r, term, trunc, info = env.step(info["expert_action"])
    obs, r, term, trunc, info = env.step(0)
    assert r == 0.0


def test_route_clauses_on_a_hand_built_path():
    # Two 3x3 rooms side by side, a green door between; walk east through it, then south.
    grid = np.full((5, 9), WALL, np.uint8)
    grid[1:4, 1:4] = 0
    grid[1:4, 5:8] = 0
    grid[2, 4] = DOOR
    door_color = np.full(grid.shape, -1, np.int8)
    door_color[2, 4] = COLOR_NAMES.index("green")
    from envs.core.world import WorldObject

    goal = WorldObject(3, 7, OBJECT_TYPES.index("ball"), COLOR_NAMES.index("red"))
    landmark = WorldObject(1, 2, OBJECT_TYPES.index("box"), COLOR_NAMES.index("blue"))
    far = WorldObject(1, 7, OBJECT_TYPES.index("key"), COLOR_NAMES.index("grey"))
    path = [(2, 1), (2, 2), (2, 3), (2, 4), (2, 5), (3, 5), (3, 6)]
    doors = {(2, 4): int(door_color[2, 4])}
    clauses = FollowRouteTask._clauses(path, doors, [goal, landmark, far])
    assert clauses == [
        ("landmark", {"obj": "blue box"}),
        ("exit", {"door": "green"}),
        ("turn", {"side": "right"}),
        ("goal", {"obj": "red ball"}),
    ]
    # Mirror: after the door turn north, a left turn.
    path = [(2, 1), (2, 2), (2, 3), (2, 4), (2, 5), (1, 5), (1, 6)]
    goal = WorldObject(1, 7, OBJECT_TYPES.index("ball"), COLOR_NAMES.index("red"))
    clauses = FollowRouteTask._clauses(path, doors, [goal])
    assert ("turn", {"side": "left"}) in clauses
