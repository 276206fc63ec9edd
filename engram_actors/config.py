"""Parameters of the pulse spreading model, validated in one place."""

import dataclasses
import math
from numbers import Integral, Real

from .errors import ConfigError

__all__ = ["SpreadConfig"]

#: Upper bound on waves and on the refractory period. Each wave costs at
#: least one pass over the frontier; ten thousand waves is far beyond any
#: useful spread and keeps wave numbers well inside 32-bit counters.
MAX_WAVES = 10_000


def _check_real(name, value, low, high, low_open=False, high_open=False):
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    value = float(value)
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if math.isnan(value) or too_low or too_high:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        raise ConfigError(
            f"{name} is {value}; allowed range is {left}{low}, {high}{right}"
        )
    return value


def _check_int(name, value, low, high):
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if not low <= value <= high:
        raise ConfigError(f"{name} is {value}; allowed range is [{low}, {high}]")
    return value


@dataclasses.dataclass(frozen=True)
class SpreadConfig:
    """Parameters of the pulse model of spreading activation.

    See ``docs/model.md`` for the equations. Every field is checked when the
    config is made; a bad value raises :class:`ConfigError` naming the field
    and its allowed range.

    Parameters
    ----------
    decay : float, in (0, 1]
        Share of a firing node's activation that reaches its neighbours
        (before the edge weight). 0.8 lets a cue reach three links away with
        about half its strength on strong links, in line with priming that
        fades over two to three associative steps.
    threshold : float, >= 0
        A node fires in the next wave only if the activation it received in
        this wave is at least this. 0.01 stops the long tail of faint
        activation that would otherwise reach most of a connected graph.
    max_hops : int, in [0, 10000]
        Waves to run at most. Three associative steps cover what priming
        studies find; the spread also ends early when no node fires.
    fan_normalize : bool
        Divide a node's output by its out-degree (the fan effect: a concept
        with many associations primes each of them less).
    refractory_waves : int, in [0, 10000]
        Waves after firing during which a node cannot fire again. 0 lets a
        node fire in every wave; ``r >= max_hops`` lets it fire at most once.
    max_activation : float > 0 or None
        Cap on each node's final activation; None for no cap.

    Examples
    --------
    >>> SpreadConfig(decay=0.5).replace(max_hops=2).max_hops
    2
    """

    decay: float = 0.8
    threshold: float = 0.01
    max_hops: int = 3
    fan_normalize: bool = False
    refractory_waves: int = 0
    max_activation: float | None = None

    def __post_init__(self):
        checked = {
            "decay": _check_real("decay", self.decay, 0.0, 1.0, low_open=True),
            "threshold": _check_real(
                "threshold", self.threshold, 0.0, math.inf, high_open=True
            ),
            "max_hops": _check_int("max_hops", self.max_hops, 0, MAX_WAVES),
            "refractory_waves": _check_int(
                "refractory_waves", self.refractory_waves, 0, MAX_WAVES
            ),
        }
        if not isinstance(self.fan_normalize, bool):
            raise ConfigError(
                f"fan_normalize must be True or False, got {self.fan_normalize!r}"
            )
        if self.max_activation is not None:
            checked["max_activation"] = _check_real(
                "max_activation",
                self.max_activation,
                0.0,
                math.inf,
                low_open=True,
                high_open=True,
            )
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    def replace(self, **changes):
        """A copy with some fields changed (and checked again)."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ConfigError(
                f"unknown SpreadConfig field(s): {', '.join(sorted(unknown))}"
            )
        return dataclasses.replace(self, **changes)

    def to_dict(self):
        """The fields as a plain dict (for JSON and msgpack)."""
        return dataclasses.asdict(self)

    @classmethod
    def coerce(cls, config=None, **overrides):
        """A config from None, a SpreadConfig or a dict, with overrides."""
        if config is None:
            config = cls()
        elif isinstance(config, dict):
            config = cls().replace(**config)
        elif not isinstance(config, cls):
            raise ConfigError(
                f"config must be a SpreadConfig or a dict, got {type(config).__name__}"
            )
        return config.replace(**overrides) if overrides else config
