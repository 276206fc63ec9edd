"""The memory graph: a directed, weighted association graph in CSR form."""

import numpy as np

from . import _graph_kernels as kernels
from .errors import GraphError, UnknownNodeError

__all__ = ["Graph", "MAX_NODES"]

#: Node ids are 32-bit signed integers, so that the edge array (the bulk of a
#: graph's memory) takes 4 bytes an edge and stays valid as an index type in
#: every kernel.
MAX_NODES = np.iinfo(np.int32).max

_DUPLICATE_POLICIES = ("sum", "max", "keep", "error")


def _as_ids(values, name):
    """Check an array of node ids and return it as int64."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise GraphError(f"{name} must be one-dimensional, got shape {array.shape}")
    if array.size == 0:
        return np.zeros(0, np.int64)
    if array.dtype.kind not in "iu":
        raise GraphError(f"{name} must hold integer node ids, got dtype {array.dtype}")
    array = array.astype(np.int64, copy=False)
    low = int(array.min())
    if low < 0:
        at = int(np.flatnonzero(array < 0)[0])
        raise GraphError(f"{name}[{at}] is {low}; node ids must be >= 0")
    return array


#: Appended to the refusal of a negative weight in a graph that is not signed.
_SIGNED_HINT = "pass signed=True to allow inhibitory (negative) weights"


def _check_signed(signed):
    """Return ``signed`` as a bool, refusing anything but True and False."""
    if not isinstance(signed, (bool, np.bool_)):
        raise GraphError(f"signed must be True or False, got {signed!r}")
    return bool(signed)


def _check_weights(weights, name="weight", signed=False):
    """Raise unless every weight is finite and, unless ``signed``, >= 0."""
    if signed:
        bad = ~np.isfinite(weights)
    else:
        bad = ~(np.isfinite(weights) & (weights >= 0))
    if bad.any():
        at = int(np.flatnonzero(bad)[0])
        value = weights[at]
        if signed:
            rule = "finite"
        elif np.isfinite(value):
            rule = f"finite and >= 0; {_SIGNED_HINT}"
        else:
            rule = "finite and >= 0"
        raise GraphError(f"{name}[{at}] is {value}; association weights must be {rule}")


def _as_weights(weight, size, signed=False):
    """Broadcast or check edge weights and return them as float32."""
    if weight is None:
        return np.ones(size, np.float32)
    array = np.asarray(weight)
    if array.dtype.kind not in "iuf":
        raise GraphError(f"weight must be numeric, got dtype {array.dtype}")
    if array.ndim == 0:
        array = np.full(size, array, np.float64)
    if array.shape != (size,):
        raise GraphError(
            f"weight has shape {array.shape}; expected ({size},), one per edge"
        )
    _check_weights(array, signed=signed)
    with np.errstate(over="ignore"):
        as32 = array.astype(np.float32)
    # A finite float64 can still overflow float32.
    _check_weights(as32, name="weight (as float32)", signed=signed)
    return as32


def _check_labels(labels, num_nodes):
    labels = tuple(labels)
    if len(labels) != num_nodes:
        raise GraphError(
            f"labels has {len(labels)} entries; the graph has {num_nodes} nodes"
        )
    for i, label in enumerate(labels):
        if not isinstance(label, str):
            raise GraphError(f"label of node {i} is {label!r}; labels must be str")
        if not label:
            raise GraphError(f"label of node {i} is empty")
    index = {label: i for i, label in enumerate(labels)}
    if len(index) != num_nodes:
        seen = set()
        for i, label in enumerate(labels):
            if label in seen:
                raise GraphError(f"label {label!r} of node {i} is not unique")
            seen.add(label)
    return labels, index


def _readonly(array):
    array.setflags(write=False)
    return array


class Graph:
    """A directed memory graph with float32 association weights.

    Nodes are memories or concepts, numbered ``0 .. num_nodes - 1`` and
    optionally named by unique string labels. Edges are associations
    ``u -> v`` with a weight ``w(u, v) >= 0``; activation flows along them.
    A *signed* graph may also hold negative weights, inhibitory
    associations. The storage is compressed sparse row (CSR): the
    out-edges of ``u`` are ``indices[indptr[u]:indptr[u + 1]]`` with the
    matching ``weights``.

    Parameters
    ----------
    indptr : array of int64, shape (num_nodes + 1,)
        Row offsets: starts at 0, never decreases, ends at the edge count.
    indices : array of int32, shape (num_edges,)
        Destination of each edge.
    weights : array of float32, shape (num_edges,)
        Weight of each edge, finite, and non-negative unless ``signed``.
    labels : sequence of str, optional
        One unique, non-empty label per node.
    validate : bool
        Check the arrays (the default). Only code that has just built them
        itself may pass False.
    signed : bool
        Allow negative (inhibitory) weights. Off by default, and then a
        negative weight is refused, as the pulse model needs. NaN and
        infinite weights are refused either way.

    Attributes
    ----------
    signed : bool
        Whether negative weights are allowed. A signed graph need not hold
        any; see :attr:`has_negative_weights`.

    Notes
    -----
    The arrays are made read-only: a graph never changes once built, so that
    it can be shared between processes and cached safely. Build a new graph
    to change it.

    Examples
    --------
    >>> g = Graph.from_edges([0, 0, 1], [1, 2, 2], [0.5, 0.25, 1.0],
    ...                      labels=["coffee", "cafe", "first date"])
    >>> g.num_nodes, g.num_edges
    (3, 3)
    >>> ids, w = g.neighbors("coffee")
    >>> ids.tolist(), w.tolist()
    ([1, 2], [0.5, 0.25])
    """

    def __init__(
        self, indptr, indices, weights, labels=None, *, validate=True, signed=False
    ):
        signed = _check_signed(signed)
        if validate:
            indptr, indices, weights = self._validated_csr(
                indptr, indices, weights, signed
            )
        # Whether negative (inhibitory) weights are allowed.
        self.signed = signed
        # The three CSR arrays, read-only for the life of the graph.
        self.indptr = _readonly(indptr)
        self.indices = _readonly(indices)
        self.weights = _readonly(weights)
        # Labels as a tuple (id -> label) and a dict (label -> id), or None.
        self.labels = None
        self._label_index = None
        if labels is not None:
            self.labels, self._label_index = _check_labels(labels, self.num_nodes)
        # Derived views, built on first use.
        self._out_degree = None
        self._reverse = None
        self._has_negative_weights = None

    # -- construction -----------------------------------------------------

    @staticmethod
    def _validated_csr(indptr, indices, weights, signed=False):
        indptr = np.asarray(indptr)
        indices = np.asarray(indices)
        weights = np.asarray(weights)
        for name, array, kinds in (
            ("indptr", indptr, "iu"),
            ("indices", indices, "iu"),
            ("weights", weights, "iuf"),
        ):
            if array.ndim != 1:
                raise GraphError(f"{name} must be one-dimensional")
            if array.dtype.kind not in kinds:
                raise GraphError(f"{name} has dtype {array.dtype}")
        if indptr.size < 2:
            raise GraphError("the graph has no nodes; indptr needs >= 2 entries")
        num_nodes = indptr.size - 1
        if num_nodes > MAX_NODES:
            raise GraphError(f"{num_nodes} nodes exceed the limit of {MAX_NODES}")
        if indptr[0] != 0:
            raise GraphError(f"indptr[0] is {indptr[0]}; it must be 0")
        steps = np.diff(indptr)
        if steps.size and steps.min() < 0:
            at = int(np.flatnonzero(steps < 0)[0])
            raise GraphError(
                f"indptr decreases at position {at + 1} "
                f"({indptr[at]} then {indptr[at + 1]}); row offsets must not"
                " decrease"
            )
        if indptr[-1] != indices.size:
            raise GraphError(
                f"indptr ends at {indptr[-1]} but there are {indices.size} "
                "edge destinations"
            )
        if weights.size != indices.size:
            raise GraphError(
                f"{weights.size} weights for {indices.size} edges; need one each"
            )
        if indices.size:
            bad = (indices < 0) | (indices >= num_nodes)
            if bad.any():
                at = int(np.flatnonzero(bad)[0])
                raise GraphError(
                    f"indices[{at}] is {indices[at]}; node ids must be in "
                    f"[0, {num_nodes})"
                )
        _check_weights(weights, name="weights", signed=signed)
        with np.errstate(over="ignore"):
            as32 = weights.astype(np.float32)
        _check_weights(as32, name="weights (as float32)", signed=signed)
        return (
            np.ascontiguousarray(indptr, np.int64),
            np.ascontiguousarray(indices, np.int32),
            np.ascontiguousarray(as32),
        )

    @classmethod
    def from_edges(
        cls,
        src,
        dst,
        weight=None,
        num_nodes=None,
        labels=None,
        duplicates="sum",
        *,
        signed=False,
    ):
        """Build a graph from parallel arrays of edges.

        Parameters
        ----------
        src, dst : array_like of int
            Source and destination of each edge.
        weight : array_like of float or float, optional
            Weight of each edge, or one weight for all; default 1.0. Must be
            finite, and non-negative unless ``signed``.
        num_nodes : int, optional
            Number of nodes; default ``len(labels)`` if labels are given,
            else the largest id plus one.
        labels : sequence of str, optional
            One unique label per node.
        duplicates : {"sum", "max", "keep", "error"}
            What to do with several edges of the same source and
            destination: merge them into one whose weight is their sum (in
            input order, in float32) or maximum, keep them all as parallel
            edges, or refuse them. A sum of weights of mixed signs is
            checked as any weight is: it must be finite in float32.
        signed : bool
            Allow negative (inhibitory) weights; see :class:`Graph`.

        Returns
        -------
        Graph
            Out-edges of each node sorted by destination.

        Raises
        ------
        GraphError
            With the position of the first bad entry.
        """
        if duplicates not in _DUPLICATE_POLICIES:
            raise GraphError(
                f"duplicates is {duplicates!r}; expected one of {_DUPLICATE_POLICIES}"
            )
        signed = _check_signed(signed)
        src = _as_ids(src, "src")
        dst = _as_ids(dst, "dst")
        if src.shape != dst.shape:
            raise GraphError(
                f"src has {src.size} entries and dst has {dst.size}; need one each"
            )
        weights = _as_weights(weight, src.size, signed)
        if num_nodes is None:
            if labels is not None:
                num_nodes = len(labels)
            else:
                num_nodes = int(max(src.max(initial=-1), dst.max(initial=-1))) + 1
        num_nodes = _check_num_nodes(num_nodes)
        for name, ids in (("src", src), ("dst", dst)):
            if ids.size and ids.max() >= num_nodes:
                at = int(np.flatnonzero(ids >= num_nodes)[0])
                raise GraphError(
                    f"{name}[{at}] is {ids[at]}; node ids must be in [0, {num_nodes})"
                )
        indptr, indices, weights = kernels.csr_from_edges(src, dst, weights, num_nodes)
        if duplicates != "keep":
            count, first = kernels.count_duplicates(indptr, indices)
            if count and duplicates == "error":
                u = int(np.searchsorted(indptr, first, side="right") - 1)
                raise GraphError(
                    f"edge {u} -> {indices[first]} is given more than once "
                    f"({count} repeated edges in all)"
                )
            if count:
                indptr, indices, weights = kernels.merge_duplicates(
                    indptr, indices, weights, duplicates == "max"
                )
                # A float32 sum of finite weights can still overflow.
                _check_weights(weights, name="summed duplicate weights", signed=signed)
        return cls(indptr, indices, weights, labels, validate=False, signed=signed)

    # -- sizes and views ---------------------------------------------------

    @property
    def num_nodes(self):
        """Number of nodes."""
        return self.indptr.size - 1

    @property
    def num_edges(self):
        """Number of edges."""
        return self.indices.size

    @property
    def nbytes(self):
        """Bytes held by the CSR arrays (labels not counted)."""
        return self.indptr.nbytes + self.indices.nbytes + self.weights.nbytes

    @property
    def out_degree(self):
        """Out-degree of every node, as a read-only int64 array."""
        if self._out_degree is None:
            self._out_degree = _readonly(np.diff(self.indptr))
        return self._out_degree

    @property
    def has_negative_weights(self):
        """Whether any weight is below zero (-0.0 is not), found on first use.

        Only a signed graph can have them. The first call reads every
        weight once; later calls return the stored answer.
        """
        if self._has_negative_weights is None:
            self._has_negative_weights = bool(
                self.num_edges and float(self.weights.min()) < 0.0
            )
        return self._has_negative_weights

    def kernel_arrays(self):
        """``indptr``, ``indices`` and ``weights`` as compiled kernels take
        them: offsets as uint64 and ids as uint32 (views, no copy)."""
        return (
            self.indptr.view(np.uint64),
            self.indices.view(np.uint32),
            self.weights,
        )

    def neighbors(self, node):
        """Out-neighbours of ``node`` (an id or a label) and their weights.

        Returns two read-only views, destinations ascending.
        """
        u = self.node_id(node)
        lo, hi = self.indptr[u], self.indptr[u + 1]
        return self.indices[lo:hi], self.weights[lo:hi]

    #: The same as :meth:`neighbors`, named for symmetry with
    #: :meth:`in_neighbors`.
    out_neighbors = neighbors

    def in_neighbors(self, node):
        """Sources of the edges into ``node`` and their weights.

        Uses the in-edge view, built on first use (see :meth:`reverse`).
        """
        return self.reverse().neighbors(node)

    def reverse(self):
        """The in-edge view, as a graph with every edge turned around.

        Row ``v`` of the result lists the sources of the edges into ``v``,
        ascending, with the same weights. It is built once, on first use,
        and shares this graph's labels and :attr:`signed`.
        """
        if self._reverse is None:
            arrays = kernels.transpose(
                self.indptr, self.indices, self.weights, self.num_nodes
            )
            reverse = Graph(*arrays, validate=False, signed=self.signed)
            reverse.labels, reverse._label_index = self.labels, self._label_index
            # The same weights in another order.
            reverse._has_negative_weights = self._has_negative_weights
            reverse._reverse = self
            self._reverse = reverse
        return self._reverse

    # -- node names --------------------------------------------------------

    def node_id(self, node):
        """The id of a node given by id (int) or label (str)."""
        if isinstance(node, str):
            if self._label_index is None:
                raise UnknownNodeError(
                    f"unknown node label {node!r}: this graph has no labels"
                )
            try:
                return self._label_index[node]
            except KeyError:
                raise UnknownNodeError(f"unknown node label {node!r}") from None
        if isinstance(node, (bool, np.bool_)) or not isinstance(
            node, (int, np.integer)
        ):
            raise UnknownNodeError(
                f"node {node!r} is neither an integer id nor a str label"
            )
        if not 0 <= node < self.num_nodes:
            raise UnknownNodeError(
                f"unknown node id {node}: ids are in [0, {self.num_nodes})"
            )
        return int(node)

    def has_label(self, label):
        """Whether ``label`` names a node of this graph."""
        return self._label_index is not None and label in self._label_index

    def label(self, node_id):
        """The label of a node id, or None when the graph has no labels."""
        u = self.node_id(int(node_id))
        return None if self.labels is None else self.labels[u]

    # -- summaries ---------------------------------------------------------

    def degree_stats(self):
        """Degree statistics and memory footprint, as a dict of numbers."""
        out_deg = self.out_degree
        in_deg = np.bincount(self.indices, minlength=self.num_nodes)
        stats = {"nodes": self.num_nodes, "edges": self.num_edges}
        for name, deg in (("out_degree", out_deg), ("in_degree", in_deg)):
            stats[name] = {
                "min": int(deg.min()),
                "max": int(deg.max()),
                "mean": float(deg.mean()),
                "std": float(deg.std()),
                "zero": int(np.count_nonzero(deg == 0)),
            }
        row_of_edge = np.repeat(np.arange(self.num_nodes, dtype=np.int32), out_deg)
        stats["self_loops"] = int(np.count_nonzero(row_of_edge == self.indices))
        if self.num_edges:
            stats["weight"] = {
                "min": float(self.weights.min()),
                "max": float(self.weights.max()),
                "mean": float(self.weights.mean(dtype=np.float64)),
            }
        stats["csr_bytes"] = self.nbytes
        return stats

    def __repr__(self):
        labelled = ", labelled" if self.labels is not None else ""
        signed = ", signed" if self.signed else ""
        return (
            f"<Graph {self.num_nodes} nodes, {self.num_edges} edges{labelled}{signed}>"
        )


def _check_num_nodes(num_nodes):
    if isinstance(num_nodes, bool) or not isinstance(num_nodes, (int, np.integer)):
        raise GraphError(f"num_nodes must be an integer, got {num_nodes!r}")
    if num_nodes < 1:
        raise GraphError(f"num_nodes is {num_nodes}; the graph has no nodes")
    if num_nodes > MAX_NODES:
        raise GraphError(
            f"num_nodes is {num_nodes}; node ids are 32-bit, at most {MAX_NODES} nodes"
        )
    return int(num_nodes)
