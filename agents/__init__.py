"""Keras 3 models for vision-and-language navigation (see docs/design.md, "Agent contract").

Importing this package registers the Keras classes (``VLNAgent``), so a saved agent loads
with plain ``keras.saving.load_model(path)`` after ``import agents``, on any backend.
"""

from agents.config import AgentConfig
from agents.model import VLNAgent, load_agent
from agents.vocabulary import Vocabulary

__all__ = ["AgentConfig", "VLNAgent", "Vocabulary", "load_agent"]
