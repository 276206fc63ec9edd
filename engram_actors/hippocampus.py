"""The fast hippocampal pathway beside a memory graph: one-shot episodes,
pattern completion from partial cues, and prioritized replay.

In complementary learning systems (McClelland, McNaughton & O'Reilly
1995) the memory graph is the slow neocortex, which learns associations
over many exposures; the hippocampus stores each episode at once, after
one exposure, and later replays it so that the neocortex can learn it
slowly. This module is that hippocampus. An episode is a set of co-active
memory nodes; what the hippocampus keeps is an index to them (Teyler &
DiScenna 1986), not their content::

    memory nodes  --fixed random code-->  EC  (ec_size units)
         ^                                 |  sparse fixed projection,
         |                                 v  k-winners-take-all
         |                                 DG  (dg_expansion * ec_size)
         |                                 |  the DG code is the CA3 code
         |                                 v
    readout: the stored episode  <------  CA3  recurrent Hebbian weights,
    whose code best matches               settled by k-WTA dynamics
    the settled state

- The entorhinal cortex (EC) gives each memory node ``node_code`` fixed
  random units; an episode's EC pattern adds its nodes' activations there.
- The dentate gyrus (DG), ten times wider and about 3% active, separates
  patterns: episodes that share most of their nodes get codes that share
  much less. With ``separation=False`` the EC pattern itself, cut to the
  same sparsity, goes to CA3, for comparison.
- CA3 stores each code at once with an outer product (covariance, or
  plain Hebbian) and completes a partial code by recurrent dynamics; its
  weights are never held as a matrix but computed from the stored codes.
- Replay samples episodes in proportion to how badly CA3 predicted them
  (Schaul et al. 2016) and plays their nodes back compressed in time, as
  sharp-wave ripples do (Nadasdy et al. 1999).

Everything is drawn from ``HippocampusConfig.seed``: a node's EC code
depends on the seed and the node id only, so it is computed when needed,
for graphs of any size. See ``docs/hippocampus.md`` for the equations and
the measured curves.
"""

import dataclasses
import math
from collections.abc import Mapping
from numbers import Integral

import numpy as np

from .config import _check_int, _check_real
from .errors import ConfigError, CueError, EngramError, UnknownNodeError
from .models import hippocampus_kernels as kernels

__all__ = [
    "Completion",
    "Episode",
    "EpisodeIndexError",
    "Hippocampus",
    "HippocampusConfig",
    "HippocampusError",
]

#: Spacing of an episode's nodes when no times are given, and the length of
#: one wave of the pulse model: a gamma cycle at 40 Hz.
GAMMA_CYCLE_MS = 25.0

#: Node ids are int32 throughout the library.
MAX_NODES = 2**31 - 1

# Independent random streams drawn from the seed, one per use: changing how
# one of them is drawn leaves the others as they were.
_STREAM_NODE_CODE = 1
_STREAM_DENTATE = 2
_STREAM_TIES = 3
_STREAM_REPLAY = 4
_STREAM_CUE = 5

#: Node codes kept after they are drawn (each costs about 40 us to draw);
#: the cache is emptied when full, so it never grows with the graph.
_NODE_CODE_CACHE = 1 << 16

#: The learning rules CA3 may use (see ``HippocampusConfig.ca3_rule``).
CA3_RULES = ("covariance", "hebbian")


class HippocampusError(EngramError, ValueError):
    """The hippocampus cannot do what was asked (nothing stored, a bad
    count or priority)."""


class EpisodeIndexError(HippocampusError, IndexError):
    """An episode index is not one of the stored episodes."""


