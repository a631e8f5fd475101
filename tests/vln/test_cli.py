"""scripts/train.py's flags, generated from TrainConfig: help, defaults, aliases, errors, and the README's commands.

Also the installable package: the console entry points name importable functions.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from vln.cli import field_docs
from vln.config import PRESETS, TrainConfig, preset

ROOT = Path(__file__).resolve().parents[2]


def train_script(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="100000")  # no wrapping: one line per flag
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # as a user runs it
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "train.py"), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def parse(argv: list[str]) -> TrainConfig:
    from vln.commands.train import config_from_args, parse_args

    return config_from_args(parse_args(argv))


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def shown(value) -> str:
    if isinstance(value, dict):
        return json.dumps(value)
    return '""' if value == "" else str(value)


def help_lines(out: str) -> dict[str, str]:
    """``--flag`` -> its entry in ``--help``, whitespace collapsed (a long one puts its help on the next line)."""
    entries, current = {}, None
    for line in out.splitlines():
        m = re.match(r"  (-{1,2}[a-z-]+)", line)
        if m:
            current = m.group(1)
            entries[current] = line
        elif current and line.startswith("    "):
            entries[current] += line
        else:
            current = None
    return {name: " ".join(text.split()) for name, text in entries.items()}


def test_every_field_has_a_docstring():
    docs = field_docs(TrainConfig)
    assert set(docs) == {f.name for f in dataclasses.fields(TrainConfig)} and len(docs) == 67
    assert docs["num_envs"] == "Envs of the native vector env, stepped as one batch."
    assert docs["il_mix"].startswith("Weight of the imitation loss mixed into REINFORCE (EnvDrop uses 0.2; 0 disables): "
                                     "each update also")  # a docstring of two lines, joined


@pytest.mark.parametrize("name", ["default", "goto", "route"])
def test_help_lists_every_field_with_its_docstring_and_real_default(name):
    done = train_script("--preset", name, "--help")
    assert done.returncode == 0, done.stderr
    assert "default: None" not in done.stdout
    lines, docs = help_lines(done.stdout), field_docs(TrainConfig)
    defaults = {**dataclasses.asdict(preset(name)), "out": f"runs/{name}"}
    for f in dataclasses.fields(TrainConfig):
        line = lines[flag(f.name)]
        assert docs[f.name] in line, line
        assert line.endswith(f"(default: {shown(defaults[f.name])})"), line
    assert {"--preset", "--resume", "--no-progress"} <= set(lines)
    assert lines["--bidirectional"].startswith("--bidirectional, --no-bidirectional")
    assert lines["--init-agent"].startswith("--init-agent INIT_AGENT, --init INIT_AGENT")
    assert lines["--time-budget-s"].startswith("--time-budget-s TIME_BUDGET_S, --time-budget TIME_BUDGET_S")
    assert lines["--rnn"].startswith("--rnn {lstm,gru}") and lines["--rl-baseline"].startswith("--rl-baseline {value,group}")


def test_a_presets_values_are_the_defaults_shown():
    lines = help_lines(train_script("--preset", "route", "--help").stdout)
    assert lines["--env"].endswith("(default: vln/FollowRoute-v0)")
    assert lines["--out"].endswith("(default: runs/route)")
    assert lines["--rl-updates"].endswith("(default: 300)")
    assert lines["--env-kwargs"].endswith('(default: {"num_rooms": [2, 3], "max_steps": 60, "reward_shaping": true})')
    assert help_lines(train_script("--help").stdout)["--env"].endswith("(default: vln/FollowRoute-v0)")  # the main job
    assert help_lines(train_script("--preset", "goto", "--help").stdout)["--env"].endswith("(default: vln/GoToObject-v0)")


def test_types_choices_and_booleans():
    config = parse(["--preset", "gpu", "--no-bidirectional", "--no-mixed-precision", "--rnn", "gru", "--gamma", "0.9",
                    "--max-words", "12", "--env-kwargs", '{"num_rooms": [2, 3]}'])
    assert not config.bidirectional and not config.mixed_precision and config.rnn == "gru"
    assert config.gamma == 0.9 and config.max_words == 12 and config.env_kwargs == {"num_rooms": [2, 3]}
    assert config.num_envs == PRESETS["gpu"]["num_envs"] and config.out == "runs/gpu"
    assert parse(["--bidirectional"]).bidirectional


def test_aliases_set_the_same_fields():
    assert parse(["--init", "runs/il", "--time-budget", "5"]) == parse(["--init-agent", "runs/il", "--time-budget-s", "5"])
    assert parse(["--init", "runs/il"]).init_agent == "runs/il" and parse(["--time-budget", "5"]).time_budget_s == 5.0


@pytest.mark.parametrize("argv, expected", [
    (["--num-envs", "0"], "error: --num-envs must be positive, got 0"),
    (["--rl-updates", "-3"], "error: --rl-updates must be 0 or more, got -3"),
    (["--time-budget", "-1"], "error: --time-budget must be 0 or more, got -1.0"),
    (["--gamma", "1.5"], "error: --gamma must be at most 1, got 1.5"),
    (["--clipnorm", "0"], "error: --clipnorm must be positive, got 0.0"),
    (["--rl-baseline", "group", "--rl-group", "3"], "error: --rl-group must be at least 2 and divide --num-envs (64)"),
    (["--env-kwargs", "{oops"], "error: --env-kwargs is not valid JSON"),
    (["--word-insert-end"], "error: --word-insert-end places --word-insert's words: give --word-insert above 0"),
])
def test_a_bad_value_is_one_error_line_and_exit_2(argv, expected, tmp_path):
    done = train_script(*argv, "--out", str(tmp_path / "run"))
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and lines[0].startswith(expected), done.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("argv", [["--rnn", "cnn"], ["--num-envs", "many"], ["--preset", "huge"]])
def test_a_value_argparse_rejects_exits_2(argv):
    done = train_script(*argv)
    assert done.returncode == 2 and "error: argument" in done.stderr and "Traceback" not in done.stderr


def test_config_check_names_the_flag_from_python_too():
    with pytest.raises(ValueError, match="--rnn must be one of lstm, gru; got 'cnn'"):
        TrainConfig(rnn="cnn")
    with pytest.raises(ValueError, match="--batch-size must be positive"):
        preset("tiny", batch_size=0)
    config = TrainConfig()
    config.chunk = 0  # set after the config was made: check() again (as vln.train.run does)
    with pytest.raises(ValueError, match="--chunk must be positive"):
        config.check()


def test_an_older_config_json_still_loads(tmp_path):
    """A run's config.json from before the newer fields (rl_baseline, rl_group, pg_coef, ...) existed."""
    data = json.loads(TrainConfig().to_json())
    for name in ("rl_baseline", "rl_group", "pg_coef", "rl_value_warmup", "time_budget_s", "env_workers"):
        data.pop(name)
    (tmp_path / "config.json").write_text(json.dumps(data))
    assert TrainConfig.load(tmp_path / "config.json") == TrainConfig()


