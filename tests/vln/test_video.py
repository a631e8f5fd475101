"""Videos: the MP4 writer, rollout videos (expert and a fresh agent with attention), the
generic recorder, Gymnasium's RecordVideo on the built-in envs, expert evaluation."""

from __future__ import annotations

import os
import sys

import gymnasium as gym
import numpy as np
import pytest

import envs
from vln.checkpoint import load_checkpoint
from vln.evaluation import evaluate
from vln.recording import DEFAULT_HOLD_S, rollout, write_sample_video
from vln.video import (
    HOT, EpisodeFrames, VideoRecorder, VideoWriter, attention_shade, even_pad, most_active_cells, probe_video,
    word_weights, write_video,
)

imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
HOLD = int(round(DEFAULT_HOLD_S * 8))  # the built-in envs' render_fps is 8


def read_frames(path) -> list[np.ndarray]:
    gen = imageio_ffmpeg.read_frames(str(path))
    meta = next(gen)
    w, h = meta["size"]
    return [np.frombuffer(b, np.uint8).reshape(h, w, 3) for b in gen]


def assert_browser_mp4(path, frames: int | None = None, size: tuple[int, int] | None = None) -> dict:
    info = probe_video(path)
    assert info["codec"] == "h264", info
    assert info["pix_fmt"] == "yuv420p", info
    assert info["width"] % 2 == 0 and info["height"] % 2 == 0, info
    if frames is not None:
        assert info["frames"] == frames, info
    if size is not None:
        assert (info["width"], info["height"]) == size, info
    return info


@pytest.fixture(scope="module")
def tiny_agent():
    import keras

    from agents import AgentConfig, VLNAgent
    from vln.collection import sample_missions
    from vln.environments import make_vector_env
    from agents.vocabulary import Vocabulary

    keras.utils.set_random_seed(0)
    missions = []
    for env_id in envs.ENV_IDS:
        missions += sample_missions(make_vector_env(env_id, 8), 32, 0)
    vocab = Vocabulary.build(missions)
    return VLNAgent(AgentConfig(vocab_size=len(vocab), num_actions=4, hidden=16, text_hidden=8, conv_filters=(4, 4, 4)), vocab)


# ----------------------------------------------------------------------------- writer
def test_writer_reads_back_h264_yuv420p_with_even_size(tmp_path):
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (63, 101, 3), dtype=np.uint8) for _ in range(7)]  # odd size on purpose
    path = write_video(tmp_path / "clip.mp4", frames, fps=5)
    assert_browser_mp4(path, frames=7, size=(102, 64))
    back = read_frames(path)
    assert len(back) == 7 and back[0].shape == (64, 102, 3)
    assert sorted(os.listdir(tmp_path)) == ["clip.mp4"]  # no temporary file left behind
    assert os.stat(path).st_mode & 0o044  # an ordinary readable file, not mkstemp's 0600


def test_writer_errors_and_abort(tmp_path):
    with pytest.raises(ValueError, match=".mp4"):
        VideoWriter(tmp_path / "clip.avi")
    with pytest.raises(ValueError, match="no frames"):
        VideoWriter(tmp_path / "empty.mp4").close()
    with pytest.raises(RuntimeError):
        with VideoWriter(tmp_path / "broken.mp4") as w:
            w.append(np.zeros((8, 8, 3), np.uint8))
            raise RuntimeError("boom")
    assert os.listdir(tmp_path) == []  # the partial video is deleted
    assert even_pad(np.zeros((3, 5, 3), np.uint8)).shape == (4, 6, 3)


# ----------------------------------------------------------------------------- frames
def test_word_weights_follow_the_tokenizer():
    from agents.vocabulary import tokenize

    att = np.array([0.1, 0.2, 0.3, 0.4])
    words = word_weights("Don't stop, now go!", att, tokenize)  # tokens: don t stop now go
    assert [w for w, _ in words] == ["Don't", "stop,", "now", "go!"]
    assert [v for _, v in words] == [0.2, 0.3, 0.4, None]  # "go" is past the attended length
    assert word_weights("go", None, tokenize) == [("go", None)]
    assert attention_shade(0.0) == 0.0 and attention_shade(0.5) == 1.0 and 0 < attention_shade(0.1) < attention_shade(0.3)


