"""Videos: H.264 MP4 writing, annotated rollout frames, and a recorder for any Gymnasium env.

- ``VideoWriter`` streams RGB frames to an H.264 MP4 in ``yuv420p`` (what browsers play)
  through imageio-ffmpeg. Frames are padded to an even size; the file appears atomically
  when the writer is closed. imageio-ffmpeg is imported only when a video is written, so
  everything else (training included) works without it.
- ``EpisodeFrames`` draws one video frame of a rollout with OpenCV: the env's scene (for the
  built-in envs the first-person view beside the top-down map with the path so far and the
  goal), the instruction with each word shaded by the agent's attention at that step, the
  action, the step count, an optional strip of the policy LSTM's most active cells, and at
  the end SUCCESS or FAIL.
- ``VideoRecorder`` is a ``gymnasium.Wrapper`` for any env with ``render_mode="rgb_array"``:
  one MP4 of ``env.render()`` frames per episode (Gymnasium's own ``RecordVideo`` needs
  moviepy; this one needs only imageio-ffmpeg).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import cv2
import gymnasium as gym
import numpy as np

from vln.checkpoint import make_ordinary

DEFAULT_FPS = 8

FONT = cv2.FONT_HERSHEY_SIMPLEX
BG = (24, 24, 24)
TEXT = (235, 235, 235)
DIM = (130, 130, 130)
ACCENT = (120, 200, 255)
WORD_BG = (52, 52, 52)
HOT = (255, 165, 30)  # the most attended word
SUCCESS_RGB = (60, 200, 90)
FAIL_RGB = (230, 60, 60)
MIN_WIDTH = 480
PAD = 8


class VideoUnavailable(RuntimeError):
    """Video encoding is not possible here (imageio-ffmpeg is not installed)."""


def _ffmpeg():
    try:
        import imageio_ffmpeg
    except ImportError as exc:  # pragma: no cover - exercised only without the package
        raise VideoUnavailable(
            "writing MP4 videos needs imageio-ffmpeg: pip install imageio-ffmpeg"
        ) from exc
    return imageio_ffmpeg


def video_support() -> str | None:
    """None when MP4s can be written, else the reason (a one-line message)."""
    try:
        _ffmpeg().get_ffmpeg_exe()
    except (VideoUnavailable, RuntimeError) as exc:
        return str(exc)
    return None


def even_pad(frame: np.ndarray) -> np.ndarray:
    """``frame`` (H, W, 3) padded with black at the bottom/right to even H and W."""
    h, w = frame.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return frame
    out = np.zeros((h + h % 2, w + w % 2, 3), np.uint8)
    out[:h, :w] = frame
    return out


def _as_rgb(frame: Any) -> np.ndarray:
    arr = np.asarray(frame)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ValueError(f"video frames must be (H, W, 3) RGB arrays, got shape {arr.shape}")
    arr = arr[..., :3]
    if arr.dtype != np.uint8:
        if arr.dtype.kind == "f" and arr.size and float(np.nanmax(arr)) <= 1.0:
            arr = arr * 255.0
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(arr)


class VideoWriter:
    """Write RGB frames to an H.264 MP4 (``yuv420p``, even frame size) through imageio-ffmpeg.

    The first frame fixes the size; a later frame of another size is resized to it. The
    video is encoded into a temporary file beside ``path`` and renamed on ``close()``, so
    an interrupted run never leaves half a video under the final name::

        with VideoWriter("episode.mp4", fps=8) as w:
            for frame in frames:
                w.append(frame)
    """

    def __init__(self, path: str | os.PathLike, fps: float = DEFAULT_FPS, quality: float = 7.0) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() != ".mp4":
            raise ValueError(f"videos are written as .mp4, got {str(path)!r}")
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.fps, self.quality = float(fps), float(quality)
        self.frames = 0
        self.size: tuple[int, int] | None = None  # (width, height) as written (even)
        self._gen = None
        self._tmp: str | None = None
        _ffmpeg()  # fail now, with a clear message, when video is not possible

    def append(self, frame: np.ndarray) -> None:
        """Add one (H, W, 3) uint8 RGB frame."""
        img = _as_rgb(frame)
        if self._gen is None:
            img = even_pad(img)
            self._open((img.shape[1], img.shape[0]))
        elif (img.shape[1], img.shape[0]) != self.size:
            h, w = img.shape[:2]
            if (w + w % 2, h + h % 2) == self.size:
                img = even_pad(img)
            else:
                img = cv2.resize(img, self.size, interpolation=cv2.INTER_AREA)
        self._gen.send(np.ascontiguousarray(img).tobytes())
        self.frames += 1

    def extend(self, frames: Iterable[np.ndarray]) -> None:
        for frame in frames:
            self.append(frame)

    def _open(self, size: tuple[int, int]) -> None:
        ffmpeg = _ffmpeg()
        folder = self.path.parent
        folder.mkdir(parents=True, exist_ok=True)
        fd, self._tmp = tempfile.mkstemp(dir=folder, prefix=f".{self.path.stem}.", suffix=".tmp.mp4")
        os.close(fd)
        self.size = size
        self._gen = ffmpeg.write_frames(
            self._tmp, size, fps=self.fps, codec="libx264", pix_fmt_in="rgb24", pix_fmt_out="yuv420p",
            quality=self.quality, macro_block_size=2, ffmpeg_log_level="error",
            output_params=["-movflags", "+faststart"],
        )
        self._gen.send(None)

    def close(self) -> Path:
        """Finish the video and move it to ``path``; returns the path."""
        if self._gen is None:
            raise ValueError(f"no frames were written to {self.path}")
        gen, self._gen = self._gen, None
        try:
            gen.close()
        except BaseException:
            self._discard()
            raise
        make_ordinary(self._tmp)
        os.replace(self._tmp, self.path)
        self._tmp = None
        return self.path

    def abort(self) -> None:
        """Stop and delete the partial video."""
        gen, self._gen = self._gen, None
        if gen is not None:
            try:
                gen.close()
            except Exception:
                pass
        self._discard()

    def _discard(self) -> None:
        if self._tmp is not None and os.path.exists(self._tmp):
            os.unlink(self._tmp)
        self._tmp = None

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_video(path: str | os.PathLike, frames: Iterable[np.ndarray], fps: float = DEFAULT_FPS) -> Path:
    """Write ``frames`` to an MP4 at ``path`` (see ``VideoWriter``); returns the path."""
    with VideoWriter(path, fps) as writer:
        writer.extend(frames)
    return writer.path


def probe_video(path: str | os.PathLike) -> dict[str, Any]:
    """What an MP4 holds: ``codec``, ``pix_fmt``, ``width``, ``height``, ``fps``, ``frames``, ``duration``."""
    ffmpeg = _ffmpeg()
    gen = ffmpeg.read_frames(str(path))
    try:
        meta = next(gen)
    finally:
        gen.close()
    frames, secs = ffmpeg.count_frames_and_secs(str(path))
    width, height = meta["size"]
    return {
        "codec": meta.get("codec"),
        "pix_fmt": str(meta.get("pix_fmt", "")).split("(")[0],
        "width": int(width), "height": int(height), "fps": float(meta.get("fps", 0.0)),
        "frames": int(frames), "duration": float(secs),
    }


# ----------------------------------------------------------------------------- frames
def upscale(img: np.ndarray, min_height: int = 256) -> np.ndarray:
    """Nearest-neighbour upscale by the integer factor that makes ``img`` at least ``min_height`` tall."""
    k = max(1, int(np.ceil(min_height / max(1, img.shape[0]))))
    return np.repeat(np.repeat(img, k, axis=0), k, axis=1) if k > 1 else img


def word_weights(mission: str, attention: np.ndarray | None, tokenize: Callable[[str], list[str]] | None) -> list[tuple[str, float | None]]:
    """The mission's words (as written) each with its attention weight.

    Attention column ``j`` belongs to token ``j`` of ``tokenize(mission)``. A written word
    can hold several tokens ("don't") or none (punctuation): it gets the largest weight
    of its tokens, or None where it has no token within the attended length.
    """
    words = mission.split()
    if attention is None or tokenize is None:
        return [(w, None) for w in words]
    att = np.asarray(attention, np.float64).reshape(-1)
    out: list[tuple[str, float | None]] = []
    j = 0
    for w in words:
        n = len(tokenize(w))
        cols = [k for k in range(j, j + n) if k < len(att)]
        out.append((w, float(att[cols].max()) if cols else None))
        j += n
    return out


def attention_shade(weight: float) -> float:
    """Shade in [0, 1] of a word with attention ``weight``: full at 0.5 and above.

    Absolute, not relative to the step's largest weight, so a uniform (untrained) attention
    looks faint and a sharp one bright, and frames of an episode compare.
    """
    return float(np.clip(2.0 * weight, 0.0, 1.0) ** 0.7)


def _mix(a: Sequence[int], b: Sequence[int], t: float) -> tuple[int, int, int]:
    t = float(np.clip(t, 0.0, 1.0))
    return tuple(int(round(x + (y - x) * t)) for x, y in zip(a, b))  # type: ignore[return-value]


def _text_size(text: str, scale: float, thickness: int = 1) -> tuple[int, int]:
    (w, h), _ = cv2.getTextSize(text, FONT, scale, thickness)
    return w, h


class EpisodeFrames:
    """Draws the video frames of one episode (the layout is fixed when the first scene is known).

    Args:
        mission: the instruction.
        tokenize: text -> tokens, as the agent's vocabulary splits it (``vocab.tokens``);
            attention column j is token j. None: no attention shading.
        action_names: names of the actions (default: the built-in envs').
        view_width: width in pixels of the first-person view at the left of the scene, to
            caption "view" and "map" (None: no captions).
        title: a short label drawn in the header (e.g. the policy and the seed).
        max_steps: the env's step limit, shown as "step t/max".
    """

    def __init__(self, mission: str, tokenize: Callable[[str], list[str]] | None = None,
                 action_names: Sequence[str] | None = None, view_width: int | None = None, title: str = "",
                 max_steps: int | None = None) -> None:
        self.mission, self.tokenize = str(mission), tokenize
        if action_names is None:
            from envs.core.constants import ACTION_NAMES

            action_names = ACTION_NAMES
        self.action_names = tuple(action_names)
        self.view_width, self.title, self.max_steps = view_width, title, max_steps
        self.width: int | None = None
        self._word_boxes: list[tuple[int, int, int, str]] = []  # (x, y_baseline, width, word)
        self._text_h = 0

    # layout -------------------------------------------------------------
    _SCALE = 0.55
    _LINE = 26
    _HEADER = 22

    def _layout(self, scene_w: int) -> None:
        self.width = max(MIN_WIDTH, scene_w + (scene_w % 2))
        space = _text_size(" ", self._SCALE)[0] - 2
        x, line = PAD, 0
        boxes = []
        for word, _ in word_weights(self.mission, None, None):
            w = _text_size(word, self._SCALE)[0] + 6
            if x + w > self.width - PAD and x > PAD:
                x, line = PAD, line + 1
            boxes.append((x, line, w, word))
            x += w + space
        top = self._HEADER + 18
        self._word_boxes = [(x, top + ln * self._LINE, w, word) for x, ln, w, word in boxes]
        self._text_h = top + (line + 1) * self._LINE - 8

    # drawing -------------------------------------------------------------
    def draw(self, scene: np.ndarray, step: int, action: int | None = None, attention: np.ndarray | None = None,
             outcome: bool | None = None, cells: np.ndarray | None = None, cells_upto: int | None = None) -> np.ndarray:
        """One frame.

        Args:
            scene: (H, W, 3) the env's picture at this step.
            step: steps taken so far.
            action: the action taken at this step (None on the final frame).
            attention: (L,) the agent's attention over the tokens at this step.
            outcome: None while running; True/False on the final frame (SUCCESS/FAIL).
            cells: (K, T) activations of the policy LSTM's cells over the episode (optional).
            cells_upto: columns of ``cells`` shown so far (the rest is blank).
        """
        scene = _as_rgb(scene)
        if self.width is None:
            self._layout(scene.shape[1])
        width = self.width
        assert width is not None
        strip_h = 0 if cells is None else 18 + 4 * cells.shape[0] + 6
        status_h = 34
        h = self._HEADER + scene.shape[0] + self._text_h + status_h + strip_h
        h += h % 2
        canvas = np.full((h, width, 3), BG, np.uint8)

        # header: captions over the view and the map, and the title at the right
        y0 = self._HEADER
        x0 = (width - scene.shape[1]) // 2
        if self.view_width:
            cv2.putText(canvas, "first-person view", (x0 + 2, 15), FONT, 0.45, ACCENT, 1, cv2.LINE_AA)
            cv2.putText(canvas, "map: path so far, goal in green", (x0 + self.view_width + PAD + 2, 15), FONT, 0.45,
                        ACCENT, 1, cv2.LINE_AA)
        elif self.title:
            cv2.putText(canvas, self.title, (PAD, 15), FONT, 0.45, ACCENT, 1, cv2.LINE_AA)
        canvas[y0 : y0 + scene.shape[0], x0 : x0 + scene.shape[1]] = scene

        # the instruction, word by word, shaded by attention
        y = y0 + scene.shape[0]
        weights = word_weights(self.mission, attention, self.tokenize)
        has_att = attention is not None and self.tokenize is not None
        label = "instruction, shaded by the agent's attention (full at 0.5)" if has_att else "instruction"
        cv2.putText(canvas, label, (PAD, y + 16), FONT, 0.45, ACCENT, 1, cv2.LINE_AA)
        if self.view_width and self.title:
            tw = _text_size(self.title, 0.45)[0]
            cv2.putText(canvas, self.title, (width - PAD - tw, y + 16), FONT, 0.45, DIM, 1, cv2.LINE_AA)
        known = [w for _, w in weights if w is not None]
        top = max(known) if known else None
        for (bx, by, bw, word), (_, wt) in zip(self._word_boxes, weights):
            by += y
            if wt is None:
                color = TEXT if not has_att else DIM
                cv2.putText(canvas, word, (bx + 3, by), FONT, self._SCALE, color, 1, cv2.LINE_AA)
                continue
            t = attention_shade(wt)
            fill = _mix(WORD_BG, HOT, t)
            cv2.rectangle(canvas, (bx, by - 16), (bx + bw, by + 6), fill, -1)
            if wt == top:  # the most attended word is underlined
                cv2.line(canvas, (bx, by + 8), (bx + bw, by + 8), HOT, 2)
            ink = (15, 15, 15) if t > 0.55 else TEXT
            cv2.putText(canvas, word, (bx + 3, by), FONT, self._SCALE, ink, 1, cv2.LINE_AA)

        # status: step, action, outcome
        y += self._text_h
        cv2.line(canvas, (PAD, y), (width - PAD, y), (60, 60, 60), 1)
        steps = f"step {step}" + (f"/{self.max_steps}" if self.max_steps else "")
        cv2.putText(canvas, steps, (PAD, y + 23), FONT, 0.6, TEXT, 1, cv2.LINE_AA)
        if action is not None:
            a = int(action)
            name = self.action_names[a] if 0 <= a < len(self.action_names) else str(a)
            cv2.putText(canvas, f"action: {name}", (PAD + 130, y + 23), FONT, 0.6, ACCENT, 1, cv2.LINE_AA)
        if outcome is not None:
            word, color = ("SUCCESS", SUCCESS_RGB) if outcome else ("FAIL", FAIL_RGB)
            tw = _text_size(word, 0.8, 2)[0]
            cv2.putText(canvas, word, (width - PAD - tw, y + 25), FONT, 0.8, color, 2, cv2.LINE_AA)
            self._banner(canvas, word, color, y0, scene.shape[0])
        y += status_h

        if cells is not None:
            self._strip(canvas, cells, cells_upto, y, width)
        return canvas

    @staticmethod
    def _banner(canvas: np.ndarray, word: str, color, y0: int, scene_h: int) -> None:
        """A translucent band across the scene's middle with ``word``."""
        mid = y0 + scene_h // 2
        band = canvas[mid - 28 : mid + 28]
        band[:] = (band.astype(np.uint16) * 2 // 5).astype(np.uint8)
        tw, th = _text_size(word, 1.5, 3)
        x = (canvas.shape[1] - tw) // 2
        cv2.putText(canvas, word, (x, mid + th // 2), FONT, 1.5, color, 3, cv2.LINE_AA)

    @staticmethod
    def _strip(canvas: np.ndarray, cells: np.ndarray, upto: int | None, y: int, width: int) -> None:
        """The policy LSTM's cells (rows) over time (columns): blue negative, red positive."""
        k, t = cells.shape
        v = np.asarray(cells, np.float64)
        scale = float(np.abs(v).max()) or 1.0
        cv2.putText(canvas, f"policy LSTM: {k} most active cells over time (colour scale: max |h| {scale:.2g})", (PAD, y + 13),
                    FONT, 0.42, ACCENT, 1, cv2.LINE_AA)
        upto = t if upto is None else int(np.clip(upto, 0, t))
        v = np.clip(v / scale, -1.0, 1.0)
        pos, neg = np.clip(v, 0, 1)[..., None], np.clip(-v, 0, 1)[..., None]
        base = np.array(BG, np.float64)
        img = base + pos * (np.array((235, 70, 50)) - base) + neg * (np.array((60, 130, 255)) - base)
        img[:, upto:] = base
        img = img.astype(np.uint8)
        w = width - 2 * PAD
        img = cv2.resize(img, (w, 4 * k), interpolation=cv2.INTER_NEAREST)
        canvas[y + 18 : y + 18 + 4 * k, PAD : PAD + w] = img
        if 0 < upto <= t:
            cx = PAD + int(round((upto - 0.5) * w / t))
            cv2.line(canvas, (cx, y + 17), (cx, y + 18 + 4 * k), (240, 240, 240), 1)


def most_active_cells(states: np.ndarray, k: int = 16) -> np.ndarray:
    """(T, hidden) recurrent states -> (k, T): the k cells with the largest mean |activation|."""
    states = np.asarray(states, np.float64)
    k = min(k, states.shape[1])
    order = np.argsort(-np.abs(states).mean(axis=0), kind="stable")[:k]
    return states[:, np.sort(order)].T


# ----------------------------------------------------------------------------- recorder
class VideoRecorder(gym.Wrapper):
    """Record ``env.render()`` frames to one MP4 per episode, for any env with ``render_mode="rgb_array"``.

    Like ``gymnasium.wrappers.RecordVideo`` (which needs moviepy), but through imageio-ffmpeg:
    H.264, ``yuv420p``, even frame size. Frames are streamed to the encoder, not kept in memory.
    ``video_paths`` lists the finished videos. An episode cut short by ``reset`` or ``close``
    is still written.

    Args:
        env: the env; its ``render_mode`` must be "rgb_array".
        video_dir: where the videos go (created).
        name_prefix: file names are ``{name_prefix}-episode-{k}.mp4``.
        episode_trigger: which episodes (0, 1, ...) to record; default all.
        fps: frames per second; default the env's ``metadata["render_fps"]``, else 8.
        hold: frames the last picture of an episode is repeated (0: none).
    """

    def __init__(self, env: gym.Env, video_dir: str | os.PathLike, name_prefix: str = "rl-video",
                 episode_trigger: Callable[[int], bool] | None = None, fps: float | None = None, hold: int = 0) -> None:
        super().__init__(env)
        if env.render_mode != "rgb_array":
            raise ValueError(f"VideoRecorder needs an env made with render_mode='rgb_array', got {env.render_mode!r}")
        self.video_dir = Path(video_dir)
        self.video_dir.mkdir(parents=True, exist_ok=True)
        self.name_prefix = name_prefix
        self.episode_trigger = episode_trigger or (lambda episode: True)
        self.fps = float(fps or env.metadata.get("render_fps") or DEFAULT_FPS)
        self.hold = int(hold)
        self.episode_id = -1
        self.video_paths: list[Path] = []
        self._writer: VideoWriter | None = None
        self._last: np.ndarray | None = None

    def reset(self, **kwargs):
        self._finish()
        obs, info = self.env.reset(**kwargs)
        self.episode_id += 1
        if self.episode_trigger(self.episode_id):
            self._writer = VideoWriter(self.video_dir / f"{self.name_prefix}-episode-{self.episode_id}.mp4", self.fps)
            self._capture()
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        if self._writer is not None:
            self._capture()
            if terminated or truncated:
                self._finish()
        return obs, reward, terminated, truncated, info

    def _capture(self) -> None:
        frame = self.env.render()
        if isinstance(frame, (list, tuple)):
            frame = frame[-1] if frame else None
        if frame is None:
            return
        self._last = np.asarray(frame)
        assert self._writer is not None
        self._writer.append(self._last)

    def _finish(self) -> None:
        writer, self._writer = self._writer, None
        if writer is None or writer.frames == 0:
            if writer is not None:
                writer.abort()
            return
        for _ in range(self.hold):
            writer.append(self._last)
        self.video_paths.append(writer.close())

    def close(self):
        self._finish()
        return super().close()
