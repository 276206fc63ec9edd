"""One adapter per system the benchmark measures, and what each can express.

Every adapter turns an engram-actors :class:`~engram_actors.Graph` into the
system's own structure (``prepare``), then runs the workloads it can express
the way a user of that system would write them. A workload an adapter cannot
express is named in its ``unsupported`` mapping with the reason, so the
harness records it instead of leaving a gap. Packages outside the test extra
are imported only in ``prepare``, so the harness runs without them and
records those systems as unavailable.

Three workloads run through the adapters (``bench/workloads.py`` times them):

- full wave: ``full_wave()`` returns a function that runs one full wave
  (every node fires once with activation 1) and the number of edges that
  function traverses;
- recall: ``recall(cue_ids, threshold)`` spreads from the cues with
  activation 1 for three waves (decay 0.8) and returns the number of nodes
  touched and the edges traversed (None where the system does not say);
- neural recall: ``neural_recall(cue_ids, config)`` runs the neural model
  (integrate-and-fire nodes in gamma cycles, ``NeuralConfig``) from the
  cues and returns the nodes touched, the edges traversed and the spikes.
  Only engram-actors' own runners have that model; every other adapter
  names the workload unsupported.
"""

import importlib
import importlib.util

import numpy as np

import engram_actors
from engram_actors import NeuralConfig, SpreadConfig, reference
from engram_actors.models import pulse

__all__ = ["SYSTEMS", "System", "make_systems"]

DECAY = 0.8  # the model's default decay, written out for the other systems
RECALL_HOPS = 3  # waves per recall, as in bench/reference_speed.py
#: The neural recall's model: the documented defaults (8 gamma cycles of
#: 25 ms after the cues' cycle, theta gating on).
NEURAL_RECALL = NeuralConfig()
#: Why a system outside engram-actors has no neural-recall figure.
NO_NEURAL_MODEL = (
    "computes the pulse model only: integrate-and-fire nodes, refractory "
    "periods, fatigue and theta gating are engram-actors' own"
)
NETWORKX_MAX_NODES = 100_000  # a pure-Python spread over more takes minutes


def _sources(graph):
    """Source id of every edge, aligned with ``graph.indices``."""
    degrees = np.diff(graph.indptr)
    return np.repeat(np.arange(graph.num_nodes, dtype=np.int64), degrees)


def _reached_edges(graph, reached):
    """Out-edges of the nodes in the boolean mask ``reached``."""
    return int(np.diff(graph.indptr)[reached].sum())


class System:
    """An adapter: a system under test and the workloads it can express.

    Attributes
    ----------
    name : str
        The system's name in the records.
    actors : int
        Worker processes it uses (1 for all but the engine).
    package : str or None
        The module it needs beyond the test extra, imported lazily.
    max_nodes : int or None
        Largest graph it is run on; bigger ones are recorded as skipped.
    skip_reason : str
        Why, for the records of the graphs it skips.
    unsupported : dict
        Workload name to the reason the system cannot express it.
    note : str
        What a reader should know about how its figures were made.
    """

    name = "?"
    actors = 1
    package = None
    max_nodes = None
    skip_reason = ""
    unsupported = {"neural_recall": NO_NEURAL_MODEL}
    note = ""

    def availability(self):
        """None when the system can run here, else the reason it cannot."""
        if self.package and importlib.util.find_spec(self.package) is None:
            return f"{self.package} is not installed (pip install -e '.[bench]')"
        return None

    def version(self):
        """The version of the package behind the system, or None."""
        if not self.package:
            return engram_actors.__version__
        module = importlib.import_module(self.package)
        return getattr(module, "__version__", None)

    def prepare(self, graph):
        """Build the system's structure for ``graph`` (timed as ``build``)."""
        self.graph = graph

    def full_wave(self):
        """A function running one full wave, and the edges it traverses."""
        raise NotImplementedError

    def recall(self, cue_ids, threshold):
        """Spread from ``cue_ids``; return (nodes touched, edges or None)."""
        raise NotImplementedError

    def neural_recall(self, cue_ids, config):
        """Run the neural model from ``cue_ids``; return (nodes touched,
        edges traversed, spikes)."""
        raise NotImplementedError

    def close(self):
        """Drop what ``prepare`` built."""
        self.graph = None