def test_frame_shades_the_attended_word():
    from agents.vocabulary import tokenize

    scene = np.zeros((100, 300, 3), np.uint8)
    drawer = EpisodeFrames("go to the red ball", tokenize, title="t")
    sharp = drawer.draw(scene, 3, 0, np.array([0.0, 0.0, 0.0, 0.0, 1.0]))
    plain = drawer.draw(scene, 3, 0, None)
    assert sharp.shape == plain.shape and sharp.shape[0] % 2 == 0 and sharp.shape[1] % 2 == 0
    hot = np.all(np.abs(sharp.astype(int) - HOT) < 10, axis=-1)
    assert hot.sum() > 200  # "ball" sits on a fully shaded box
    assert not np.all(np.abs(plain.astype(int) - HOT) < 10, axis=-1).any()
    end = drawer.draw(scene, 5, None, None, outcome=True, cells=np.zeros((4, 5)), cells_upto=5)
    assert end.shape[0] > plain.shape[0]  # the LSTM strip adds rows
    assert most_active_cells(np.array([[0.0, 1.0, -3.0], [0.0, -1.0, 3.0]]), k=2).shape == (2, 2)


# ----------------------------------------------------------------------------- rollouts
@pytest.mark.parametrize("env_id", envs.ENV_IDS)
def test_expert_rollout_videos(tmp_path, env_id):
    rows = rollout("expert", env_id, episodes=2, video_dir=tmp_path, seed=1_000_000)
    assert [r["seed"] for r in rows] == [1_000_000, 1_000_001]
    for r in rows:
        assert r["success"] == 1.0 and r["spl"] == 1.0
        info = assert_browser_mp4(r["video"], frames=r["steps"] + HOLD)
        assert info["fps"] == 8.0
    last = read_frames(rows[0]["video"])[-1]
    assert last.shape[1] >= 480


@pytest.mark.parametrize("env_id", envs.ENV_IDS)
def test_expert_evaluation_succeeds_on_fixed_seeds(env_id):
    for split in ("seen", "unseen"):
        summary, rows = evaluate("expert", env_id, episodes=6, seed=1_000_000, split=split, num_envs=3)
        assert summary["success_rate"] == 1.0 and summary["spl"] == 1.0 and summary["episodes"] == 6, (split, summary)
        assert [r["seed"] for r in rows] == list(range(1_000_000, 1_000_006))


def test_fresh_agent_video_has_attention_overlay(tmp_path, tiny_agent):
    rows = rollout(tiny_agent, "vln/GoToObject-v0", episodes=1, video_dir=tmp_path / "agent", seed=7,
                   env_kwargs={"max_steps": 12})
    expert = rollout("expert", "vln/GoToObject-v0", episodes=1, video_dir=tmp_path / "expert", seed=7)
    r = rows[0]
    assert 1 <= r["steps"] <= 12
    assert_browser_mp4(r["video"], frames=r["steps"] + HOLD)
    # Below the scene (22 px header + 256 px view) is the instruction; only the agent's is shaded.
    def shaded(path):
        panel = read_frames(path)[0][22 + 256 + 20 :].astype(int)
        return int(((panel[..., 0] - panel[..., 2] > 40) & (panel[..., 0] > 70)).sum())
    assert shaded(r["video"]) > 300
    assert shaded(expert[0]["video"]) < 50


def test_rollout_on_env_instances(tmp_path):
    """A single built-in env (map drawn from its state) and a custom env (its render() frames)."""
    rows = rollout("expert", gym.make("vln/FollowRoute-v0"), episodes=2, video_dir=tmp_path / "a", seed=3)
    assert all(r["success"] == 1.0 for r in rows)
    assert probe_video(rows[0]["video"])["width"] >= 480

    from examples.word_action_env import WordActionEnv

    rows = rollout("expert", WordActionEnv(render_mode="rgb_array"), episodes=1, video_dir=tmp_path / "b", seed=0)
    assert rows[0]["success"] == 1.0
    assert_browser_mp4(rows[0]["video"], frames=3 + int(round(DEFAULT_HOLD_S * 4)))


def test_write_sample_video(tmp_path, tiny_agent):
    path = write_sample_video(tiny_agent, "vln/GoToObject-v0", {"max_steps": 6}, tmp_path / "run" / "rollout.mp4", 0, None)
    assert path == tmp_path / "run" / "rollout.mp4"
    assert_browser_mp4(path)
    assert os.listdir(tmp_path / "run") == ["rollout.mp4"]


