"""Building memory graphs, their views, and every way building can fail."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engram_actors import Graph, GraphError, UnknownNodeError
from engram_actors.graph import MAX_NODES


def test_from_edges_sorts_rows_and_keeps_weights():
    g = Graph.from_edges([2, 0, 0, 1], [0, 2, 1, 2], [0.1, 0.2, 0.3, 0.4])
    assert g.num_nodes == 3 and g.num_edges == 4
    assert g.indptr.tolist() == [0, 2, 3, 4]
    assert g.indices.tolist() == [1, 2, 2, 0]
    assert g.weights.tolist() == pytest.approx([0.3, 0.2, 0.4, 0.1])
    assert g.indptr.dtype == np.int64
    assert g.indices.dtype == np.int32
    assert g.weights.dtype == np.float32


def test_arrays_are_read_only():
    g = Graph.from_edges([0], [1])
    with pytest.raises(ValueError):
        g.weights[0] = 5.0


@pytest.mark.parametrize(
    "policy, weights, expected",
    [
        ("sum", [0.5, 0.25, 1.0], [0.75, 1.0]),
        ("max", [0.5, 0.25, 1.0], [0.5, 1.0]),
        ("keep", [0.5, 0.25, 1.0], [0.5, 0.25, 1.0]),
    ],
)
def test_duplicate_policies(policy, weights, expected):
    g = Graph.from_edges([0, 0, 1], [1, 1, 0], weights, duplicates=policy)
    assert g.weights.tolist() == expected


def test_summed_duplicates_that_overflow_float32_are_refused():
    big = float(np.finfo(np.float32).max)
    with pytest.raises(GraphError, match=r"summed duplicate weights\[0\] is inf"):
        Graph.from_edges([0, 0], [1, 1], [big, big])


def test_duplicates_error_names_the_edge():
    with pytest.raises(GraphError, match=r"edge 0 -> 1 is given more than once"):
        Graph.from_edges([0, 0], [1, 1], duplicates="error")


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 30).flatmap(
        lambda n: st.tuples(
            st.just(n),
            st.lists(
                st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=80
            ),
        )
    )
)
def test_csr_matches_a_plain_sort_and_reverse_is_the_transpose(case):
    n, edges = case
    src = np.array([e[0] for e in edges], np.int64)
    dst = np.array([e[1] for e in edges], np.int64)
    weight = np.arange(len(edges), dtype=np.float32)
    g = Graph.from_edges(src, dst, weight, num_nodes=n, duplicates="keep")
    order = np.lexsort((np.arange(len(edges)), dst, src))
    assert g.indices.tolist() == dst[order].tolist()
    assert g.weights.tolist() == weight[order].tolist()
    assert g.out_degree.tolist() == np.bincount(src, minlength=n).tolist()

    r = g.reverse()
    order = np.lexsort((np.arange(len(edges)), src, dst))
    assert r.indices.tolist() == src[order].tolist()
    assert r.weights.tolist() == weight[order].tolist()
    assert r.reverse() is g


def test_neighbors_by_id_and_label():
    g = Graph.from_edges([0, 0], [1, 2], [0.5, 1.0], labels=["x", "y", "z"])
    ids, weights = g.neighbors("x")
    assert ids.tolist() == [1, 2] and weights.tolist() == [0.5, 1.0]
    assert g.node_id("z") == 2 and g.label(2) == "z"
    assert g.neighbors(2)[0].size == 0
    assert g.out_neighbors("x")[0].tolist() == [1, 2]
    ids, weights = g.in_neighbors("z")
    assert ids.tolist() == [0] and weights.tolist() == [1.0]


def test_isolated_nodes_from_num_nodes():
    g = Graph.from_edges([0], [1], num_nodes=5)
    assert g.num_nodes == 5 and g.out_degree.tolist() == [1, 0, 0, 0, 0]


def test_degree_stats():
    g = Graph.from_edges([0, 0, 1, 2], [1, 2, 2, 2])
    stats = g.degree_stats()
    assert stats["out_degree"]["max"] == 2
    assert stats["in_degree"]["max"] == 3
    assert stats["self_loops"] == 1
    assert stats["csr_bytes"] == g.nbytes == 4 * 8 + 4 * 4 + 4 * 4


def test_ten_million_edges_build_without_per_edge_python():
    """The build path is compiled; this size would take minutes in Python."""
    rng = np.random.default_rng(0)
    n, m = 200_000, 2_000_000
    g = Graph.from_edges(
        rng.integers(0, n, m), rng.integers(0, n, m), num_nodes=n, duplicates="keep"
    )
    assert g.num_edges == m
    assert np.all(np.diff(g.indptr) >= 0)


# -- bad input -------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"src": [0, -1], "dst": [1, 0]}, r"src\[1\] is -1; node ids must be >= 0"),
        (
            {"src": [0], "dst": [5], "num_nodes": 3},
            r"dst\[0\] is 5; node ids must be in \[0, 3\)",
        ),
        ({"src": [0.5], "dst": [1]}, "src must hold integer node ids"),
        ({"src": [0, 1], "dst": [1]}, "src has 2 entries and dst has 1"),
        (
            {"src": [0, 1], "dst": [1, 0], "weight": [1.0, np.nan]},
            r"weight\[1\] is nan; association weights must be finite and >= 0",
        ),
        ({"src": [0], "dst": [1], "weight": [-0.5]}, r"weight\[0\] is -0.5"),
        ({"src": [0], "dst": [1], "weight": [np.inf]}, r"weight\[0\] is inf"),
        (
            {"src": [0], "dst": [1], "weight": [1e300]},
            r"weight \(as float32\)\[0\] is inf",
        ),
        ({"src": [0], "dst": [1], "weight": [1.0, 2.0]}, "weight has shape"),
        ({"src": [0], "dst": [1], "weight": ["a"]}, "weight must be numeric"),
        ({"src": [], "dst": []}, "the graph has no nodes"),
        ({"src": [0], "dst": [1], "num_nodes": 0}, "num_nodes is 0"),
        ({"src": [0], "dst": [1], "num_nodes": MAX_NODES + 1}, "node ids are 32-bit"),
        ({"src": [0], "dst": [1], "num_nodes": 2.0}, "num_nodes must be an integer"),
        ({"src": [0], "dst": [1], "duplicates": "merge"}, "duplicates is 'merge'"),
        (
            {"src": [0], "dst": [1], "num_nodes": 2, "labels": ["a"]},
            "labels has 1 entries; the graph has 2 nodes",
        ),
        ({"src": [0], "dst": [1], "labels": ["a", "a"]}, "label 'a' of node 1"),
        ({"src": [0], "dst": [1], "labels": ["a", ""]}, "label of node 1 is empty"),
        ({"src": [0], "dst": [1], "labels": ["a", 7]}, "labels must be str"),
    ],
)
def test_from_edges_refuses_bad_input(kwargs, message):
    with pytest.raises(GraphError, match=message):
        Graph.from_edges(**kwargs)


@pytest.mark.parametrize(
    "indptr, indices, weights, message",
    [
        ([0], [], [], "the graph has no nodes"),
        ([1, 1], [0], [1.0], r"indptr\[0\] is 1"),
        ([0, 2, 1], [0, 0], [1.0, 1.0], "indptr decreases at position 2"),
        ([0, 1], [0, 0], [1.0, 1.0], "indptr ends at 1 but there are 2"),
        ([0, 1], [3], [1.0], r"indices\[0\] is 3"),
        ([0, 1], [0], [1.0, 2.0], "2 weights for 1 edges"),
        ([0, 1], [0], [np.nan], r"weights\[0\] is nan"),
        ([[0, 1]], [0], [1.0], "indptr must be one-dimensional"),
        ([0.0, 1.0], [0], [1.0], "indptr has dtype float64"),
    ],
)
def test_csr_constructor_refuses_bad_arrays(indptr, indices, weights, message):
    with pytest.raises(GraphError, match=message):
        indices = np.array(indices, dtype=None if indices else np.int32)
        Graph(np.array(indptr), indices, np.array(weights))


@pytest.mark.parametrize(
    "node, message",
    [
        ("nope", "unknown node label 'nope'"),
        (7, r"unknown node id 7: ids are in \[0, 3\)"),
        (-1, "unknown node id -1"),
        (1.5, "neither an integer id nor a str label"),
        (True, "neither an integer id nor a str label"),
    ],
)
def test_unknown_nodes(node, message):
    g = Graph.from_edges([0, 1], [1, 2], labels=["a", "b", "c"])
    with pytest.raises(UnknownNodeError, match=message):
        g.node_id(node)


def test_label_lookup_on_unlabelled_graph():
    g = Graph.from_edges([0], [1])
    with pytest.raises(UnknownNodeError, match="this graph has no labels"):
        g.neighbors("coffee")
    assert g.label(1) is None
