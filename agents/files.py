"""Checks of an agent file before Keras reads it, so a wrong file fails with a message that names it."""

from __future__ import annotations

import json
import os
import zipfile


def check_agent_file(path: str | os.PathLike) -> None:
    """Raise ValueError naming ``path`` unless it is a ``.keras`` archive holding a VLN agent."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"agent file not found: {path}")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not a .keras archive (corrupt or wrong format)")
    try:
        with zipfile.ZipFile(path) as zf:
            meta = json.loads(zf.read("config.json"))
    except Exception as e:  # missing member, bad JSON, truncated zip
        raise ValueError(f"{path} is not a valid .keras file: {e}") from e
    class_name = meta.get("class_name", "") if isinstance(meta, dict) else ""
    registered = str(meta.get("registered_name", "")) if isinstance(meta, dict) else ""
    if "VLNAgent" not in class_name and "VLNAgent" not in registered:
        raise ValueError(f"{path} does not hold a VLN agent (found {class_name or 'unknown'!r})")
