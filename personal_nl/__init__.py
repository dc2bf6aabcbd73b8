"""The Hope nested-learning language model: config, layers, online learning, training, generation."""

from personal_nl.config import CMSLevel, HopeConfig, TitansConfig, preset
from personal_nl.model import HopeLM, Output, State

__all__ = ["CMSLevel", "HopeConfig", "TitansConfig", "preset", "HopeLM", "Output", "State"]
