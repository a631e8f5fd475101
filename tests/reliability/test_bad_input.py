"""Bad input through the real command lines: one ``error:`` line, exit code 2, no traceback.

And input that is odd but legitimate (unknown words, characters outside the charset, empty
instructions) is handled: the run completes. Most cases call the scripts' ``main(argv)``
in the test process (fast: TensorFlow is already loaded); ``PROCESS_CASES`` run as real
subprocesses, where TensorFlow's start-up noise on stderr would show. More cases live in
``tests/vln/test_evaluate_cli.py`` (evaluate/rollout), ``tests/vln/test_contract.py`` (env
contract) and ``tests/envs`` (invalid actions, bad env configs); RELIABILITY.md counts them all.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

from vln.config import preset

ROOT = Path(__file__).resolve().parents[2]
WORD_ENV = "examples.word_action_env:WordActionEnv"
STRIPES = "examples.color_stripe_env:ColorStripeEnv"


def script(name: str):
    spec = importlib.util.spec_from_file_location(f"vln_script_{name}", ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def word_run(tmp_path_factory) -> Path:
    """A finished tiny run on WordActionEnv (4 actions, 16x16 frames): agent.keras, config.json, checkpoint/."""
    from vln.train import run

    out = tmp_path_factory.mktemp("word") / "run"
    run(preset("tiny", env=WORD_ENV, out=str(out), il_episodes=32, dagger_rounds=0, rl_updates=0, eval_episodes=0),
        progress=False)
    return out


def copy_run(word_run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(word_run, tmp_path / "run"))


# ------------------------------------------------------------------ what each case breaks
def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def flip_bytes(path: Path) -> None:
    """Damage the weights inside a valid-looking archive (a bad CRC)."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("model.weights.h5")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 64
    for i in range(start, start + 256):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def other_model(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("config.json", json.dumps({"class_name": "Sequential", "registered_name": "Sequential"}))


def json_file(path: Path) -> None:
    path.write_text('{"this": "is not an agent"}')


# (case, setup(run folder) -> argv for train.py with --out RUN, expected words in the error)
TRAIN_CASES = {
    "unknown-env-id": (lambda run: ["--env", "vln/NoSuchEnv-v0"], "unknown env 'vln/NoSuchEnv-v0'"),
    "env-kwargs-not-json": (lambda run: ["--env-kwargs", "{max_steps: 5"], "--env-kwargs is not valid JSON"),
    "env-kwargs-not-an-object": (lambda run: ["--env-kwargs", "[1, 2]"], "--env-kwargs must be a JSON object"),
    "env-kwargs-unknown-argument": (lambda run: ["--env-kwargs", '{"nope": 1}'], "unexpected keyword argument 'nope'"),
    "env-kwargs-out-of-bounds": (lambda run: ["--env", "vln/GoToObject-v0", "--env-kwargs", '{"max_steps": 0}'],
                                 "max_steps must be positive"),
    "out-under-a-file": (lambda run: ["--out", str(_file(run.parent / "blocker") / "run")], "cannot write to"),
    "zero-num-envs": (lambda run: ["--num-envs", "0"], "--num-envs must be positive"),
    "negative-rl-updates": (lambda run: ["--rl-updates", "-3"], "--rl-updates must be 0 or more"),
    "resume-without-a-run": (lambda run: ["--resume", "--out", str(run.parent / "nothing")], "no run in"),
    "new-run-over-a-run": (lambda run: ["--out", str(run)], "already holds a run"),
    "resume-with-other-options": (lambda run: resume(run) + ["--hidden", "64"], "options differ"),
    "resume-corrupt-config": (lambda run: _write(run / "config.json", "{oops") + resume(run), "not a run's config"),
    "resume-truncated-checkpoint": (lambda run: _do(truncate, run / "checkpoint" / "agent.keras") + resume(run),
                                    "corrupt checkpoint"),
    "resume-damaged-checkpoint": (lambda run: _do(flip_bytes, run / "checkpoint" / "agent.keras") + resume(run),
                                  "agent.keras"),
    "resume-checkpoint-of-another-model": (lambda run: _do(other_model, run / "checkpoint" / "agent.keras") + resume(run),
                                           "does not hold a VLN agent"),
    "resume-checkpoint-in-wrong-format": (lambda run: _do(json_file, run / "checkpoint" / "agent.keras") + resume(run),
                                          "corrupt checkpoint"),
    "resume-corrupt-state": (lambda run: _no_member(run) + _write(run / "checkpoint" / "state.json", "[1]") + resume(run),
                             "corrupt checkpoint"),
}


def resume(run: Path) -> list[str]:
    return ["--resume", "--out", str(run)]


def _file(path: Path) -> Path:
    path.write_text("a file, not a folder")
    return path


def _write(path: Path, text: str) -> list[str]:
    path.write_text(text)
    return []


def _do(fn, path: Path) -> list[str]:
    fn(path)
    return []


def _no_member(run: Path) -> list[str]:
    """A checkpoint of the older layout: the state only in state.json."""
    path = run / "checkpoint" / "agent.keras"
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist() if n != "vln_state.json"}
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return []


