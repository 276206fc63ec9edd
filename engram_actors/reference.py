"""The sequential reference implementation of spreading activation.

This is the oracle: single-threaded, with every sum in the order the model
defines (``docs/model.md``), so that the parallel engine's deterministic
mode can be checked against it bit for bit. The per-wave steps are the
compiled kernels of :mod:`engram_actors.models.pulse`; this module only
checks the input, keeps a scratch workspace per graph, and packs the result.
"""

import threading
import time
import warnings
import weakref

import numpy as np

from . import neural_model
from .config import NeuralConfig, SpreadConfig
from .cues import resolve_cues
from .errors import GraphError
from .models import neural, pulse
from .result import SpreadResult, SpreadStats

__all__ = ["spread", "spread_neural"]


class _Workspace:
    """Per-node scratch arrays, clear between spreads.

    Allocating and zeroing arrays the size of the graph on every spread
    would make a spread that touches a thousand nodes pay for a million.
    Instead each graph keeps one workspace; a spread leaves it clear by
    resetting only the entries it touched.
    """

    def __init__(self, num_nodes):
        # Activation received in the current wave, per node.
        self.acc = np.zeros(num_nodes, np.float32)
        # What each node emits in a dense wave (zero outside one).
        self.out = np.zeros(num_nodes, np.float32)
        # Total, first reach and last firing, per node.
        self.state = pulse.new_node_state(num_nodes)
        # Lists of node ids: touched, the frontier and its emitted values,
        # and the nodes reached in the current wave.
        self.touched = np.empty(num_nodes, np.uint32)
        self.frontier = np.empty(num_nodes, np.uint32)
        self.frontier_out = np.empty(num_nodes, np.float32)
        self.reached = np.empty(num_nodes, np.uint32)
        self.scratch = np.empty(num_nodes, np.uint32)
        self.lock = threading.Lock()
        # The neural model's records, made on its first spread.
        self.nstate = None
        self.listed = None

    def neural_arrays(self):
        """The neural model's per-node records and push flags, clear."""
        if self.nstate is None:
            self.nstate = neural.new_neural_state(self.acc.shape[0])
            self.listed = np.zeros(self.acc.shape[0], np.uint8)
        return self.nstate, self.listed


# One workspace per live graph; it goes when the graph does.
_workspaces = weakref.WeakKeyDictionary()
_workspaces_lock = threading.Lock()


def _workspace_for(graph):
    with _workspaces_lock:
        workspace = _workspaces.get(graph)
        if workspace is None:
            workspace = _workspaces[graph] = _Workspace(graph.num_nodes)
    return workspace


def spread(graph, cues, config=None, **overrides):
    """Spread activation from cues through a memory graph, sequentially.

    Parameters
    ----------
    graph : Graph
    cues : mapping or (ids, activation) pair
        Node id or label to initial activation (see
        :func:`engram_actors.cues.resolve_cues`).
    config : SpreadConfig or dict, optional
        Model parameters; fields may also be given as keyword arguments.

    Returns
    -------
    SpreadResult

    Raises
    ------
    UnknownNodeError, CueError, ConfigError
        Before any state is touched.

    Notes
    -----
    The pulse model, with cue activation :math:`x_0` and waves
    :math:`p = 1 .. P`:

    .. math::

        F_{p-1} = \\{u : x_{p-1}(u) > 0,\\ x_{p-1}(u) \\ge \\theta,\\
                  u \\text{ not refractory}\\}

        x_p(v) = \\sum_{u \\in F_{p-1},\\ u \\to v} d\\, x_{p-1}(u)\\,
                 w(u, v)\\, n(u)

        a(v) = \\min\\Big(\\sum_{p=0}^{P} x_p(v),\\ a_{max}\\Big)

    with decay :math:`d`, threshold :math:`\\theta`, and :math:`n(u)` 1 or
    :math:`1/\\deg^+(u)` under fan normalisation.

    Examples
    --------
    >>> from engram_actors import Graph
    >>> g = Graph.from_edges([0, 1], [1, 2], [1.0, 0.5],
    ...                      labels=["coffee", "cafe", "first date"])
    >>> r = spread(g, {"coffee": 1.0}, decay=0.5, threshold=0.0)
    >>> r.top(3)
    [('coffee', 1.0), ('cafe', 0.5), ('first date', 0.125)]
    """
    started = time.perf_counter()
    if isinstance(config, NeuralConfig):
        config = config.replace(**overrides) if overrides else config
        cue_ids, cue_x = resolve_cues(graph, cues)
        return run_neural(graph, cue_ids, cue_x, config, started=started)
    config = SpreadConfig.coerce(config, **overrides)
    check_pulse_weights(graph)
    cue_ids, cue_x = resolve_cues(graph, cues)
    return run_resolved(graph, cue_ids, cue_x, config, started=started)