class Reference(System):
    """The sequential reference, ``engram_actors.reference.spread``."""

    name = "reference"
    note = "whole spread: cue checks, waves and the result"
    unsupported = {}

    def full_wave(self):
        n = self.graph.num_nodes
        cues = (np.arange(n, dtype=np.int32), np.ones(n, np.float32))
        config = SpreadConfig(threshold=0.0, max_hops=1)
        return lambda: reference.spread(self.graph, cues, config), self.graph.num_edges

    def recall(self, cue_ids, threshold):
        config = SpreadConfig(threshold=threshold, max_hops=RECALL_HOPS)
        cues = (cue_ids, np.ones(cue_ids.size, np.float32))
        result = reference.spread(self.graph, cues, config)
        return len(result), result.stats.edges_traversed

    def neural_recall(self, cue_ids, config):
        cues = (cue_ids, np.ones(cue_ids.size, np.float32))
        result = reference.spread_neural(self.graph, cues, config)
        return len(result), result.stats.edges_traversed, int(result.spikes.sum())


class ReferenceKernel(System):
    """The reference's dense wave kernel alone: the loop a parallel runner splits."""

    name = "reference-kernel"
    note = "pulse.push_dense over every node, no cue checks or result"
    unsupported = {
        "recall": "the kernel is one wave's edge loop; a recall needs the whole "
        "spread (the reference row)",
        "neural_recall": "the kernel is the pulse model's wave; the neural "
        "model's cycle is the reference row",
    }

    def prepare(self, graph):
        super().prepare(graph)
        n = graph.num_nodes
        self.arrays = graph.kernel_arrays()
        self.frontier = np.arange(n, dtype=np.uint32)
        self.emitted = np.full(n, DECAY, np.float32)
        self.acc = np.zeros(n, np.float32)
        self.out = np.zeros(n, np.float32)

    def full_wave(self):
        n = self.graph.num_nodes

        def wave():
            pulse.push_dense(
                *self.arrays, self.frontier, self.emitted, n, self.acc, self.out
            )

        return wave, self.graph.num_edges

    def close(self):
        super().close()
        self.arrays = self.frontier = self.emitted = self.acc = self.out = None


class Engine(System):
    """The parallel actor engine, ``engram_actors.Engine``, at ``actors`` workers.

    Written against the engine's documented API: a context manager built
    from the graph whose ``spread(cues, config)`` returns the same
    ``SpreadResult`` as the reference.
    """

    name = "engine"
    note = "engram_actors.Engine, non-deterministic mode"
    unsupported = {}

    def __init__(self, actors):
        self.actors = actors

    def availability(self):
        if not hasattr(engram_actors, "Engine"):
            return "the actor engine is not built yet"
        return None

    def prepare(self, graph):
        super().prepare(graph)
        self.engine = engram_actors.Engine(graph, actors=self.actors)
        self.engine.__enter__()

    def full_wave(self):
        n = self.graph.num_nodes
        cues = (np.arange(n, dtype=np.int32), np.ones(n, np.float32))
        config = SpreadConfig(threshold=0.0, max_hops=1)
        return lambda: self.engine.spread(cues, config), self.graph.num_edges

    def recall(self, cue_ids, threshold):
        config = SpreadConfig(threshold=threshold, max_hops=RECALL_HOPS)
        cues = (cue_ids, np.ones(cue_ids.size, np.float32))
        result = self.engine.spread(cues, config)
        return len(result), result.stats.edges_traversed

    def neural_recall(self, cue_ids, config):
        cues = (cue_ids, np.ones(cue_ids.size, np.float32))
        result = self.engine.spread(cues, config)
        return len(result), result.stats.edges_traversed, int(result.spikes.sum())

    def close(self):
        engine, self.engine = getattr(self, "engine", None), None
        if engine is not None:
            engine.__exit__(None, None, None)
        super().close()


