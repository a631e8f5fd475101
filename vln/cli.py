"""What every command-line script shares: bad input as one line and exit code 2."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any


def parse_env_kwargs(text: str | None, flag: str = "--env-kwargs") -> dict[str, Any]:
    """``flag``'s JSON (``--env-kwargs`` or the like) -> dict (ValueError with a one-line reason)."""
    import json

    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{flag} is not valid JSON ({exc.msg} at column {exc.colno}): {text}") from exc
    if not isinstance(value, dict):
        raise ValueError(f"{flag} must be a JSON object like '{{\"max_steps\": 50}}', got {text}")
    return value


class _NativeStderrMuted:
    """Send file descriptor 2 to /dev/null for a while (TensorFlow's C++ start-up log lines)."""

    def __enter__(self):
        import os
        import sys

        self.saved = None
        try:
            sys.stderr.flush()
            self.saved = os.dup(2)
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 2)
            os.close(null)
        except (OSError, AttributeError, ValueError):
            self.saved = None
        return self

    def __exit__(self, *exc):
        import os
        import sys

        if self.saved is not None:
            try:
                sys.stderr.flush()
            except (OSError, ValueError):
                pass
            os.dup2(self.saved, 2)
            os.close(self.saved)
        return False


def resolve_inputs(checkpoint: str | None, policy: str | None, env: str | None, env_kwargs: dict[str, Any] | None,
                   split: str | None, max_words: int | None, quiet: bool = False) -> dict[str, Any]:
    """What the evaluate / rollout scripts run, from their flags; ValueError on bad input.

    Checks the cheap things first (policy, env id, split), then loads the checkpoint.
    The env and its kwargs default to the training run's (``config.json`` beside the
    checkpoint), else ``vln/GoToObject-v0``; ``max_words`` to the run's.
    Returns ``policy`` (an agent or a policy name), ``name``, ``env``, ``env_kwargs``,
    ``split`` and ``max_words``.
    """
    from vln.checkpoint import load_checkpoint, run_config
    from vln.environments import resolve_env_id
    from vln.evaluation import default_split
    from vln.policies import POLICIES

    if policy is None:
        policy = "agent" if checkpoint else None
        if policy is None:
            raise ValueError("nothing to run: give --checkpoint (an agent) or --policy expert|random")
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r}: choose from {', '.join(POLICIES)}")
    if policy == "agent" and not checkpoint:
        raise ValueError("--policy agent needs --checkpoint (an agent.keras file or a run folder)")
    if policy != "agent" and checkpoint:
        raise ValueError(f"--checkpoint is only used with --policy agent, not {policy}")
    run = run_config(checkpoint) if checkpoint else {}
    if env is None:
        env = run.get("env") or "vln/GoToObject-v0"
        if env_kwargs is None:
            env_kwargs = run.get("env_kwargs") or {}
    env_kwargs = dict(env_kwargs or {})
    resolve_env_id(env)
    split = split or default_split(env)
    if split != "train" and default_split(env) == "train":
        raise ValueError(f"env {env!r} has no 'split' argument, so it has no {split} episodes (use --split train)")
    agent = None
    if policy == "agent":
        if quiet:
            with _NativeStderrMuted():
                agent, saved_words = load_checkpoint(checkpoint)
        else:
            agent, saved_words = load_checkpoint(checkpoint)
        if max_words is None:
            max_words = saved_words
    return {"policy": agent if agent is not None else policy, "name": policy, "env": env, "env_kwargs": env_kwargs,
            "split": split, "max_words": max_words}


def user_error_message(exc: BaseException) -> str | None:
    """One line for an error caused by bad input (bad file, id, folder, option), else None.

    The scripts print it as ``error: ...`` and exit 2 instead of showing a traceback.
    """
    import gymnasium as gym

    from vln.video import VideoUnavailable

    # FloatingPointError: training stopped on a NaN/Inf loss (vln.optimiser.NonFiniteLoss).
    if not isinstance(exc, (ValueError, OSError, VideoUnavailable, gym.error.Error, FloatingPointError)):
        return None
    from vln.contract import ContractError

    if isinstance(exc, ContractError):
        return str(exc)  # one line per violation: all of them, untruncated
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        text = f"{exc.filename}: {exc.strerror}"
    else:
        text = str(exc) or type(exc).__name__
    text = " ".join(text.split())
    return text if len(text) <= 400 else text[:397] + "..."


