"""Parameters of the pulse spreading model, validated in one place."""

import dataclasses
import math
from numbers import Integral, Real

from .errors import ConfigError

__all__ = ["NeuralConfig", "SpreadConfig"]

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
                f"unknown {type(self).__name__} field(s): {', '.join(sorted(unknown))}"
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
                f"config must be a {cls.__name__} or a dict, "
                f"got {type(config).__name__}"
            )
        return config.replace(**overrides) if overrides else config


#: Most gamma cycles a neural spread runs: 2,000 cycles of 25 ms are 50 s
#: of model time, far beyond a recall, and keep step numbers (cycles times
#: steps per cycle) well inside 32 bits at the finest step.
MAX_CYCLES = 2_000


#: A theta gain at or below this is taken as exactly 0 (a closed gate):
#: cos() of the trough's phase lands within a few ulps of -1, which would
#: otherwise let spikes through at 1e-16 of their strength.
CLOSED_GATE = 1e-9


@dataclasses.dataclass(frozen=True)
class NeuralConfig:
    """Parameters of the neural model: integrate-and-fire nodes spreading
    in gamma cycles, gated by theta, with working memory.

    See ``docs/model.md`` for the equations. Potentials are in units of
    the firing threshold above rest (rest 0, threshold 1 by default);
    activation, output and working-memory levels are in units of one spike
    at full synaptic resources. Every field is checked when the config is
    made; a bad value raises :class:`ConfigError` naming the field.

    Parameters
    ----------
    dt_ms : float, in [0.01, 5]
        Integration step. 1 ms resolves the 3 ms refractory period and the
        20 ms membrane time constant; the gamma cycle is rounded to whole
        steps.
    gamma_hz : float, in [10, 200]
        Gamma rhythm: one cycle is one wave of the spread, and spikes fired
        in a cycle reach their targets in the next (a synaptic delay of one
        cycle). 40 Hz gives the 25 ms cycle of cortical gamma.
    theta_hz : float, in [0.5, 20], below ``gamma_hz``
        Theta rhythm that gates propagation. 6 Hz, the hippocampal theta
        of memory encoding; 40/6 gives about 7 gamma cycles a theta cycle.
    theta_depth : float, in [0, 1]
        How deeply theta gates: the gain of cycle ``c`` is
        ``1 - depth * (1 - cos(2 pi theta_hz t_c + theta_phase)) / 2``;
        0 turns the gate off, 1 closes it completely at the theta trough.
    theta_phase : float, in [0, 2 pi)
        Theta phase at time 0 (radians; 0 is the peak, the gate wide open).
    tau_m_ms : float, in [0.1, 10000]
        Membrane time constant of the leak (20 ms, a cortical neuron's).
    v_rest, v_threshold, v_reset : float
        Resting potential, firing threshold and reset after a spike; the
        threshold must lie above both others.
    refractory_ms : float, in [0, 1000]
        After a spike a node cannot fire again for this long (3 ms, an
        absolute refractory period), rounded up to whole steps (at least
        one: a node fires at most once a step).
    depletion : float, in (0, 1]
        Share of synaptic resources a spike leaves (0.8: each spike
        releases a fifth of what is left).
    tau_recovery_ms : float, in [1, 1e6]
        Time constant with which resources recover toward 1 (800 ms, as
        measured at depressing cortical synapses).
    synaptic_gain : float, in (0, 1000]
        Drive a unit of output (or of cue activation) gives through a
        weight of 1, in threshold units. 2 lets one spike at full
        resources over a strong association (weight 0.7 or more) fire its
        target within a cycle, while weaker ones need several converging
        spikes: activity then follows strong associations instead of
        flooding the graph.
    max_cycles : int, in [0, 2000]
        Gamma cycles after the cues' cycle, at most (8 cycles = 200 ms,
        about one theta cycle and a half); the spread also ends when no
        node emits.
    wm_capacity : int, in [5, 9]
        Items working memory holds (7 plus or minus 2).
    wm_tau_ms : float, in [1, 1e6]
        Time constant with which an item not refreshed fades (250 ms).
    wm_inhibition : float, in [0, 1)
        Lateral inhibition: each cycle an item loses this share of the
        mean level of the other items.
    wm_floor : float, >= 0
        An item whose level falls to this or below leaves working memory.
    """

    dt_ms: float = 1.0
    gamma_hz: float = 40.0
    theta_hz: float = 6.0
    theta_depth: float = 0.5
    theta_phase: float = 0.0
    tau_m_ms: float = 20.0
    v_rest: float = 0.0
    v_threshold: float = 1.0
    v_reset: float = 0.0
    refractory_ms: float = 3.0
    depletion: float = 0.8
    tau_recovery_ms: float = 800.0
    synaptic_gain: float = 2.0
    max_cycles: int = 8
    wm_capacity: int = 7
    wm_tau_ms: float = 250.0
    wm_inhibition: float = 0.1
    wm_floor: float = 0.05

    def __post_init__(self):
        inf = math.inf
        checked = {
            "dt_ms": _check_real("dt_ms", self.dt_ms, 0.01, 5.0),
            "gamma_hz": _check_real("gamma_hz", self.gamma_hz, 10.0, 200.0),
            "theta_hz": _check_real("theta_hz", self.theta_hz, 0.5, 20.0),
            "theta_depth": _check_real("theta_depth", self.theta_depth, 0.0, 1.0),
            "theta_phase": _check_real(
                "theta_phase", self.theta_phase, 0.0, 2 * math.pi, high_open=True
            ),
            "tau_m_ms": _check_real("tau_m_ms", self.tau_m_ms, 0.1, 10_000.0),
            "refractory_ms": _check_real(
                "refractory_ms", self.refractory_ms, 0.0, 1000.0
            ),
            "depletion": _check_real(
                "depletion", self.depletion, 0.0, 1.0, low_open=True
            ),
            "tau_recovery_ms": _check_real(
                "tau_recovery_ms", self.tau_recovery_ms, 1.0, 1e6
            ),
            "synaptic_gain": _check_real(
                "synaptic_gain", self.synaptic_gain, 0.0, 1000.0, low_open=True
            ),
            "max_cycles": _check_int("max_cycles", self.max_cycles, 0, MAX_CYCLES),
            "wm_capacity": _check_int("wm_capacity", self.wm_capacity, 5, 9),
            "wm_tau_ms": _check_real("wm_tau_ms", self.wm_tau_ms, 1.0, 1e6),
            "wm_inhibition": _check_real(
                "wm_inhibition", self.wm_inhibition, 0.0, 1.0, high_open=True
            ),
            "wm_floor": _check_real(
                "wm_floor", self.wm_floor, 0.0, inf, high_open=True
            ),
        }
        for name in ("v_rest", "v_threshold", "v_reset"):
            checked[name] = _check_real(name, getattr(self, name), -1e6, 1e6)
        if checked["theta_hz"] >= checked["gamma_hz"]:
            raise ConfigError(
                f"theta_hz is {checked['theta_hz']}; it must be below gamma_hz "
                f"({checked['gamma_hz']})"
            )
        for name in ("v_rest", "v_reset"):
            if checked[name] >= checked["v_threshold"]:
                raise ConfigError(
                    f"{name} is {checked[name]}; it must be below v_threshold "
                    f"({checked['v_threshold']})"
                )
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    # The shared helpers of SpreadConfig apply unchanged.
    replace = SpreadConfig.replace
    to_dict = SpreadConfig.to_dict
    coerce = classmethod(SpreadConfig.coerce.__func__)

    @property
    def steps_per_cycle(self):
        """Integration steps in one gamma cycle (the period rounded to
        whole steps, at least one)."""
        return max(1, round(1000.0 / self.gamma_hz / self.dt_ms))

    @property
    def cycle_ms(self):
        """Length of a gamma cycle as simulated: whole steps."""
        return self.steps_per_cycle * self.dt_ms

    @property
    def refractory_steps(self):
        """Steps from a spike to the first step the node may fire again."""
        return max(1, math.ceil(self.refractory_ms / self.dt_ms - 1e-9))

    def theta_gain(self, cycle):
        """The theta gate's gain for spikes delivered in ``cycle``."""
        t_s = cycle * self.cycle_ms / 1000.0
        phase = 2 * math.pi * self.theta_hz * t_s + self.theta_phase
        gain = 1.0 - self.theta_depth * (1.0 - math.cos(phase)) / 2.0
        # A gate that rounding leaves a hair open is closed.
        return gain if gain > CLOSED_GATE else 0.0
