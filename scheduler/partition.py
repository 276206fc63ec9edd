"""How the graph is cut into chunks and shards, balanced by edge count.

A *chunk* is a run of consecutive destination nodes whose in-edges, plus
one per node, add up to about :data:`CHUNK_EDGES`. Chunks are the unit of
work of a pull wave and of the frontier bookkeeping: the nodes a chunk's
wave makes fire are listed in the chunk's own stretch of the frontier
arrays, so reading the chunks in order reads the frontier ascending, no
matter which actor processed which chunk.

A *shard* is a run of consecutive chunks that one actor owns: it holds
their in-edges in shared memory (first-touched by that actor, so they sit
on its NUMA node), settles their nodes in push waves, and starts each pull
wave with their chunks in its work deque. Shards are balanced by the same
weight, in-edges plus nodes, not by node count: on a scale-free graph a
few hub nodes carry most of the edges.

Every node belongs to exactly one chunk and every chunk to exactly one
shard, which is what lets the engine write a node's state with plain
stores.
"""

import dataclasses

import numpy as np

__all__ = ["CHUNK_EDGES", "Partition", "partition"]

#: Target weight (in-edges plus nodes) of a chunk. A chunk is what a thief
#: steals in a pull wave, so it must carry enough work that taking it from
#: a deque (a compare-and-swap, about 50 ns with a contending thief) stays
#: far below its run time: 16,384 edges take 30 to 60 us on one core.
#: Smaller chunks balance better on skewed graphs; the per-wave loop over
#: all chunks and the deques' size grow with their number.
CHUNK_EDGES = 16_384


@dataclasses.dataclass(frozen=True)
class Partition:
    """Chunks and shards of one graph for a number of actors.

    Attributes
    ----------
    chunk_bounds : ndarray of int64, shape (chunks + 1,)
        Chunk ``c`` covers nodes ``chunk_bounds[c]`` to
        ``chunk_bounds[c + 1] - 1``.
    shard_chunks : ndarray of int64, shape (actors + 1,)
        Actor ``k`` owns chunks ``shard_chunks[k]`` to
        ``shard_chunks[k + 1] - 1`` (possibly none on a tiny graph).
    """

    chunk_bounds: np.ndarray
    shard_chunks: np.ndarray

    @property
    def num_chunks(self):
        return len(self.chunk_bounds) - 1

    @property
    def num_actors(self):
        return len(self.shard_chunks) - 1

    def shard_nodes(self, actor):
        """First and one-past-last node of ``actor``'s shard."""
        first, last = self.shard_chunks[actor], self.shard_chunks[actor + 1]
        return int(self.chunk_bounds[first]), int(self.chunk_bounds[last])

    def shard_weights(self, in_indptr):
        """Each shard's weight (in-edges plus nodes), for reports and tests."""
        nodes = self.chunk_bounds[self.shard_chunks]
        edges = np.asarray(in_indptr, np.int64)[nodes]
        return np.diff(edges) + np.diff(nodes)


def partition(in_indptr, actors, chunk_edges=CHUNK_EDGES):
    """Cut a graph into chunks and shards.

    Parameters
    ----------
    in_indptr : array of int
        Row offsets of the in-edge (reverse) CSR: node ``v`` has
        ``in_indptr[v + 1] - in_indptr[v]`` in-edges.
    actors : int
        Shards to make, >= 1.
    chunk_edges : int
        Target chunk weight.

    Returns
    -------
    Partition

    Examples
    --------
    >>> p = partition(np.array([0, 0, 10, 10, 30]), 2, chunk_edges=12)
    >>> p.chunk_bounds.tolist(), p.shard_chunks.tolist()
    ([0, 2, 4], [0, 1, 2])
    """
    if actors < 1:
        raise ValueError(f"actors must be at least 1, got {actors}")
    if chunk_edges < 1:
        raise ValueError(f"chunk_edges must be at least 1, got {chunk_edges}")
    in_indptr = np.asarray(in_indptr, np.int64)
    num_nodes = len(in_indptr) - 1
    # Weight before node v: its in-edges and one per node.
    weight = in_indptr + np.arange(num_nodes + 1, dtype=np.int64)
    total = int(weight[-1])

    # A chunk ends at the first node boundary at or past each multiple of
    # the target weight.
    targets = np.arange(1, total // chunk_edges + 1, dtype=np.int64) * chunk_edges
    cuts = np.searchsorted(weight, targets, side="left")
    bounds = np.unique(np.concatenate(([0], cuts, [num_nodes])))
    if num_nodes == 0:
        bounds = np.array([0, 0], np.int64)
    bounds = bounds.astype(np.int64)

    # Shards: cut the chunk sequence where the running weight passes each
    # k / actors share of the total, at the nearest chunk boundary.
    chunk_weight = weight[bounds]
    shard_targets = np.arange(1, actors, dtype=np.float64) * (total / actors)
    inner = np.searchsorted(chunk_weight, shard_targets, side="left")
    # Step back one boundary where that one is closer to the target.
    previous = np.maximum(inner - 1, 0)
    closer = np.abs(chunk_weight[previous] - shard_targets) < np.abs(
        chunk_weight[np.minimum(inner, len(bounds) - 1)] - shard_targets
    )
    inner = np.where(closer, previous, inner)
    num_chunks = len(bounds) - 1
    shard_chunks = np.concatenate(([0], np.clip(inner, 0, num_chunks), [num_chunks]))
    shard_chunks = np.maximum.accumulate(shard_chunks).astype(np.int64)
    return Partition(bounds, shard_chunks)