def check_pulse_weights(graph):
    """Refuse a graph with inhibitory weights for the pulse model, whose
    waves pass on only positive activation."""
    if graph.has_negative_weights:
        raise GraphError(
            "the pulse model needs association weights >= 0, and this graph "
            "has negative (inhibitory) weights; spread it with the neural "
            "model (a NeuralConfig)"
        )


def spread_neural(graph, cues, config=None, *, record_spikes=False, **overrides):
    """Spread with the neural model, sequentially: the oracle of the
    engine's neural spreads.

    Parameters
    ----------
    graph : Graph
        Negative weights (a signed graph) inhibit.
    cues : mapping or (ids, activation) pair
        Each cue is driven in cycle 0 by its activation times the
        synaptic gain.
    config : NeuralConfig or dict, optional
        Fields may also be given as keyword arguments.
    record_spikes : bool or int
        Record every spike in ``result.spike_raster``; an int caps how many
        are kept (True keeps up to ten million). Recording runs the
        node-by-node kernel, which gives the same numbers more slowly.

    Returns
    -------
    NeuralResult

    Notes
    -----
    In gamma cycle :math:`c`, node :math:`v` receives the constant drive

    .. math::

        I_c(v) = \\sum_{u \\to v} g_c\\, o_{c-1}(u)\\, w(u, v)

    where :math:`o_{c-1}(u)` is the sum of :math:`u`'s synaptic resources
    at each of its spikes in cycle :math:`c - 1` and :math:`g_c` the
    synaptic gain under the theta gate, and integrates, with the membrane
    potential :math:`V` relative to rest,

    .. math::

        \\tau_m \\frac{dV}{dt} = -V + I_c(v)

    exactly over each step of ``dt_ms``, firing and resetting when it
    reaches the threshold outside its refractory period. See
    ``docs/model.md`` for fatigue, gating and working memory.

    Examples
    --------
    >>> from engram_actors import Graph
    >>> g = Graph.from_edges([0, 1], [1, 2], [1.0, 1.0],
    ...                      labels=["coffee", "cafe", "first date"])
    >>> r = spread_neural(g, {"coffee": 1.0})
    >>> r.spikes.tolist(), r.first_spike_ms.tolist()
    ([1, 1, 0], [14.0, 42.0, nan])
    >>> [label for label, level in r.working_memory.items()]
    ['cafe', 'coffee']
    """
    started = time.perf_counter()
    config = NeuralConfig.coerce(config, **overrides)
    cue_ids, cue_x = resolve_cues(graph, cues)
    return run_neural(
        graph, cue_ids, cue_x, config, started=started, record_spikes=record_spikes
    )


#: Spikes ``record_spikes=True`` keeps at most (16 bytes each).
RASTER_MAX = 10_000_000