class Scipy(System):
    """scipy.sparse: ``A.T @ x`` as the full wave, a sparse-vector pulse spread."""

    name = "scipy"
    package = "scipy"
    note = "float32 CSR; recall: frontier as a 1 x n sparse row times A per wave"

    def prepare(self, graph):
        import scipy.sparse as sp

        super().prepare(graph)
        n = graph.num_nodes
        self.sp = sp
        self.matrix = sp.csr_matrix(
            (graph.weights, graph.indices, graph.indptr), (n, n)
        )
        self.transposed = self.matrix.T  # a CSC view, no copy

    def full_wave(self):
        x = np.ones(self.graph.num_nodes, np.float32)
        return lambda: self.transposed @ x, self.graph.num_edges

    def recall(self, cue_ids, threshold):
        sp, n = self.sp, self.graph.num_nodes
        zeros = np.zeros(cue_ids.size, np.int32)
        wave = sp.csr_matrix(
            (np.ones(cue_ids.size, np.float32), (zeros, cue_ids)), (1, n)
        )
        total = wave
        for _ in range(RECALL_HOPS):
            fires = wave.data >= threshold
            if not fires.any():
                break
            out = wave.data[fires] * np.float32(DECAY)
            rows = np.zeros(out.size, np.int32)
            fired = sp.csr_matrix((out, (rows, wave.indices[fires])), (1, n))
            wave = fired @ self.matrix
            total = total + wave
        return total.nnz, None

    def close(self):
        super().close()
        self.matrix = self.transposed = None


class GraphBLAS(System):
    """python-graphblas (SuiteSparse:GraphBLAS): plus_times mxv and vxm."""

    name = "graphblas"
    package = "graphblas"

    @property
    def note(self):
        threads = None
        try:
            import graphblas

            threads = graphblas.ss.config["nthreads"]
        except (ImportError, KeyError, AttributeError):
            pass
        return f"plus_times semiring, FP32; SuiteSparse threads: {threads}"

    def prepare(self, graph):
        import graphblas as gb

        super().prepare(graph)
        n = graph.num_nodes
        self.gb = gb
        self.matrix = gb.Matrix.from_csr(
            graph.indptr, graph.indices, graph.weights, nrows=n, ncols=n
        )

    def full_wave(self):
        gb = self.gb
        x = gb.Vector.from_dense(np.ones(self.graph.num_nodes, np.float32))
        return lambda: gb.semiring.plus_times(self.matrix.T @ x).new(), (
            self.graph.num_edges
        )

    def recall(self, cue_ids, threshold):
        gb, n = self.gb, self.graph.num_nodes
        ones = np.ones(cue_ids.size, np.float32)
        wave = gb.Vector.from_coo(cue_ids, ones, size=n)
        total = wave.dup()
        for _ in range(RECALL_HOPS):
            # A float32 thunk: with a Python float, python-graphblas 2025.2
            # (SuiteSparse 9.4) selected every entry of an FP32 vector.
            fired = wave.select(">=", np.float32(threshold)).new()
            if fired.nvals == 0:
                break
            fired = fired.apply(gb.binary.times, right=np.float32(DECAY)).new()
            wave = gb.semiring.plus_times(fired @ self.matrix).new()
            total(accum=gb.binary.plus) << wave
        return total.nvals, None

    def close(self):
        super().close()
        self.matrix = None


class Igraph(System):
    """igraph: BFS as the full wave, ``neighborhood(order=3)`` as recall."""

    name = "igraph"
    package = "igraph"
    note = (
        "unweighted: full wave is a BFS from node 0 over every reachable edge, "
        "recall is the whole 3-hop out-neighbourhood of the cues; neither "
        "applies weights, decay or the threshold"
    )

    def prepare(self, graph):
        import igraph

        super().prepare(graph)
        # A list of pairs: igraph reads it twice as fast as an (m, 2) array.
        edges = list(zip(_sources(graph).tolist(), graph.indices.tolist(), strict=True))
        self.network = igraph.Graph(n=graph.num_nodes, edges=edges, directed=True)

    def full_wave(self):
        reached = np.zeros(self.graph.num_nodes, bool)
        reached[self.network.bfs(0, mode="out")[0]] = True
        edges = _reached_edges(self.graph, reached)
        return lambda: self.network.bfs(0, mode="out"), edges

    def recall(self, cue_ids, threshold):
        hoods = self.network.neighborhood(
            cue_ids.tolist(), order=RECALL_HOPS, mode="out"
        )
        touched = np.unique(np.concatenate([np.asarray(h) for h in hoods]))
        return touched.size, None

    def close(self):
        super().close()
        self.network = None


