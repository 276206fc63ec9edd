"""The sequential reference implementation of spreading activation.

This is the oracle: single-threaded, with every sum in the order the model
defines (``docs/model.md``), so that the parallel engine's deterministic
mode can be checked against it bit for bit. The per-wave steps are the
compiled kernels of :mod:`engram_actors.models.pulse`; this module only
checks the input, keeps a scratch workspace per graph, and packs the result.
"""

import threading
import time
import weakref

import numpy as np

from .config import SpreadConfig
from .cues import resolve_cues
from .models import pulse
from .result import SpreadResult, SpreadStats

__all__ = ["spread"]


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
    config = SpreadConfig.coerce(config, **overrides)
    cue_ids, cue_x = resolve_cues(graph, cues)
    return run_resolved(graph, cue_ids, cue_x, config, started=started)


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
        n_touched, waves, edges = pulse.spread(
            indptr,
            indices,
            weights,
            cue_ids.view(np.uint32),
            cue_x,
            np.float32(config.decay),
            np.float32(config.threshold),
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
