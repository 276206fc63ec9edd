"""The result of a spread, shared by the reference and the engine."""

import dataclasses

import numpy as np

from .errors import UnknownNodeError

__all__ = ["NeuralResult", "SpreadResult", "SpreadStats"]


@dataclasses.dataclass(frozen=True)
class SpreadStats:
    """What a spread did.

    Attributes
    ----------
    waves : int
        Waves run (a spread stops early when no node fires).
    edges_traversed : int
        Out-edges of firing nodes, summed over waves.
    nodes_fired : int
        Firing events summed over waves (a node firing twice counts twice).
    fired_per_wave : tuple of int
        Nodes that fired in wave 1, 2, ...
    wall_time_s : float
        Wall-clock time of the spread itself, cue checking included. The
        first spread in a process also loads the compiled kernels from
        Numba's cache (about 0.1 to 0.5 s), which this includes.
    runner : str
        What computed it ("reference", or the engine and its actors).
    counters : dict
        Runner-specific counters (per-actor figures for the engine).
    """

    waves: int
    edges_traversed: int
    nodes_fired: int
    fired_per_wave: tuple
    wall_time_s: float
    runner: str = "reference"
    counters: dict = dataclasses.field(default_factory=dict)

    @property
    def edges_per_s(self):
        """Edges traversed per second of wall time."""
        return self.edges_traversed / self.wall_time_s if self.wall_time_s else 0.0


class SpreadResult:
    """Which memories lit up, and how strongly.

    Only touched nodes are held (cues, and every node that received
    activation), so the memory of a result grows with what the spread
    reached, never with the graph.

    Attributes
    ----------
    nodes : ndarray of int32
        Touched node ids, ascending.
    activation : ndarray of float32
        Final activation of each touched node, aligned with ``nodes``.
    first_hop : ndarray of int32
        Wave at which each node was first reached (0 for cues).
    stats : SpreadStats
    """

    __slots__ = ("nodes", "activation", "first_hop", "stats", "_graph_labels")

    def __init__(self, nodes, activation, first_hop, stats, graph_labels=None):
        self.nodes = nodes
        self.activation = activation
        self.first_hop = first_hop
        self.stats = stats
        # The graph's label tuple (shared, not copied), or None.
        self._graph_labels = graph_labels
        for array in (nodes, activation, first_hop):
            array.setflags(write=False)

    def __len__(self):
        return self.nodes.size

    def __repr__(self):
        return (
            f"<SpreadResult {len(self)} nodes touched, {self.stats.waves} waves, "
            f"{self.stats.edges_traversed} edges>"
        )

    @property
    def labels(self):
        """Labels of the touched nodes, aligned with ``nodes``, or None."""
        if self._graph_labels is None:
            return None
        return [self._graph_labels[v] for v in self.nodes.tolist()]

    def top(self, k=10, *, ids=False):
        """The ``k`` most active nodes as (node, activation) pairs.

        Ordered by activation descending, ties by node id ascending. A node
        is given by its label where the graph has labels, unless ``ids``.
        """
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
            raise ValueError(f"k must be an integer >= 0, got {k!r}")
        # lexsort sorts by the last key first: activation descending, then id.
        order = np.lexsort((self.nodes, -self.activation))[:k]
        nodes = self.nodes[order].tolist()
        values = self.activation[order].tolist()
        if self._graph_labels is not None and not ids:
            nodes = [self._graph_labels[v] for v in nodes]
        return list(zip(nodes, values, strict=True))

    def activation_of(self, node_id):
        """Final activation of one node id (0.0 when it was not touched)."""
        at = int(np.searchsorted(self.nodes, node_id))
        if at < self.nodes.size and self.nodes[at] == node_id:
            return float(self.activation[at])
        return 0.0

    def to_dense(self, num_nodes):
        """Activation of every node as a float32 array of ``num_nodes``.

        This allocates one entry per node of the graph; use it on small
        graphs and in tests, not per query on large ones.
        """
        if self.nodes.size and self.nodes[-1] >= num_nodes:
            raise UnknownNodeError(
                f"node {self.nodes[-1]} is outside a graph of {num_nodes} nodes"
            )
        dense = np.zeros(num_nodes, np.float32)
        dense[self.nodes] = self.activation
        return dense

    def to_dict(self, k=None):
        """A JSON-ready dict: stats and the top ``k`` nodes (all when None)."""
        k = len(self) if k is None else k
        stats = dataclasses.asdict(self.stats)
        stats["fired_per_wave"] = list(stats["fired_per_wave"])
        stats["edges_per_s"] = self.stats.edges_per_s
        top = []
        for node_id, value in self.top(k, ids=True):
            entry = {"id": node_id, "activation": value}
            if self._graph_labels is not None:
                entry["label"] = self._graph_labels[node_id]
            top.append(entry)
        return {"touched": len(self), "stats": stats, "top": top}


