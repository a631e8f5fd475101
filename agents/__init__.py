"""Keras 3 models for vision-and-language navigation (see DESIGN.md, "Agent contract")."""

from agents.config import AgentConfig
from agents.model import VLNAgent, load_agent

__all__ = ["AgentConfig", "VLNAgent", "load_agent"]