def command_main(parse_args: Callable[[list[str] | None], Any], body: Callable[[Any], int | None],
                 argv: list[str] | None = None) -> int:
    """A command's ``main``: TensorFlow's C++ logs quieted, custom envs (``package.module:Class``)
    importable from the working folder, the flags parsed, then ``body(args)`` under ``run_guarded``."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if os.getcwd() not in sys.path:
        sys.path.insert(1, os.getcwd())
    args = parse_args(argv)
    return run_guarded(lambda: body(args))


def run_guarded(body: Callable[[], int | None]) -> int:
    """Run a script's body; a user error prints ``error: ...`` and returns 2, no traceback."""
    from vln.preemption import Stopped

    try:
        return body() or 0
    except Stopped as exc:  # a training run stopped by SIGTERM / SIGINT, checkpointed
        print(f"{exc.summary}; resume with: {resume_command(exc.out)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - bad input must read as one line, not a traceback
        message = user_error_message(exc)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return 2


def resume_command(out: str) -> str:
    """The command line that continues the stopped run: this one, with ``--resume``.

    The same flags, since a resume checks them against the run's config.json.
    """
    import shlex
    from pathlib import Path

    argv = [a for a in sys.argv[1:] if a != "--resume"]
    if not any(a == "--out" or a.startswith("--out=") for a in argv):
        argv += ["--out", out]
    main = getattr(sys.modules.get("__main__"), "__spec__", None)
    if main is not None and main.name and main.origin == str(Path(sys.argv[0]).resolve()):
        program = ["python", "-m", main.name]  # python -m vln.commands.train (a sweep's trials)
    elif sys.argv[0].endswith(".py"):
        program = ["python", sys.argv[0]]
    else:
        program = [Path(sys.argv[0]).name]
    return shlex.join([*program, *argv, "--resume"])


def require_positive(**values: int | float | None) -> None:
    """ValueError naming the first flag (``num_envs`` -> ``--num-envs``) that is not positive."""
    for name, value in values.items():
        if value is not None and value <= 0:
            raise ValueError(f"--{name.replace('_', '-')} must be positive, got {value}")


def require_non_negative(**values: int | float | None) -> None:
    """ValueError naming the first flag that is negative (0 is allowed: it skips a phase)."""
    for name, value in values.items():
        if value is not None and value < 0:
            raise ValueError(f"--{name.replace('_', '-')} must be 0 or more, got {value}")


def quiet_keras_import() -> None:
    """Import Keras (and start its backend) with native stderr muted.

    TensorFlow's C++ start-up lines come before its logging is configured, so no
    environment variable silences them; without this, a one-line ``error:`` would follow
    a screen of them.
    """
    with _NativeStderrMuted():
        import keras

        # JAX is left unstarted: its start-up is quiet, and env worker processes forked
        # (ShardedVectorEnv) before its threads exist are safe.
        if keras.backend.backend() != "jax":
            keras.ops.convert_to_numpy(keras.ops.zeros(1))


def add_policy_arguments(parser) -> None:
    """The flags evaluate.py and rollout.py share: what drives, on which env and split."""
    parser.add_argument("--checkpoint", help="agent.keras file, or a run folder holding one")
    parser.add_argument("--policy", choices=("agent", "expert", "random"),
                        help="what drives (default: agent with --checkpoint)")
    parser.add_argument("--env", help="Gymnasium id or package.module:Class (default: the run's env, else vln/GoToObject-v0)")
    parser.add_argument("--env-kwargs", help='env keyword arguments as JSON, e.g. \'{"num_rooms": [2, 3]}\'')
    parser.add_argument("--split", choices=("train", "seen", "unseen"),
                        help="episodes: seen or unseen layouts (default unseen where the env has splits)")


# ------------------------------------------------------------------ flags generated from a dataclass
def field_docs(cls) -> dict[str, str]:
    """Each field's docstring (the string literal right under it in the class body), whitespace collapsed."""
    import ast
    import inspect
    import textwrap

    body = ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0].body
    return {node.target.id: " ".join(doc.value.value.split())
            for node, doc in zip(body, body[1:])
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
            and isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant) and isinstance(doc.value.value, str)}


def flag_name(field_name: str) -> str:
    """``num_envs`` -> ``--num-envs``."""
    return "--" + field_name.replace("_", "-")


def add_dataclass_arguments(parser, cls, defaults: dict, aliases: dict[str, tuple[str, ...]] | None = None) -> None:
    """One flag per field of dataclass ``cls``: help from its docstring, default from ``defaults``.

    int / float / str fields take a value of that type, ``Literal[...]`` fields one of its
    values, bool fields are ``--flag`` / ``--no-flag``, and dict fields take JSON: their value
    stays the JSON text (the default is written as JSON) for the caller to parse, so that a
    bad one is reported by the caller's error handling. ``aliases`` adds flags beside a field's.
    """
    import argparse
    import dataclasses
    import json
    import typing

    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    for f in dataclasses.fields(cls):
        hint, default = hints[f.name], defaults[f.name]
        kwargs: dict = {"dest": f.name}
        if hint is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif typing.get_origin(hint) is typing.Literal:
            kwargs["choices"] = typing.get_args(hint)
            kwargs["type"] = type(kwargs["choices"][0])
        elif typing.get_origin(hint) is dict or hint is dict:
            kwargs["metavar"] = "JSON"
            default = json.dumps(default)
        elif hint in (int, float, str):
            kwargs["type"] = hint
        else:
            raise TypeError(f"{cls.__name__}.{f.name}: no flag for a field of type {hint}")
        shown = default if default != "" else '""'
        action = parser.add_argument(flag_name(f.name), *(aliases or {}).get(f.name, ()), default=default, **kwargs)
        # Set after construction: BooleanOptionalAction would append its own "(default: ...)" (Python < 3.13).
        action.help = f"{docs.get(f.name, '')} (default: {shown})".strip().replace("%", "%%")


def dataclass_values(cls, args) -> dict:
    """The fields of ``cls`` from a namespace that ``add_dataclass_arguments`` filled (dicts still JSON)."""
    import dataclasses

    return {f.name: getattr(args, f.name) for f in dataclasses.fields(cls)}
