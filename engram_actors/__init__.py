"""engram-actors: parallel activation spreading over associative memory graphs.

A memory graph holds memories and concepts as nodes and their associations
as weighted edges. Spreading activates a few cues and lets activation flow
along the edges in waves; the result tells which memories light up.
"""

import logging

from . import generators, io, reference
from .config import NeuralConfig, SpreadConfig
from .engine import ActorDiedError, Engine, EngineClosedError
from .errors import (
    ConfigError,
    CueError,
    EngramError,
    GraphError,
    GraphFormatError,
    UnknownNodeError,
)
from .graph import Graph
from .hippocampus import Episode, Hippocampus, HippocampusConfig
from .memory import ConsolidationConfig, Memory, Recall
from .result import NeuralResult, SpreadResult, SpreadStats

__all__ = [
    "ActorDiedError",
    "ConsolidationConfig",
    "Engine",
    "EngineClosedError",
    "ConfigError",
    "CueError",
    "EngramError",
    "Episode",
    "Graph",
    "GraphError",
    "GraphFormatError",
    "Hippocampus",
    "HippocampusConfig",
    "Memory",
    "NeuralConfig",
    "NeuralResult",
    "Recall",
    "SpreadConfig",
    "SpreadResult",
    "SpreadStats",
    "UnknownNodeError",
    "generators",
    "io",
    "reference",
]

__version__ = "0.1.0"

# The library logs but never decides where logs go; the CLI does.
logging.getLogger(__name__).addHandler(logging.NullHandler())