def assert_one_line_error(code: int, err: str, expected: str) -> None:
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    assert expected in lines[0], lines[0]


def word_args(run: Path) -> list[str]:
    """The options of ``word_run``, for a new run beside it (cases add ``--resume --out RUN`` to resume it)."""
    return ["--preset", "tiny", "--env", WORD_ENV, "--il-episodes", "32", "--dagger-rounds", "0", "--rl-updates", "0",
            "--eval-episodes", "0", "--no-progress", "--out", str(run.parent / "new")]


@pytest.mark.parametrize("case", sorted(TRAIN_CASES))
def test_train_bad_input(case, word_run, tmp_path, capsys):
    run = copy_run(word_run, tmp_path)
    setup, expected = TRAIN_CASES[case]
    argv = word_args(run) + setup(run)  # a later --out wins
    code = script("train").main(argv)
    assert_one_line_error(code, capsys.readouterr().err, expected)


# (case, setup(run folder, tmp) -> argv for evaluate.py / rollout.py, expected words)
POLICY_CASES = {
    "truncated-checkpoint": (lambda run: _do(truncate, run / "agent.keras") + ["--checkpoint", str(run)],
                             "not a .keras archive"),
    "checkpoint-in-wrong-format": (lambda run: _do(json_file, run / "agent.keras") + ["--checkpoint", str(run)],
                                   "not a .keras archive"),
    "damaged-checkpoint": (lambda run: _do(flip_bytes, run / "agent.keras") + ["--checkpoint", str(run)],
                           "agent.keras"),
    "action-count-mismatch": (lambda run: ["--checkpoint", str(run), "--env", STRIPES, "--env-kwargs", '{"size": 16}'],
                              "4 actions where the env has 3"),
    "frame-size-mismatch": (lambda run: ["--checkpoint", str(run), "--env", "vln/GoToObject-v0"],
                            "(16, 16, 3) frames where the env gives (64, 64, 3)"),
    "vocabulary-mismatch": (lambda run: ["--checkpoint", str(run), "--env", "vln/GoToObject-v0", "--env-kwargs",
                                         '{"view_size": 16}'], "a vocabulary that misses"),
    "env-kwargs-not-json": (lambda run: ["--policy", "expert", "--env-kwargs", "{'max_steps': 5}"],
                            "--env-kwargs is not valid JSON"),
    "env-kwargs-unknown-argument": (lambda run: ["--policy", "expert", "--env-kwargs", '{"nope": 1}'],
                                    "unexpected keyword argument 'nope'"),
    "zero-episodes": (lambda run: ["--policy", "expert", "--episodes", "0"], "--episodes must be positive"),
}


@pytest.mark.parametrize("name", ["evaluate", "rollout"])
@pytest.mark.parametrize("case", sorted(POLICY_CASES))
def test_evaluate_and_rollout_bad_input(case, name, word_run, tmp_path, capsys):
    run = copy_run(word_run, tmp_path)
    setup, expected = POLICY_CASES[case]
    out = ["--out", str(tmp_path / "eval.json")] if name == "evaluate" else ["--video-dir", str(tmp_path / "videos")]
    argv = setup(run)
    code = script(name).main(argv + out + ["--episodes", "2"] * ("--episodes" not in argv))
    assert_one_line_error(code, capsys.readouterr().err, expected)
    assert not (tmp_path / "eval.json").exists() and not list((tmp_path / "videos").glob("*.mp4"))


