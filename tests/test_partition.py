"""Chunks and shards: every node in one chunk, every chunk in one shard,
shards balanced by in-edges plus nodes."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engram_actors import generators
from scheduler.partition import CHUNK_EDGES, partition


def check_partition(p, in_indptr, actors):
    bounds, shards = p.chunk_bounds, p.shard_chunks
    n = len(in_indptr) - 1
    assert bounds[0] == 0 and bounds[-1] == n
    assert np.all(np.diff(bounds) >= 0)
    assert n == 0 or np.all(np.diff(bounds) > 0)  # no empty chunk but for n=0
    assert len(shards) == actors + 1
    assert shards[0] == 0 and shards[-1] == p.num_chunks
    assert np.all(np.diff(shards) >= 0)
    # Shards cover the nodes in order, without gaps or overlaps.
    ranges = [p.shard_nodes(k) for k in range(actors)]
    assert ranges[0][0] == 0 and ranges[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False))


@settings(max_examples=60, deadline=None)
@given(
    degrees=st.lists(st.integers(0, 50), min_size=0, max_size=300),
    actors=st.integers(1, 8),
    chunk_edges=st.integers(1, 64),
)
def test_chunks_and_shards_cover_every_node_once(degrees, actors, chunk_edges):
    in_indptr = np.concatenate(([0], np.cumsum(degrees))).astype(np.int64)
    p = partition(in_indptr, actors, chunk_edges=chunk_edges)
    check_partition(p, in_indptr, actors)
    # A chunk passes its target weight by at most its last node.
    weight = np.diff(in_indptr) + 1
    for first, last in zip(p.chunk_bounds[:-1], p.chunk_bounds[1:], strict=True):
        if first == last:  # the one empty chunk of a graph without nodes
            continue
        assert weight[first:last].sum() - weight[last - 1] < chunk_edges


@pytest.mark.parametrize("topology", ["random", "scale-free", "hierarchical"])
def test_shards_are_balanced_by_edges_not_nodes(topology):
    graph = generators.generate(topology, 100_000, seed=5)
    in_indptr = graph.reverse().indptr
    for actors in (2, 3, 4):
        p = partition(in_indptr, actors)
        check_partition(p, in_indptr, actors)
        weights = p.shard_weights(in_indptr)
        ideal = weights.sum() / actors
        # Within one chunk (plus its heaviest node) of an equal share.
        slack = CHUNK_EDGES + int(np.diff(in_indptr).max()) + 1
        assert np.all(np.abs(weights - ideal) <= slack), (weights, ideal)


def test_a_hub_makes_node_counts_unequal_but_edges_equal():
    # Node 0 has half of all in-edges: an equal split by nodes would give
    # one actor nearly all the work.
    degrees = np.ones(200_001, np.int64)
    degrees[0] = 200_000
    in_indptr = np.concatenate(([0], np.cumsum(degrees)))
    p = partition(in_indptr, 2)
    first, second = (p.shard_nodes(k) for k in range(2))
    assert first[1] - first[0] < (second[1] - second[0]) / 2
    weights = p.shard_weights(in_indptr)
    assert abs(weights[0] - weights[1]) <= CHUNK_EDGES + 200_000


def test_more_actors_than_chunks_leave_some_shards_empty():
    in_indptr = np.arange(11, dtype=np.int64)  # 10 nodes, one edge each
    p = partition(in_indptr, 8)
    check_partition(p, in_indptr, 8)
    assert p.num_chunks == 1
    assert sorted(np.diff(p.shard_chunks).tolist()) == [0] * 7 + [1]


@pytest.mark.parametrize(
    "actors, chunk_edges, message",
    [(0, 10, "actors must be at least 1"), (2, 0, "chunk_edges must be at least 1")],
)
def test_bad_arguments_are_refused(actors, chunk_edges, message):
    with pytest.raises(ValueError, match=message):
        partition(np.array([0, 1]), actors, chunk_edges=chunk_edges)