# ------------------------------------------------------------------ the README's commands, as the old parser read them
def old_parse(argv: list[str]) -> TrainConfig:
    """The hand-written parser scripts/train.py had before its flags were generated: its flags, types and merge."""
    p = argparse.ArgumentParser()
    for name in ("--env", "--env-kwargs", "--out"):
        p.add_argument(name)
    p.add_argument("--seed", type=int)
    p.add_argument("--preset", default="default", choices=sorted(PRESETS))
    p.add_argument("--init", dest="init_agent", metavar="PATH")
    for name, type_ in (("--il-episodes", int), ("--il-epochs", float), ("--dagger-rounds", int),
                        ("--dagger-episodes", int), ("--rl-updates", int), ("--eval-episodes", int),
                        ("--num-envs", int), ("--env-workers", int)):
        p.add_argument(name, type=type_)
    p.add_argument("--mixed-precision", action="store_true", default=None)
    p.add_argument("--rnn", choices=("lstm", "gru"))
    p.add_argument("--hidden", type=int)
    p.add_argument("--bidirectional", action="store_true", default=None)
    for name, type_ in (("--batch-size", int), ("--chunk", int), ("--lr", float), ("--rl-lr", float)):
        p.add_argument(name, type=type_)
    p.add_argument("--rl-baseline", choices=("value", "group"))
    p.add_argument("--rl-group", type=int)
    p.add_argument("--pg-coef", type=float)
    p.add_argument("--il-mix", type=float)
    p.add_argument("--time-budget", dest="time_budget_s", type=float)
    p.add_argument("--checkpoint-every", type=int)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    overrides = {k: v for k, v in vars(args).items() if v is not None and k not in ("preset", "resume", "no_progress")}
    overrides.setdefault("out", f"runs/{args.preset}")
    if args.env_kwargs is not None:
        overrides["env_kwargs"] = json.loads(args.env_kwargs)
    return preset(args.preset, **overrides)


def readme_train_commands() -> list[list[str]]:
    """Every ``python scripts/train.py ...`` command in README.md and docs/custom_envs.md (continuation
    lines joined), minus --help."""
    text = "\n".join((ROOT / name).read_text() for name in ("README.md", "docs/custom_envs.md")).replace("\\\n", " ")
    commands = []
    for line in text.splitlines():
        m = re.match(r"(?:[A-Z_]+=\S+ )*python scripts/train\.py(.*)", line)  # a code line (KERAS_BACKEND=jax ...)
        if m and "--help" not in (words := shlex.split(m.group(1), comments=True)):
            commands.append(words)
    return commands


def test_readme_commands_give_the_configs_they_gave_before():
    commands = readme_train_commands()
    assert len(commands) >= 9, commands
    for argv in commands:
        assert parse(argv) == old_parse(argv), argv


# ------------------------------------------------------------------ the installable package
def test_entry_points_name_importable_mains():
    import tomllib

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert set(scripts) == {"vln-train", "vln-evaluate", "vln-rollout", "vln-compare", "vln-report", "vln-imitation-accuracy",
                            "vln-sightlines",
                            "vln-sweep"}
    for target in scripts.values():
        module, func = target.split(":")
        assert callable(getattr(importlib.import_module(module), func)), target