def test_load_checkpoint_reads_max_words_from_the_run(tmp_path, tiny_agent):
    run = tmp_path / "run"
    tiny_agent.save(run / "checkpoint" / "agent.keras")
    (run / "config.json").write_text('{"max_words": 24}')
    agent, max_words = load_checkpoint(run / "checkpoint" / "agent.keras")
    assert max_words == 24 and agent.config == tiny_agent.config
    with pytest.raises(ValueError, match="not found"):
        load_checkpoint(tmp_path / "nope.keras")


# ----------------------------------------------------------------------------- recorders
def test_video_recorder_any_env(tmp_path):
    from examples.word_action_env import WordActionEnv

    env = VideoRecorder(WordActionEnv(render_mode="rgb_array"), tmp_path, name_prefix="word")
    _drive(env, (0, 1))
    assert [p.name for p in env.video_paths] == ["word-episode-0.mp4", "word-episode-1.mp4"]
    for p in env.video_paths:
        assert_browser_mp4(p, frames=4, size=(16, 16))  # reset + 3 steps
    with pytest.raises(ValueError, match="rgb_array"):
        VideoRecorder(WordActionEnv(), tmp_path)


def _drive(env, seeds):
    for seed in seeds:
        obs, info = env.reset(seed=seed)
        done = False
        while not done:
            obs, _, terminated, truncated, info = env.step(info["expert_action"])
            done = terminated or truncated
    env.close()


def test_video_recorder_builtin_env(tmp_path):
    env = VideoRecorder(gym.make("vln/FollowRoute-v0", render_mode="rgb_array"), tmp_path, hold=4)
    _drive(env, [0])
    assert_browser_mp4(env.video_paths[0])


@pytest.mark.parametrize("env_id", envs.ENV_IDS)
def test_builtin_envs_under_gymnasium_record_video(tmp_path, env_id):
    """Gymnasium's RecordVideo (which encodes with moviepy) captures the built-in envs' frames."""
    from gymnasium.wrappers import RecordVideo

    env = RecordVideo(gym.make(env_id, render_mode="rgb_array"), str(tmp_path / "videos"), episode_trigger=lambda e: True,
                      disable_logger=True)
    _drive(env, [0, 1])
    videos = sorted((tmp_path / "videos").glob("*.mp4"))
    assert [v.name for v in videos] == ["rl-video-episode-0.mp4", "rl-video-episode-1.mp4"]
    for v in videos:
        info = probe_video(v)
        assert info["codec"] == "h264" and info["frames"] > 2


@pytest.mark.parametrize("env_id", envs.ENV_IDS)
def test_builtin_render_frames_encode_at_even_size(env_id, tmp_path):
    """render() frames keep their natural (possibly odd) size; the video writer pads them for H.264."""
    env = gym.make(env_id, render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    h, w, _ = frame.shape
    path = write_video(tmp_path / "render.mp4", [frame, frame], fps=5)
    assert_browser_mp4(path, frames=2, size=(w + w % 2, h + h % 2))


def test_evaluate_agent_in_process(tiny_agent):
    summary, rows = evaluate(tiny_agent, "vln/FollowRoute-v0", episodes=3, seed=5, env_kwargs={"max_steps": 5},
                             num_envs=2, max_words=12)
    assert summary["episodes"] == 3 and len(rows) == 3
    assert all(r["steps"] <= 5 for r in rows)


def test_without_imageio_ffmpeg_videos_fail_clearly_and_training_hook_skips(tmp_path, monkeypatch, tiny_agent):
    from vln.video import VideoUnavailable, video_support

    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # as if not installed
    assert "imageio-ffmpeg" in video_support()
    with pytest.raises(VideoUnavailable, match="pip install imageio-ffmpeg"):
        VideoWriter(tmp_path / "x.mp4")
    with pytest.raises(VideoUnavailable):
        rollout("expert", "vln/GoToObject-v0", video_dir=tmp_path / "v")
    assert rollout("expert", "vln/GoToObject-v0", episodes=2)[1]["video"] is None  # metrics still work
    with pytest.warns(UserWarning, match="no sample video"):
        assert write_sample_video(tiny_agent, "vln/GoToObject-v0", {}, tmp_path / "rollout.mp4", 0, None) is None
    assert not (tmp_path / "rollout.mp4").exists()