# Cases run as real processes: TensorFlow's start-up lines must not reach stderr either.
PROCESS_CASES = {
    "train-unknown-env-id": ("train", lambda run: word_args(run) + ["--env", "vln/NoSuchEnv-v0"], "unknown env"),
    "train-resume-truncated-checkpoint": ("train", lambda run: word_args(run) + _do(truncate, run / "checkpoint" / "agent.keras")
                                          + resume(run), "corrupt checkpoint"),
    "evaluate-action-count-mismatch": ("evaluate", lambda run: ["--checkpoint", str(run), "--env", STRIPES, "--env-kwargs",
                                                                '{"size": 16}', "--episodes", "2"], "4 actions"),
}


@pytest.mark.parametrize("case", sorted(PROCESS_CASES))
def test_bad_input_in_a_real_process(case, word_run, tmp_path):
    run = copy_run(word_run, tmp_path)
    name, argv, expected = PROCESS_CASES[case]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # as a user runs it
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / f"{name}.py"), *argv(run)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=180)
    assert_one_line_error(done.returncode, done.stderr, expected)


# ------------------------------------------------------------------ handled, not fatal
MISSION_ENV = textwrap.dedent('''
    from examples.word_action_env import PHRASES, WordActionEnv


    class MissionEnv(WordActionEnv):
        """WordActionEnv whose instruction is ``template`` with the phrase filled in, whatever it holds."""

        def __init__(self, template="{phrase}", **kwargs):
            super().__init__(**kwargs)
            self.template = template

        def _obs(self):
            obs = super()._obs()
            return {"image": obs["image"], "mission": self.template.format(phrase=PHRASES[self.target])}
''')
ODD_MISSIONS = {
    "unknown-words": "{phrase} now",  # half the words at worst ("stop now"): still the env the agent knows
    "outside-the-charset": "¡{phrase}!!\t🚀 ✓ \x00 ü",
    "only-characters-outside-the-charset": "¿¡🚀✓ äöü",
    "empty": "",
}


@pytest.fixture
def mission_env(tmp_path, monkeypatch) -> str:
    (tmp_path / "odd_missions.py").write_text(MISSION_ENV)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return "odd_missions:MissionEnv"


@pytest.mark.parametrize("case", sorted(ODD_MISSIONS))
def test_odd_instructions_are_handled(case, word_run, mission_env, tmp_path, capsys):
    """The agent reads unknown words as <unk> and drops characters it has no token for; an
    empty instruction is all padding. Evaluation and a rollout video both complete."""
    kwargs = json.dumps({"template": ODD_MISSIONS[case]})
    code = script("evaluate").main(["--checkpoint", str(word_run), "--env", mission_env, "--env-kwargs", kwargs,
                                    "--episodes", "4", "--out", str(tmp_path / "eval.json")])
    assert code == 0, capsys.readouterr().err
    assert json.loads((tmp_path / "eval.json").read_text())["episodes"] == 4
    code = script("rollout").main(["--checkpoint", str(word_run), "--env", mission_env, "--env-kwargs", kwargs,
                                   "--episodes", "1", "--video-dir", str(tmp_path / "videos")])
    assert code == 0, capsys.readouterr().err
    assert len(list((tmp_path / "videos").glob("*.mp4"))) == 1


def test_training_on_empty_instructions_completes(mission_env, tmp_path):
    from vln.train import run

    results = run(preset("tiny", env=mission_env, env_kwargs={"template": ""}, out=str(tmp_path / "run"), il_episodes=16,
                         dagger_rounds=0, rl_updates=1, eval_episodes=4), progress=False)
    assert results["episodes"] == 4 and (tmp_path / "run" / "agent.keras").exists()


@pytest.mark.parametrize("text", ["", "   ", "¿¡🚀", "go to the RED ball!!", "ünknöwn wörds", "\x00\n\t", "a" * 2000])
def test_tokenizer_and_agent_take_any_instruction(text, word_run):
    from agents import load_agent

    agent = load_agent(word_run / "agent.keras")
    tokens = agent.vocab.encode_batch([text], max_len=8)
    assert tokens.shape == (1, 8) and (tokens >= 0).all() and (tokens < len(agent.vocab)).all()
    enc = agent.encode_instruction(tokens)
    out = agent.step(enc, np.zeros((1, 16, 16, 3), np.uint8), np.full(1, 4, np.int32), agent.initial_state(1))
    assert all(np.isfinite(np.asarray(v)).all() for v in out.values())