def run_neural(graph, cue_ids, cue_x, config, *, dense_edges=None, started=None,
               record_spikes=False):  # fmt: skip
    """A neural spread from checked cues; see :func:`spread_neural`.
    ``dense_edges`` as for :func:`run_resolved`."""
    if started is None:
        started = time.perf_counter()
    if dense_edges is None:
        dense_edges = pulse.default_dense_edges(graph.num_nodes)
    if record_spikes is True:
        record_spikes = RASTER_MAX
    capacity = int(record_spikes) if record_spikes else 0
    spike_ids = np.empty(capacity, np.uint32)
    spike_steps = np.empty(capacity, np.int64)
    logs = neural_model.NeuralLogs()
    wave_log = np.zeros((config.max_cycles + 2, 2), np.int64)
    dynamics = neural_model.dynamics_of(config)

    workspace = _workspace_for(graph)
    if not workspace.lock.acquire(blocking=False):
        workspace = _Workspace(graph.num_nodes)
        workspace.lock.acquire()
    try:
        nstate, listed = workspace.neural_arrays()
        indptr, indices, weights = graph.kernel_arrays()
        _, next_cycle, _, _, n_touched, n_spikes = neural.run_cycles(
            indptr, indices, weights, cue_ids.view(np.uint32), cue_x,
            config.max_cycles, dynamics, neural_model.gains_of(config),
            workspace.acc, workspace.out, workspace.state, nstate, listed,
            workspace.touched, workspace.frontier, workspace.frontier_out,
            workspace.reached, workspace.scratch, neural.new_block(),
            logs.cycle_log, logs.wm_ids, logs.wm_out, logs.wm_count, wave_log,
            dense_edges, 2**62, capacity > 0, spike_ids, spike_steps,
        )  # fmt: skip
        cycles = int(next_cycle) - 1
        nodes = pulse.touched_ascending(
            workspace.state, workspace.touched, n_touched, workspace.scratch
        ).view(np.int32)
        raw = neural_model.empty_raw(nodes)
        neural.gather_and_clear(
            nodes, workspace.state, nstate, (cycles + 1) * config.steps_per_cycle,
            dynamics, *raw[1:],
        )  # fmt: skip
    finally:
        workspace.lock.release()

    raster = None
    if capacity:
        if n_spikes > capacity:
            warnings.warn(
                f"the spread fired {n_spikes} spikes; the raster keeps the "
                f"first {capacity}",
                stacklevel=3,
            )
        kept = min(int(n_spikes), capacity)
        order = np.lexsort((spike_ids[:kept], spike_steps[:kept]))
        raster = (
            spike_ids[:kept][order].view(np.int32),
            ((spike_steps[:kept][order] + 1) * config.dt_ms).astype(np.float32),
        )
    return neural_model.neural_result(
        raw, config, cycles,
        [(logs.cycle_log, logs.wm_ids, logs.wm_out, logs.wm_count)],
        wave_log[1 : cycles + 1],
        {"wall_time_s": time.perf_counter() - started},
        graph.labels, raster,
    )  # fmt: skip


def run_resolved(graph, cue_ids, cue_x, config, *, dense_edges=None, started=None):
    """Spread from checked cues (ascending, distinct ids) and a config.

    ``dense_edges`` overrides the frontier size from which a wave runs
    dense (0: every wave dense; a huge number: every wave sparse); the
    result is the same either way, which the tests check.
    """
    if started is None:
        started = time.perf_counter()
    if dense_edges is None:
        dense_edges = pulse.default_dense_edges(graph.num_nodes)

    workspace = _workspace_for(graph)
    if not workspace.lock.acquire(blocking=False):
        # Another thread is spreading on this graph: use a private one.
        workspace = _Workspace(graph.num_nodes)
        workspace.lock.acquire()
    try:
        fired_per_wave = np.zeros(config.max_hops + 1, np.int64)
        indptr, indices, weights = graph.kernel_arrays()
        # A threshold beyond float32's range is infinite: nothing fires.
        with np.errstate(over="ignore"):
            threshold = np.float32(config.threshold)
        n_touched, waves, edges = pulse.spread(
            indptr,
            indices,
            weights,
            cue_ids.view(np.uint32),
            cue_x,
            np.float32(config.decay),
            threshold,
            config.max_hops,
            config.fan_normalize,
            config.refractory_waves,
            workspace.acc,
            workspace.out,
            workspace.state,
            workspace.touched,
            workspace.frontier,
            workspace.frontier_out,
            workspace.reached,
            workspace.scratch,
            fired_per_wave,
            dense_edges,
        )
        nodes = pulse.touched_ascending(
            workspace.state, workspace.touched, n_touched, workspace.scratch
        ).view(np.int32)
        activation = np.empty(n_touched, np.float32)
        first_hop = np.empty(n_touched, np.int32)
        pulse.gather_and_clear(nodes, workspace.state, activation, first_hop)
    finally:
        workspace.lock.release()

    if config.max_activation is not None:
        # A cap beyond float32's range is no cap: it casts to infinity.
        with np.errstate(over="ignore"):
            cap = np.float32(config.max_activation)
        np.minimum(activation, cap, out=activation)
    fired = fired_per_wave[1 : waves + 1]
    stats = SpreadStats(
        waves=int(waves),
        edges_traversed=int(edges),
        nodes_fired=int(fired.sum()),
        fired_per_wave=tuple(fired.tolist()),
        wall_time_s=time.perf_counter() - started,
    )
    return SpreadResult(nodes, activation, first_hop, stats, graph.labels)