class NeuralResult(SpreadResult):
    """A spread of the neural model: which memories fired, when, and what
    working memory holds.

    ``activation`` is a node's summed synaptic output (its resources at
    each spike, added up), ``first_hop`` the gamma cycle in which it was
    first driven (0 for cues). Touched nodes are those that received any
    input.

    Attributes
    ----------
    spikes : ndarray of int32
        Spikes of each touched node.
    first_spike_ms, last_spike_ms : ndarray of float32
        Model time of its first and last spike (NaN if it never fired).
    potential : ndarray of float32
        Membrane potential at the end of the spread.
    resources : ndarray of float32
        Synaptic resources at the end of the spread.
    working_memory : WorkingMemory
    trace : dict of ndarray
        One entry per gamma cycle run (cycle 0 holds the cues): ``cycle``,
        ``time_ms`` (its start), ``gain`` (theta gate on what it received),
        ``spikes``, ``active`` (nodes that spiked), ``driven`` (nodes that
        received input), ``wm_items`` (working-memory size after it).
    spike_raster : (ndarray of int32, ndarray of float32) or None
        Every spike as (node, time in ms), when the reference was asked to
        record them.
    """

    __slots__ = (
        "spikes",
        "first_spike_ms",
        "last_spike_ms",
        "potential",
        "resources",
        "working_memory",
        "trace",
        "spike_raster",
    )

    def __init__(self, nodes, activation, first_hop, stats, graph_labels,
                 neural, working_memory, trace, spike_raster=None):  # fmt: skip
        super().__init__(nodes, activation, first_hop, stats, graph_labels)
        (self.spikes, self.first_spike_ms, self.last_spike_ms, self.potential,
         self.resources) = neural  # fmt: skip
        for array in neural:
            array.setflags(write=False)
        self.working_memory = working_memory
        self.trace = trace
        self.spike_raster = spike_raster

    def __repr__(self):
        return (
            f"<NeuralResult {len(self)} nodes touched, "
            f"{int(self.spikes.sum())} spikes, {self.stats.waves} cycles, "
            f"{len(self.working_memory)} in working memory>"
        )

    def to_dict(self, k=None):
        """As :meth:`SpreadResult.to_dict`, with each node's spikes and
        spike times, working memory and the per-cycle trace."""
        document = super().to_dict(k)
        position = {v: i for i, v in enumerate(self.nodes.tolist())}
        for entry in document["top"]:
            i = position[entry["id"]]
            entry["spikes"] = int(self.spikes[i])
            for name in ("first_spike_ms", "last_spike_ms"):
                value = float(getattr(self, name)[i])
                entry[name] = None if value != value else value
            entry["potential"] = float(self.potential[i])
            entry["resources"] = float(self.resources[i])
        memory = []
        for (node_id, level), entered in zip(
            self.working_memory.items(ids=True),
            self.working_memory.entered.tolist(),
            strict=True,
        ):
            item = {"id": node_id, "level": level, "entered_cycle": entered}
            if self._graph_labels is not None:
                item["label"] = self._graph_labels[node_id]
            memory.append(item)
        document["working_memory"] = memory
        document["trace"] = {
            name: values.tolist() for name, values in self.trace.items()
        }
        return document
