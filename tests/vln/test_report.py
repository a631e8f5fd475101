"""vln.report without a browser: which episodes the gallery shows, what the page holds, the flags."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

from vln.evaluation import evaluate, read_episode_rows, write_episode_rows
from vln.report import choose_episodes, write_report
from vln.stats import mean_interval

ROOT = Path(__file__).resolve().parents[2]
ENV = "vln/GoToObject-v0"


def rows(outcomes: str, split_seed: int = 0) -> list[dict]:
    names = {"s": "success", "t": "timeout", "w": "wrong_room", "d": "at_distractor"}
    return [{"seed": split_seed + i, "outcome": names[o], "success": o == "s"} for i, o in enumerate(outcomes)]


def test_the_gallery_takes_every_outcome_in_turn_and_alternates_splits():
    chosen = choose_episodes({"unseen": rows("sssstd"), "seen": rows("sst", 100)}, size=6)
    assert [r["outcome"] for r in chosen] == ["success", "timeout", "at_distractor", "success", "timeout", "success"]
    assert [(r["split"], r["seed"]) for r in chosen if r["outcome"] == "success"] == [("unseen", 0), ("seen", 100), ("unseen", 1)]
    assert len(choose_episodes({"unseen": rows("s" * 40)})) == 12  # the default size
    assert choose_episodes({"unseen": []}) == []


def test_mean_interval_brackets_the_mean_and_skips_nans():
    values = np.r_[np.ones(30), np.zeros(70), [np.nan] * 5]
    lo, hi = mean_interval(values)
    assert lo < 0.3 < hi and 0.15 < lo and hi < 0.45
    assert mean_interval([np.nan]) is None and mean_interval([1.0, 1.0]) == (1.0, 1.0)


def test_episode_rows_round_trip_through_csv(tmp_path):
    row = {"seed": 3, "mission": "go to the 2 red balls, then stop", "success": True, "steps": 7, "spl": 0.5,
           "ndtw": float("nan"), "outcome": "success"}
    write_episode_rows(tmp_path / "e.csv", [row])
    back = read_episode_rows(tmp_path / "e.csv")[0]
    assert back["seed"] == 3 and back["success"] == 1 and back["mission"] == row["mission"] and back["outcome"] == "success"
    assert np.isnan(back["ndtw"]) and back["spl"] == 0.5


def test_the_page_is_self_contained_and_holds_every_part(tmp_path):
    summary, eval_rows = evaluate("random", ENV, episodes=6, num_envs=6)
    page = write_report(tmp_path / "report.html", {"unseen": (summary, eval_rows)}, policy="random", env=ENV,
                        config={"env": ENV, "lr": 1e-4}, gallery=3, title="a <test> run")
    text = page.read_text()
    for part in ('id="config"', 'id="results"', 'id="breakdown"', 'id="gallery"', "a &lt;test&gt; run", "0.0001"):
        assert part in text, part
    # Each metric with its interval: "value [lo, hi]".
    assert len(re.findall(r"\d\.\d{3}<br><small>\[\d\.\d{3}, \d\.\d{3}\]</small>", text)) >= 6
    videos = re.findall(r'<video src="([^"]+)"', text)
    assert len(videos) == 3 and all((tmp_path / v).is_file() for v in videos)
    assert all(v.startswith("report/") for v in videos)  # beside the page, by relative path
    outcomes = re.findall(r'class="card [a-z]+" data-outcome="([a-z_]+)"', text)
    assert len(outcomes) == 3 and all(f'data-filter="{o}"' in text for o in outcomes)
    # Offline: nothing fetched from elsewhere (no http(s) address, no external script or style).
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text) and "<script src" not in text
    # Written again, it keeps only its own videos.
    write_report(page, {"unseen": (summary, eval_rows)}, policy="random", env=ENV, gallery=1)
    assert len(list((tmp_path / "report").glob("*.mp4"))) == 1


def test_report_flags_and_errors(tmp_path):
    from vln.commands.train import config_from_args, parse_args

    assert config_from_args(parse_args([])).report is True
    assert config_from_args(parse_args(["--no-report"])).report is False
    assert config_from_args(parse_args(["--preset", "tiny"])).report is False  # tiny keeps the suite's runs short
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "report.py"), str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "no config.json" in done.stderr, done.stderr
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "evaluate.py"), "--policy", "expert", "--episodes",
                           "1", "--out", str(tmp_path / "e.json"), "--report", str(tmp_path / "e.json")], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--report must name an .html file" in done.stderr, done.stderr


def test_resume_of_a_finished_run_writes_its_report(tmp_path):
    """Whether a report is written changes no result: --resume takes either value of the flag."""
    from vln.config import preset
    from vln.train import run

    config = preset("tiny", env="examples.word_action_env:WordActionEnv", out=str(tmp_path / "run"), il_episodes=8,
                    dagger_rounds=0, rl_updates=0, eval_episodes=4)
    run(config, progress=False)
    assert not (tmp_path / "run" / "report.html").exists()
    config.report = True
    run(config, resume=True, progress=False)
    text = (tmp_path / "run" / "report.html").read_text()
    assert 'id="results"' in text and 'id="config"' in text
