"""Keras 3 models for vision-and-language navigation (see docs/design.md, "Agent contract").

Keras is imported on first use of ``VLNAgent`` or ``load_agent``, so ``agents.files``
(checking a file) and ``agents.config`` stay cheap to import.
"""

from agents.config import AgentConfig

__all__ = ["AgentConfig", "VLNAgent", "load_agent"]


def __getattr__(name: str):
    if name in ("VLNAgent", "load_agent"):
        from agents import model

        return getattr(model, name)
    raise AttributeError(f"module 'agents' has no attribute {name!r}")
