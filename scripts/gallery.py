#!/usr/bin/env python
"""Render a PNG gallery of the built-in envs: first-person frames and human frames.

For each env id and a few fixed seeds, one row shows the first-person observation
(nearest-neighbour upscaled) and the matching ``render()`` frame (view beside the map) at
the start and at the end of the expert's episode, with the mission written underneath.

  python scripts/gallery.py                       # writes docs/gallery.png
  python scripts/gallery.py --out /tmp/g.png --seeds 3 8
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import gymnasium  # noqa: E402

import envs  # noqa: E402

FONT = cv2.FONT_HERSHEY_SIMPLEX
BG = (24, 24, 24)
TEXT = (235, 235, 235)
ACCENT = (120, 200, 255)
PAD = 8


def upscale(img: np.ndarray, scale: int) -> np.ndarray:
    return np.repeat(np.repeat(img, scale, axis=0), scale, axis=1)


def put_lines(canvas: np.ndarray, lines: list[str], x: int, y: int, scale: float = 0.55, color=TEXT) -> int:
    """Write ``lines`` from baseline ``y``; returns the y below the last line."""
    height = int(26 * scale / 0.55)
    for line in lines:
        cv2.putText(canvas, line, (x, y), FONT, scale, color, 1, cv2.LINE_AA)
        y += height
    return y


def labelled(img: np.ndarray, label: str, height: int) -> np.ndarray:
    """``img`` on a ``height``-tall tile with a small caption above it."""
    tile = np.full((height + 24, img.shape[1], 3), BG, np.uint8)
    cv2.putText(tile, label, (2, 16), FONT, 0.45, ACCENT, 1, cv2.LINE_AA)
    tile[24 : 24 + img.shape[0]] = img
    return tile


def hstack(tiles: list[np.ndarray]) -> np.ndarray:
    h = max(t.shape[0] for t in tiles)
    parts = []
    for t in tiles:
        pad = np.full((h, t.shape[1] + PAD, 3), BG, np.uint8)
        pad[: t.shape[0], : t.shape[1]] = t
        parts.append(pad)
    return np.concatenate(parts, axis=1)


def vstack(rows: list[np.ndarray]) -> np.ndarray:
    w = max(r.shape[1] for r in rows)
    parts = []
    for r in rows:
        pad = np.full((r.shape[0], w, 3), BG, np.uint8)
        pad[:, : r.shape[1]] = r
        parts.append(pad)
    return np.concatenate(parts, axis=0)


def episode_row(env_id: str, seed: int, split: str, view_size: int, scale: int) -> np.ndarray:
    """One row: first-person + render() frames at the start and at the end, mission below."""
    env = gymnasium.make(env_id, split=split, view_size=view_size, render_mode="rgb_array")
    obs, info = env.reset(seed=seed)
    start_view, start_frame, mission = obs["image"], env.render(), obs["mission"]
    steps = 0
    while True:
        obs, _, term, trunc, info = env.step(info["expert_action"])
        steps += 1
        if term or trunc:
            break
    end_view, end_frame = obs["image"], env.render()
    env.close()
    outcome = "success" if info["success"] else "failure"
    size = max(start_frame.shape[0], view_size * scale)
    tiles = [
        labelled(upscale(start_view, scale), "first-person, step 0", size),
        labelled(start_frame, "render(), step 0", size),
        labelled(upscale(end_view, scale), f"first-person, step {steps}", size),
        labelled(end_frame, f"render(), step {steps} (expert: {outcome})", size),
    ]
    row = hstack(tiles)
    lines = textwrap.wrap(f'"{mission}"', width=max(40, row.shape[1] // 11))
    header = f"{env_id}  split={split}  seed={seed}"
    text = np.full((30 + 26 * (len(lines) + 1), row.shape[1], 3), BG, np.uint8)
    y = put_lines(text, [header], PAD, 22, 0.55, ACCENT)
    put_lines(text, lines, PAD, y + 4, 0.6, TEXT)
    return np.concatenate([row, text, np.full((PAD * 2, row.shape[1], 3), BG, np.uint8)], axis=0)


def gallery(seeds: list[int], view_size: int = 64, scale: int = 4) -> np.ndarray:
    rows = []
    for env_id in envs.ENV_IDS:
        for k, seed in enumerate(seeds):
            split = "unseen" if k == len(seeds) - 1 and len(seeds) > 1 else "train"
            rows.append(episode_row(env_id, seed, split, view_size, scale))
    return vstack(rows)


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "docs" / "gallery.png")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--view-size", type=int, default=64)
    parser.add_argument("--scale", type=int, default=4, help="nearest-neighbour upscale of the first-person view")
    args = parser.parse_args(argv)
    image = gallery(args.seeds, args.view_size, args.scale)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(args.out), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
        raise SystemExit(f"could not write {args.out}")
    print(f"wrote {args.out} ({image.shape[1]}x{image.shape[0]})")
    return args.out


if __name__ == "__main__":
    main()