@dataclasses.dataclass(frozen=True)
class HippocampusConfig:
    """Parameters of the hippocampal pathway.

    Every field is checked when the config is made; a bad value raises
    :class:`~engram_actors.errors.ConfigError` naming the field and its
    allowed range. ``docs/hippocampus.md`` gives the equations.

    Parameters
    ----------
    ec_size : int, in [64, 65536]
        Entorhinal units. 2048 keep a node's code nearly orthogonal to any
        other's (two nodes share a unit with probability about 3%) while
        the dentate projection stays at 5 MB.
    node_code : int, in [1, ec_size]
        Entorhinal units each memory node activates: 8 of 2048 lets an
        episode of ten nodes activate about 4% of the layer, which is
        about how sparse entorhinal input is.
    dg_expansion : int, in [1, 32]
        Dentate units per entorhinal unit. Granule cells outnumber their
        entorhinal inputs about ten to one in the rat.
    dg_fan_in : int, in [1, ec_size]
        Entorhinal inputs of each dentate unit, with fixed random weights
        in (0, 1]. With 32, an episode of ten nodes reaches a dentate unit
        through 1.3 active inputs on average, so that the winners are the
        units where several inputs coincide: the coincidence detection
        that separates patterns.
    dg_active : float, in [0.02, 0.05]
        Share of dentate (or, without separation, entorhinal) units that
        win the k-winners-take-all: granule cells fire sparsely, 2 to 5%
        of them in an environment.
    ca3_learning_rate : float, in [0.1, 0.5]
        Hebbian rate of the one-shot storage. The k-WTA dynamics only
        compare drives, so the rate scales the weights without changing
        what is recalled; 0.3 is the middle of the range.
    ca3_iterations : int, in [1, 1000]
        Steps of the recurrent dynamics at most. They settle in two to four
        steps at the loads measured; ten is a bound, not a cost.
    separation : bool
        False: CA3 stores the k-WTA of the entorhinal pattern itself, with
        no dentate gyrus, to measure what separation is worth.
    ca3_rule : {"covariance", "hebbian"}
        How one-shot storage changes the CA3 weights. "hebbian" adds
        ``lr * x x^T`` for a code ``x``. "covariance" (the default) adds the
        same outer product of the code less the mean of the stored codes:
        the Hebbian weights, less an inhibition that grows with how much
        the state overlaps the stored codes on average. Without it, units
        that belong to many codes win whatever the cue, and recall fails
        at a tenth of the load (``docs/hippocampus.md`` has both curves).
    replay_alpha : float, in [0, 1]
        Prioritization exponent: 0 samples uniformly, 1 in proportion to
        the priorities. 0.6 is the value of Schaul et al. (2016).
    replay_beta : float, in [0, 1]
        Importance-sampling exponent: 1 corrects fully for the bias of
        prioritized sampling. 0.4 is Schaul et al.'s starting value.
    priority_epsilon : float, in (0, 1]
        Added to every prediction error, so that an episode CA3 recalls
        perfectly is still replayed now and then.
    compression : float, in [10, 20]
        Speed-up of replay over the experience: sharp-wave ripples replay
        sequences 10 to 20 times faster than they were lived.
    recall_threshold : float, in [0, 1]
        Least match between the settled state and a stored code for a
        completion to count as recall of that episode. Unrelated codes
        match at about ``dg_active``; 0.5 asks for most of the code.
    seed : int, in [0, 2**63 - 1]
        Seed of every random choice: node codes, the dentate projection,
        tie-breaking, default replay and cue streams.

    Examples
    --------
    >>> config = HippocampusConfig(ec_size=256, seed=7)
    >>> config.dg_width, config.ca3_width, config.winners
    (2560, 2560, 77)
    >>> HippocampusConfig(dg_active=0.5)
    Traceback (most recent call last):
    ...
    engram_actors.errors.ConfigError: dg_active is 0.5; allowed range is [0.02, 0.05]
    """

    ec_size: int = 2048
    node_code: int = 8
    dg_expansion: int = 10
    dg_fan_in: int = 32
    dg_active: float = 0.03
    ca3_learning_rate: float = 0.3
    ca3_iterations: int = 10
    separation: bool = True
    ca3_rule: str = "covariance"
    replay_alpha: float = 0.6
    replay_beta: float = 0.4
    priority_epsilon: float = 0.01
    compression: float = 15.0
    recall_threshold: float = 0.5
    seed: int = 0

    def __post_init__(self):
        ec_size = _check_int("ec_size", self.ec_size, 64, 65536)
        checked = {
            "ec_size": ec_size,
            "node_code": _check_int("node_code", self.node_code, 1, ec_size),
            "dg_expansion": _check_int("dg_expansion", self.dg_expansion, 1, 32),
            "dg_fan_in": _check_int("dg_fan_in", self.dg_fan_in, 1, ec_size),
            "dg_active": _check_real("dg_active", self.dg_active, 0.02, 0.05),
            "ca3_learning_rate": _check_real(
                "ca3_learning_rate", self.ca3_learning_rate, 0.1, 0.5
            ),
            "ca3_iterations": _check_int(
                "ca3_iterations", self.ca3_iterations, 1, 1000
            ),
            "replay_alpha": _check_real("replay_alpha", self.replay_alpha, 0, 1),
            "replay_beta": _check_real("replay_beta", self.replay_beta, 0, 1),
            "priority_epsilon": _check_real(
                "priority_epsilon", self.priority_epsilon, 0, 1, low_open=True
            ),
            "compression": _check_real("compression", self.compression, 10, 20),
            "recall_threshold": _check_real(
                "recall_threshold", self.recall_threshold, 0, 1
            ),
            "seed": _check_int("seed", self.seed, 0, 2**63 - 1),
        }
        if self.ca3_rule not in CA3_RULES:
            raise ConfigError(
                f"ca3_rule is {self.ca3_rule!r}; allowed values are "
                f"{', '.join(map(repr, CA3_RULES))}"
            )
        if not isinstance(self.separation, bool):
            raise ConfigError(
                f"separation must be True or False, got {self.separation!r}"
            )
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    @property
    def dg_width(self):
        """Dentate units: ``dg_expansion * ec_size``."""
        return self.dg_expansion * self.ec_size

    @property
    def ca3_width(self):
        """Units of the CA3 code: the dentate width, or the entorhinal
        width without separation."""
        return self.dg_width if self.separation else self.ec_size

    @property
    def winners(self):
        """Active units of a full code: ``round(dg_active * ca3_width)``."""
        return max(1, round(self.dg_active * self.ca3_width))

    def replace(self, **changes):
        """A copy with some fields changed (and checked again)."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ConfigError(
                f"unknown HippocampusConfig field(s): {', '.join(sorted(unknown))}"
            )
        return dataclasses.replace(self, **changes)


class Episode:
    """An episode: memory nodes that were active together, with when and
    how strongly.

    Parameters
    ----------
    nodes : mapping or array_like of int
        A mapping ``{node: activation}`` (then ``activation`` must be None),
        or node ids, distinct and >= 0.
    activation : array_like of float, optional
        Activation of each node, aligned with ``nodes``: finite and > 0.
        Default 1 for every node.
    times_ms : array_like of float, optional
        When each node was active within the episode, in ms from its
        start: finite and >= 0. Default: the nodes in the order given,
        25 ms (a gamma cycle) apart.
    duration_ms : float, optional
        Length of the episode, at least its last time and > 0. Default: the
        last time plus 25 ms.

    Attributes
    ----------
    nodes : ndarray of int32
        Node ids, ascending (read-only, as are the arrays below).
    activation : ndarray of float32
    times_ms : ndarray of float32
    duration_ms : float

    Raises
    ------
    CueError
        No nodes, a node given twice, arrays of different lengths, an
        activation that is not finite and > 0, or a bad time or duration.
    UnknownNodeError
        A negative node id, or one beyond int32.

    Examples
    --------
    >>> episode = Episode({7: 1.0, 3: 0.5})
    >>> episode.nodes.tolist(), episode.activation.tolist()
    ([3, 7], [0.5, 1.0])
    >>> episode.times_ms.tolist(), episode.duration_ms
    ([25.0, 0.0], 50.0)
    >>> Episode([1, 2, 1])
    Traceback (most recent call last):
    ...
    engram_actors.errors.CueError: node 1 is given twice; nodes must be distinct
    """

    __slots__ = ("nodes", "activation", "times_ms", "duration_ms")

    def __init__(self, nodes, activation=None, times_ms=None, duration_ms=None):
        if isinstance(nodes, Mapping):
            if activation is not None:
                raise CueError(
                    "an episode given as a mapping {node: activation} takes no "
                    "separate activation"
                )
            activation = list(nodes.values())
            nodes = list(nodes.keys())
        ids = _node_array(nodes, "an episode")
        count = ids.size
        values = _aligned(activation, count, "activation", default=1.0)
        times = _aligned(times_ms, count, "times_ms", default=None)
        if times is None:
            times = GAMMA_CYCLE_MS * np.arange(count, dtype=np.float64)
        _check_positive(values, ids, "activation")
        bad_time = ~(np.isfinite(times) & (times >= 0))
        if bad_time.any():
            at = int(np.flatnonzero(bad_time)[0])
            raise CueError(
                f"times_ms of node {ids[at]} is {times[at]}; times must be "
                "finite and >= 0 ms"
            )

        order = np.argsort(ids, kind="stable")
        ids, values, times = ids[order], values[order], times[order]
        repeated = np.flatnonzero(ids[1:] == ids[:-1])
        if repeated.size:
            raise CueError(
                f"node {ids[repeated[0]]} is given twice; nodes must be distinct"
            )
        last = float(times.max())
        if duration_ms is None:
            duration_ms = last + GAMMA_CYCLE_MS
        duration = _as_real(duration_ms, "duration_ms")
        if not (math.isfinite(duration) and duration > 0 and duration >= last):
            raise CueError(
                f"duration_ms is {duration}; it must be finite, > 0 and at "
                f"least the last time, {last} ms"
            )

        self.nodes = ids.astype(np.int32)
        self.activation = values.astype(np.float32)
        self.times_ms = times.astype(np.float32)
        self.duration_ms = duration
        for array in (self.nodes, self.activation, self.times_ms):
            array.setflags(write=False)

    @classmethod
    def from_result(cls, result, k=None, min_activation=0.0):
        """The episode a spread lit up: its nodes above ``min_activation``.

        Parameters
        ----------
        result : SpreadResult or NeuralResult
        k : int, optional
            Keep only the ``k`` most active (ties by id ascending).
        min_activation : float, default 0
            Keep nodes whose activation is above this.

        Returns
        -------
        Episode
            Times are when each node became active: for a neural spread its
            first spike, or the start of the gamma cycle that first drove
            it if it never fired; for a pulse spread the wave that first
            reached it, a wave being taken as a gamma cycle (25 ms).

        Raises
        ------
        CueError
            When no node is above ``min_activation``.

        Examples
        --------
        >>> import engram_actors as ea
        >>> graph = ea.Graph.from_edges(
        ...     src=[0, 0, 1, 2], dst=[1, 2, 3, 3], weight=[0.9, 0.4, 0.8, 0.5]
        ... )
        >>> result = ea.reference.spread(graph, {0: 1.0}, decay=0.8, max_hops=3)
        >>> episode = Episode.from_result(result, k=3)
        >>> episode.nodes.tolist(), episode.times_ms.tolist()
        ([0, 1, 3], [0.0, 25.0, 50.0])
        """
        if k is not None and (
            isinstance(k, bool) or not isinstance(k, Integral) or k < 1
        ):
            raise CueError(f"k must be an integer >= 1 or None, got {k!r}")
        threshold = _as_real(min_activation, "min_activation")
        if not math.isfinite(threshold):
            raise CueError(f"min_activation is {threshold}; it must be finite")
        keep = np.flatnonzero(np.asarray(result.activation) > threshold)
        if k is not None:
            order = np.lexsort((result.nodes[keep], -result.activation[keep]))
            keep = np.sort(keep[order[:k]])
        if keep.size == 0:
            raise CueError(
                f"no node of the result has activation above {threshold}; an "
                "episode needs at least one node"
            )
        times = result.first_hop[keep].astype(np.float64) * GAMMA_CYCLE_MS
        first_spike = getattr(result, "first_spike_ms", None)
        if first_spike is not None:
            cycle_start = np.asarray(result.trace.get("time_ms", []), np.float64)
            hops = result.first_hop[keep]
            if cycle_start.size > int(hops.max()):
                times = cycle_start[hops]
            spiked = np.isfinite(first_spike[keep])
            times[spiked] = first_spike[keep][spiked]
        return cls(result.nodes[keep], result.activation[keep], times)

    def __len__(self):
        return self.nodes.size

    def __repr__(self):
        return (
            f"<Episode {len(self)} nodes over {self.duration_ms:g} ms: "
            f"{self.nodes[:8].tolist()}{' ...' if len(self) > 8 else ''}>"
        )

    def __eq__(self, other):
        if not isinstance(other, Episode):
            return NotImplemented
        return (
            np.array_equal(self.nodes, other.nodes)
            and np.array_equal(self.activation, other.activation)
            and np.array_equal(self.times_ms, other.times_ms)
            and self.duration_ms == other.duration_ms
        )

    __hash__ = None

    def copy(self):
        """An independent copy."""
        return Episode(
            self.nodes.copy(),
            self.activation.copy(),
            self.times_ms.copy(),
            self.duration_ms,
        )


@dataclasses.dataclass(frozen=True)
class Completion:
    """What CA3 recalled from a cue.

    Attributes
    ----------
    index : int
        The stored episode recalled, or -1 when the best match is below
        ``recall_threshold`` (or nothing is stored).
    match : float
        Overlap of the settled state with the best-matching stored code,
        ``|s & x| / sqrt(|s| |x|)``, in [0, 1], reported even below the
        threshold.
    cue_match : float
        Overlap of the cue's own code (the state the dynamics started from)
        with that stored code. The dynamics fall into some stored code from
        almost any start, so ``match`` is high even for a cue of unrelated
        nodes; ``cue_match`` is how much the cue itself pointed there.
        Unrelated codes overlap at about ``dg_active``.
    episode : Episode or None
        The recalled episode: the memory nodes the index points to.
    state : ndarray of int32
        The settled CA3 code, ascending.
    steps : int
        Steps of the recurrent dynamics run.
    """

    index: int
    match: float
    cue_match: float
    episode: Episode | None
    state: np.ndarray
    steps: int


class Hippocampus:
    """One-shot episodic storage, completion and prioritized replay beside
    a memory graph of ``num_nodes`` nodes.

    Parameters
    ----------
    num_nodes : int, in [1, 2**31 - 1]
        Nodes of the memory graph; episodes and cues name nodes below it.
    config : HippocampusConfig, optional

    Attributes
    ----------
    num_nodes : int
    config : HippocampusConfig
    episodes : list of Episode
        The stored episodes, by index (copies of what was encoded).
    priorities : ndarray of float64
        Each episode's replay priority ``p_i = delta_i + priority_epsilon``,
        ``delta_i`` its last prediction error (read-only copy).

    Notes
    -----
    With ``x_e`` the ``E`` stored binary codes (``k`` units of ``D``
    active), ``m = sum_e x_e / E`` their mean and ``lr`` the learning rate,
    CA3's weights are, without the diagonal,

    - ``W = lr * sum_e (x_e - m)(x_e - m)^T`` (``ca3_rule="covariance"``),
    - ``W = lr * sum_e x_e x_e^T`` (``ca3_rule="hebbian"``),

    and one step of the dynamics is ``s <- kWTA(W s)``. With a single
    stored code the covariance weights vanish (the code is its own mean),
    so CA3 uses the Hebbian weights until a second episode is stored. With the overlaps
    ``o_e = x_e . s`` and their mean ``o_bar``, ``W s`` is
    ``lr * sum_e x_e (o_e - o_bar)`` (covariance) or
    ``lr * sum_e x_e o_e`` (Hebbian), less the diagonal: it is computed from
    the codes, so memory grows as ``E * k``, never as ``D * D``.

    Examples
    --------
    >>> hippocampus = Hippocampus(1000, HippocampusConfig(ec_size=256))
    >>> first = hippocampus.encode(Episode(range(0, 10)))
    >>> second = hippocampus.encode(Episode(range(500, 510)))
    >>> recalled = hippocampus.complete([501, 504, 508])
    >>> recalled.index, recalled.match > 0.9, recalled.episode.nodes[:4].tolist()
    (1, True, [500, 501, 502, 503])
    >>> hippocampus.priorities.round(2).tolist()   # both novel when stored
    [1.01, 0.91]
    >>> nodes, times = hippocampus.replay_schedule(0)
    >>> times[:3].tolist(), round(hippocampus.replay_factor(0), 9)
    ([0.0, 1.6666666269302368, 3.3333332538604736], 15.0)
    """

    def __init__(self, num_nodes, config=None):
        if isinstance(num_nodes, bool) or not isinstance(num_nodes, Integral):
            raise ConfigError(f"num_nodes must be an integer, got {num_nodes!r}")
        if not 1 <= num_nodes <= MAX_NODES:
            raise ConfigError(
                f"num_nodes is {num_nodes}; allowed range is [1, {MAX_NODES}]"
            )
        if config is None:
            config = HippocampusConfig()
        if not isinstance(config, HippocampusConfig):
            raise ConfigError(
                f"config must be a HippocampusConfig, got {type(config).__name__}"
            )
        self.num_nodes = int(num_nodes)
        self.config = config
        self.episodes = []

        # The dentate projection by entorhinal unit (CSR): unit u drives
        # dentate units _dg_targets[_dg_ptr[u]:_dg_ptr[u + 1]] with the
        # weights beside them. Drawn once; never changes.
        self._dg_ptr, self._dg_targets, self._dg_weights = self._draw_dentate()
        # A fixed random rank per CA3 unit, to break ties in k-WTA.
        ties = self._generator(_STREAM_TIES)
        self._rank = ties.permutation(config.ca3_width).astype(np.int64)
        # The stored CA3 codes, one row per episode, ascending, padded with
        # the unit ca3_width (a sink no state holds); rows past len(self)
        # are spare capacity. The weights are computed from them.
        self._codes = np.full((16, config.winners), config.ca3_width, np.int32)
        # The same codes by unit: unit i belongs to the codes
        # _members[i, :_unit_count[i]], ascending. Columns past the largest
        # count are spare capacity, doubled when a unit fills its row.
        self._members = np.zeros((config.ca3_width, 8), np.int32)
        self._unit_count = np.zeros(config.ca3_width, np.int32)
        # Active units of each code, and each episode's last prediction
        # error; entries past len(self) are spare capacity.
        self._lengths = np.zeros(16, np.int64)
        self._errors = np.zeros(16, np.float64)
        self._node_codes = {}
        self._replay_rng = self._generator(_STREAM_REPLAY)

    def __len__(self):
        return len(self.episodes)

    def __repr__(self):
        return (
            f"<Hippocampus {len(self)} episodes, CA3 {self.config.ca3_width} "
            f"units ({self.config.winners} active), "
            f"separation {'on' if self.config.separation else 'off'}>"
        )

    @property
    def priorities(self):
        priorities = self._errors[: len(self)] + self.config.priority_epsilon
        priorities.setflags(write=False)
        return priorities

    # -- codes ---------------------------------------------------------------

    def node_units(self, node):
        """The entorhinal units of one memory node, ascending.

        They depend on the seed and the node id only.

        Examples
        --------
        >>> small = Hippocampus(10, HippocampusConfig(ec_size=256))
        >>> large = Hippocampus(10**7, HippocampusConfig(ec_size=256))
        >>> bool((small.node_units(5) == large.node_units(5)).all())
        True
        """
        node = int(self._check_nodes(np.array([node]), "node")[0])
        units = self._node_codes.get(node)
        if units is None:
            if len(self._node_codes) >= _NODE_CODE_CACHE:
                self._node_codes.clear()
            rng = self._generator(_STREAM_NODE_CODE, node)
            units = rng.choice(self.config.ec_size, self.config.node_code, False)
            units = np.sort(units).astype(np.int32)
            units.setflags(write=False)
            self._node_codes[node] = units
        return units

    def ec_code(self, nodes, activation=None):
        """The entorhinal pattern of co-active nodes.

        Each node adds its activation to each of its ``node_code`` units;
        a node given twice adds twice.

        Parameters
        ----------
        nodes : array_like of int
        activation : array_like of float, optional
            Finite and > 0, aligned with ``nodes``; default 1.

        Returns
        -------
        ndarray of float32, shape (ec_size,)

        Raises
        ------
        UnknownNodeError
            For a node id outside ``[0, num_nodes)``.
        CueError
            For no nodes, or a bad activation.
        """
        ids = self._check_nodes(_node_array(nodes, "a cue"), "node")
        values = _aligned(activation, ids.size, "activation", default=1.0)
        _check_positive(values, ids, "activation")
        ec = np.zeros(self.config.ec_size, np.float64)
        for node, value in zip(ids.tolist(), values.tolist(), strict=True):
            ec[self.node_units(node)] += value
        return ec.astype(np.float32)

    def separate(self, ec):
        """The CA3 code of an entorhinal pattern: the winners of k-WTA.

        With separation, the pattern drives the dentate gyrus through the
        fixed sparse projection and the ``winners`` most driven dentate
        units make the code; without, the most active entorhinal units do.

        Parameters
        ----------
        ec : array_like of float, shape (ec_size,)
            Finite and >= 0.

        Returns
        -------
        ndarray of int32
            Active units, ascending: ``config.winners`` of them, fewer only
            when fewer units receive any input.
        """
        ec = np.asarray(ec, np.float64)
        if ec.shape != (self.config.ec_size,):
            raise CueError(
                f"an entorhinal pattern has shape ({self.config.ec_size},), "
                f"got {ec.shape}"
            )
        if not (np.isfinite(ec) & (ec >= 0)).all():
            raise CueError("entorhinal activity must be finite and >= 0")
        if not self.config.separation:
            return kernels.k_winners(ec, self.config.winners, self._rank)
        units = np.flatnonzero(ec).astype(np.int32)
        drive = kernels.dentate_drive(
            self._dg_ptr,
            self._dg_targets,
            self._dg_weights,
            units,
            ec[units],
            self.config.dg_width,
        )
        return kernels.k_winners(drive, self.config.winners, self._rank)

    def code(self, index):
        """The stored CA3 code of episode ``index`` (a copy)."""
        index = self._check_index(index)
        return self._codes[index, : self._lengths[index]].copy()

    # -- storage and recall ----------------------------------------------------

    def encode(self, episode):
        """Store an episode at once (one-shot Hebbian learning in CA3).

        Before storing, CA3 is asked to recall the episode from its own
        code; the episode's replay priority is its prediction error,
        ``1 - match`` of what came back: about 1 for a novel episode, 0 for
        one already stored.

        Parameters
        ----------
        episode : Episode

        Returns
        -------
        int
            The episode's index.
        """
        if not isinstance(episode, Episode):
            raise CueError(f"encode takes an Episode, got {type(episode).__name__}")
        code = self.separate(self.ec_code(episode.nodes, episode.activation))
        state, _, _ = self._settle(code)
        error = 1.0 - _cosine(state, code)

        index = len(self)
        self._grow(code)
        self._members[code, self._unit_count[code]] = index
        self._unit_count[code] += 1
        self._codes[index, : code.size] = code
        self._lengths[index] = code.size
        self._errors[index] = error
        self.episodes.append(episode.copy())
        return index

    def complete(self, cue_nodes, cue_activation=None):
        """Recall a stored episode from a partial cue (pattern completion).

        The cue's entorhinal pattern is separated into a CA3 code, the
        recurrent dynamics settle from it, and the readout names the stored
        episode whose code best matches the settled state: an index to the
        memory nodes that made the episode.

        Parameters
        ----------
        cue_nodes : array_like of int, or mapping {node: activation}
        cue_activation : array_like of float, optional
            Default 1 for every cue node.

        Returns
        -------
        Completion
        """
        if isinstance(cue_nodes, Mapping):
            if cue_activation is not None:
                raise CueError(
                    "a cue given as a mapping {node: activation} takes no "
                    "separate cue_activation"
                )
            cue_activation = list(cue_nodes.values())
            cue_nodes = list(cue_nodes.keys())
        start = self.separate(self.ec_code(cue_nodes, cue_activation))
        state, overlap, steps = self._settle(start)
        if overlap.size == 0 or state.size == 0:
            return Completion(-1, 0.0, 0.0, None, state, steps)
        scores = overlap / np.sqrt(self._lengths[: len(self)] * float(state.size))
        best = int(np.argmax(scores))
        match = float(scores[best])
        cue_match = _cosine(start, self.code(best))
        if match < self.config.recall_threshold:
            return Completion(-1, match, cue_match, None, state, steps)
        episode = self.episodes[best]
        return Completion(best, match, cue_match, episode, state, steps)

    def prediction_error(self, index, cue_fraction=0.3, rng=None):
        """How badly CA3 recalls episode ``index`` from part of it.

        A random ``cue_fraction`` of the episode's nodes (at least one) is
        the cue; the error is ``1 - match`` between the settled state and
        the episode's own code.

        Parameters
        ----------
        index : int
        cue_fraction : float, in (0, 1]
        rng : numpy.random.Generator or int, optional
            Chooses the cue nodes; by default a stream of the config's seed
            and the index, so the same call gives the same error.

        Returns
        -------
        float, in [0, 1]
        """
        index = self._check_index(index)
        fraction = _as_real(cue_fraction, "cue_fraction")
        if not 0 < fraction <= 1:
            raise CueError(f"cue_fraction is {fraction}; allowed range is (0, 1]")
        if rng is None:
            rng = self._generator(_STREAM_CUE, index)
        rng = np.random.default_rng(rng)
        episode = self.episodes[index]
        size = max(1, round(fraction * len(episode)))
        chosen = np.sort(rng.choice(len(episode), size, replace=False))
        start = self.separate(
            self.ec_code(episode.nodes[chosen], episode.activation[chosen])
        )
        state, _, _ = self._settle(start)
        return 1.0 - _cosine(state, self.code(index))

    # -- replay ----------------------------------------------------------------

    def sample_replays(self, count, rng=None):
        """Draw episodes to replay, in proportion to their priorities.

        Parameters
        ----------
        count : int, >= 0
            Draws, with replacement.
        rng : numpy.random.Generator or int, optional
            By default the hippocampus's own replay stream (seeded from the
            config), which advances with each call.

        Returns
        -------
        indices : ndarray of int64
        weights : ndarray of float64
            Importance-sampling weights ``(N P(i))^-beta``, divided by the
            largest weight any stored episode can have, so they lie in
            (0, 1] and only ever scale an update down.

        Notes
        -----
        ``P(i) = p_i^alpha / sum_j p_j^alpha`` (Schaul et al. 2016,
        proportional variant), ``p_i`` the priorities.

        Examples
        --------
        >>> hippocampus = Hippocampus(1000, HippocampusConfig(ec_size=256))
        >>> for start in (0, 100, 200):
        ...     index = hippocampus.encode(Episode(range(start, start + 10)))
        >>> hippocampus.update_priority(0, 0.0)  # replayed, now well known
        >>> hippocampus.priorities.round(3).tolist()
        [0.01, 0.971, 1.01]
        >>> hippocampus.replay_probabilities().round(3).tolist()
        [0.031, 0.479, 0.49]
        >>> indices, weights = hippocampus.sample_replays(8, rng=1)
        >>> indices.tolist()
        [2, 2, 1, 2, 1, 1, 2, 1]
        """
        if isinstance(count, bool) or not isinstance(count, Integral) or count < 0:
            raise HippocampusError(f"count must be an integer >= 0, got {count!r}")
        if not self.episodes:
            raise HippocampusError("no episodes stored; there is nothing to replay")
        rng = self._replay_rng if rng is None else np.random.default_rng(rng)
        probability = self.replay_probabilities()
        indices = rng.choice(len(self), size=int(count), p=probability)
        weights = self._importance_weights(probability)
        return indices.astype(np.int64), weights[indices]

    def replay_probabilities(self):
        """``P(i) = p_i^alpha / sum_j p_j^alpha`` for every stored episode."""
        powered = self.priorities**self.config.replay_alpha
        return powered / powered.sum()

    def _importance_weights(self, probability):
        weights = (len(self) * probability) ** -self.config.replay_beta
        return weights / weights.max()

    def update_priority(self, index, error):
        """Set episode ``index``'s prediction error after a replay.

        Parameters
        ----------
        index : int
        error : float
            Finite and >= 0; the priority becomes ``error + epsilon``.
        """
        index = self._check_index(index)
        value = _as_real(error, "error")
        if not (math.isfinite(value) and value >= 0):
            raise HippocampusError(
                f"error is {value}; a prediction error must be finite and >= 0"
            )
        self._errors[index] = value

    def replay_schedule(self, index):
        """The episode's nodes as a sharp-wave ripple replays them.

        Returns
        -------
        nodes : ndarray of int32
            The nodes in the order they were active (ties by id).
        times_ms : ndarray of float32
            Their times, divided by ``compression``.
        """
        episode = self.episodes[self._check_index(index)]
        order = np.lexsort((episode.nodes, episode.times_ms))
        times = episode.times_ms[order] / np.float32(self.config.compression)
        return episode.nodes[order], times.astype(np.float32)

    def replay_duration_ms(self, index):
        """How long the replay of episode ``index`` lasts, in ms."""
        episode = self.episodes[self._check_index(index)]
        return episode.duration_ms / self.config.compression

    def replay_factor(self, index):
        """Compression achieved: episode duration over replay duration."""
        episode = self.episodes[self._check_index(index)]
        return episode.duration_ms / self.replay_duration_ms(index)

    # -- internals -------------------------------------------------------------

    def _generator(self, stream, *key):
        sequence = np.random.SeedSequence(self.config.seed, spawn_key=(stream, *key))
        return np.random.Generator(np.random.PCG64(sequence))

    def _draw_dentate(self):
        config = self.config
        rng = self._generator(_STREAM_DENTATE)
        uniform = rng.random((config.dg_width, config.dg_fan_in))
        sources = kernels.draw_fan_in(uniform, config.ec_size)
        # Weights in (0, 1]: positive, and varied so that which units win
        # depends on more than how many of their inputs are active.
        weights = 1.0 - rng.random((config.dg_width, config.dg_fan_in))
        order = np.argsort(sources.ravel(), kind="stable")
        targets = (order // config.dg_fan_in).astype(np.int32)
        per_unit = np.bincount(sources.ravel(), minlength=config.ec_size)
        ptr = np.concatenate(([0], np.cumsum(per_unit))).astype(np.int64)
        return ptr, targets, weights.ravel()[order]

    def _settle(self, start):
        return kernels.settle(
            self._codes[: len(self)],
            self._members,
            self._unit_count,
            start.astype(np.int32),
            self.config.winners,
            self._rank,
            self.config.ca3_iterations,
            # One stored code is its own mean: its covariance weights are
            # all zero, and CA3 falls back on the Hebbian weights.
            self.config.ca3_rule == "covariance" and len(self) >= 2,
        )

    def _grow(self, code):
        """Make room for one more episode with the given code."""
        if len(self) == self._lengths.size:
            capacity = 2 * self._lengths.size
            codes = np.full(
                (capacity, self.config.winners), self.config.ca3_width, np.int32
            )
            codes[: len(self)] = self._codes
            self._codes = codes
            self._lengths = np.resize(self._lengths, capacity)
            self._errors = np.resize(self._errors, capacity)
        if code.size and self._unit_count[code].max() == self._members.shape[1]:
            members = np.zeros(
                (self.config.ca3_width, 2 * self._members.shape[1]), np.int32
            )
            members[:, : self._members.shape[1]] = self._members
            self._members = members

    def _check_nodes(self, ids, what):
        outside = (ids < 0) | (ids >= self.num_nodes)
        if outside.any():
            at = int(np.flatnonzero(outside)[0])
            raise UnknownNodeError(
                f"unknown {what} id {ids[at]}: ids are in [0, {self.num_nodes})"
            )
        return ids

    def _check_index(self, index):
        if isinstance(index, bool) or not isinstance(index, Integral):
            raise EpisodeIndexError(f"an episode index is an integer, got {index!r}")
        if not 0 <= index < len(self):
            raise EpisodeIndexError(
                f"episode index {index} is out of range; {len(self)} episodes "
                "are stored"
            )
        return int(index)


def _cosine(state, code):
    """``|s & x| / sqrt(|s| |x|)`` for two ascending unit arrays."""
    if state.size == 0 or code.size == 0:
        return 0.0
    shared = np.intersect1d(state, code, assume_unique=True).size
    return shared / math.sqrt(state.size * code.size)


def _node_array(nodes, what):
    try:
        ids = np.asarray(nodes)
    except (TypeError, ValueError) as error:
        raise CueError(f"node ids of {what} must be integers: {error}") from None
    if ids.ndim != 1:
        raise CueError(f"node ids of {what} must be a flat sequence, got {nodes!r}")
    if ids.size == 0:
        raise CueError(f"{what} needs at least one node; none given")
    whole = ids.dtype.kind == "f" and bool(np.all(ids == np.round(ids)))
    if ids.dtype.kind not in "iu" and not whole:
        raise CueError(f"node ids of {what} must be integers, got {ids.dtype} values")
    ids = ids.astype(np.int64)
    outside = (ids < 0) | (ids > MAX_NODES)
    if outside.any():
        at = int(np.flatnonzero(outside)[0])
        raise UnknownNodeError(
            f"unknown node id {ids[at]}: node ids are in [0, {MAX_NODES}]"
        )
    return ids


def _aligned(values, count, name, default):
    if values is None:
        return None if default is None else np.full(count, default, np.float64)
    try:
        array = np.asarray(values, np.float64)
    except (TypeError, ValueError) as error:
        raise CueError(f"{name} must be numbers: {error}") from None
    if array.ndim == 0:
        array = np.full(count, float(array))
    if array.shape != (count,):
        raise CueError(
            f"{name} has {array.size} values for {count} nodes; they must align"
        )
    return array


def _check_positive(values, ids, name):
    # Checked as float32, which is how they are kept: 1e39 overflows and
    # 1e-50 rounds to 0 there.
    with np.errstate(over="ignore", under="ignore"):
        kept = values.astype(np.float32)
    bad = ~(np.isfinite(kept) & (kept > 0))
    if bad.any():
        at = int(np.flatnonzero(bad)[0])
        raise CueError(
            f"{name} of node {ids[at]} is {values[at]}; it must be finite and > 0"
        )


def _as_real(value, name):
    if isinstance(value, bool):
        raise CueError(f"{name} must be a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise CueError(f"{name} must be a number, got {value!r}") from None