class Networkit(System):
    """NetworKit: BFS as the full wave; it has no thresholded spread."""

    name = "networkit"
    package = "networkit"
    note = "unweighted BFS from node 0 over every reachable edge, no arithmetic"
    unsupported = {
        "recall": "no depth-limited or thresholded traversal from a set of "
        "sources; a full BFS would measure the graph, not a recall",
        "neural_recall": NO_NEURAL_MODEL,
    }

    def prepare(self, graph):
        import networkit

        super().prepare(graph)
        self.nk = networkit
        self.network = networkit.Graph(graph.num_nodes, weighted=True, directed=True)
        sources = _sources(graph).astype(np.uint64)
        targets = graph.indices.astype(np.uint64)
        weights = graph.weights.astype(np.float64)
        self.network.addEdges((weights, (sources, targets)))

    def _bfs(self):
        search = self.nk.distance.BFS(self.network, 0, storePaths=False)
        search.run()
        return search

    def full_wave(self):
        distances = np.asarray(self._bfs().getDistances())
        edges = _reached_edges(self.graph, distances < np.finfo(np.float64).max)
        return self._bfs, edges

    def close(self):
        super().close()
        self.network = None


class Networkx(System):
    """networkx: the pulse model written over ``G.adj`` in plain Python."""

    name = "networkx"
    package = "networkx"
    max_nodes = NETWORKX_MAX_NODES
    skip_reason = "pure Python: larger graphs take minutes per repeat"
    note = "DiGraph; dict-of-dicts loops in pure Python"

    def prepare(self, graph):
        import networkx

        super().prepare(graph)
        self.network = networkx.DiGraph()
        self.network.add_nodes_from(range(graph.num_nodes))
        self.network.add_weighted_edges_from(
            zip(
                _sources(graph).tolist(),
                graph.indices.tolist(),
                graph.weights.tolist(),
                strict=True,
            )
        )

    def _wave(self, wave, threshold):
        arrived = {}
        adjacency = self.network.adj
        for node, x in wave.items():
            if x < threshold:
                continue
            out = DECAY * x
            for neighbour, attributes in adjacency[node].items():
                arrived[neighbour] = (
                    arrived.get(neighbour, 0.0) + out * attributes["weight"]
                )
        return arrived

    def full_wave(self):
        wave = dict.fromkeys(self.network, 1.0)
        return lambda: self._wave(wave, 0.0), self.network.number_of_edges()

    def recall(self, cue_ids, threshold):
        wave = dict.fromkeys(cue_ids.tolist(), 1.0)
        total = dict(wave)
        for _ in range(RECALL_HOPS):
            wave = self._wave(wave, threshold)
            if not wave:
                break
            for node, x in wave.items():
                total[node] = total.get(node, 0.0) + x
        return len(total), None

    def close(self):
        super().close()
        self.network = None


#: The system names the command line accepts, in table order.
SYSTEMS = (
    "engine",
    "reference",
    "reference-kernel",
    "scipy",
    "graphblas",
    "igraph",
    "networkit",
    "networkx",
)

_ADAPTERS = {
    "reference": Reference,
    "reference-kernel": ReferenceKernel,
    "scipy": Scipy,
    "graphblas": GraphBLAS,
    "igraph": Igraph,
    "networkit": Networkit,
    "networkx": Networkx,
}


def make_systems(names=SYSTEMS, actors=(1,)):
    """Adapters for ``names``; the engine gives one adapter per actor count."""
    unknown = set(names) - set(SYSTEMS)
    if unknown:
        raise ValueError(f"unknown systems {sorted(unknown)}; known: {SYSTEMS}")
    systems = []
    for name in SYSTEMS:
        if name not in names:
            continue
        if name == "engine":
            systems.extend(Engine(k) for k in actors)
        else:
            systems.append(_ADAPTERS[name]())
    return systems
