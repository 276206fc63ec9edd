"""Changing the graph an engine serves: new weights and new associations.

The engine keeps updates in its shards (weights in place, new
associations in a per-shard delta) and merges the delta into a new CSR
when it is full. Whatever the path, every later spread must equal the
reference's spread over the graph with the changes applied, which these
tests build independently from an edge list.
"""

import os
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from leaks import assert_same
from test_engine import AUTO, CUES, EDGES, spread_and_check

import engram_actors.engine as engine_module
from engram_actors import (
    Engine,
    Graph,
    GraphError,
    UnknownNodeError,
    generators,
    io,
    reference,
)
from engram_actors.config import NeuralConfig, SpreadConfig
from shm.segments import SHM_DIR

pytestmark = [
    pytest.mark.usefixtures("leaves_nothing_behind"),
    pytest.mark.skipif(
        not os.path.isdir(SHM_DIR), reason="needs POSIX shared memory in /dev/shm"
    ),
]


def applied(graph, src, dst, weight):
    """The graph with the updates applied, built from scratch: the first
    edge of an existing pair takes the weight, new pairs are added."""
    edges = {}
    order = []
    s = np.repeat(np.arange(graph.num_nodes), np.diff(graph.indptr))
    for u, v, w in zip(s.tolist(), graph.indices.tolist(), graph.weights.tolist(),
                       strict=True):  # fmt: skip
        order.append([u, v, w])
        edges.setdefault((u, v), len(order) - 1)
    for u, v, w in zip(src, dst, weight, strict=True):
        at = edges.get((int(u), int(v)))
        if at is None:
            order.append([int(u), int(v), float(np.float32(w))])
            edges[(int(u), int(v))] = len(order) - 1
        else:
            order[at][2] = float(np.float32(w))
    u, v, w = (np.array(column) for column in zip(*order, strict=True)) if order else (
        np.zeros(0, int), np.zeros(0, int), np.zeros(0))  # fmt: skip
    # Stable by source then destination: a pair's parallel edges keep
    # their order, and new pairs never meet an existing one.
    return Graph.from_edges(u, v, w, num_nodes=graph.num_nodes, duplicates="keep",
                            signed=graph.signed)  # fmt: skip


@st.composite
def update_cases(draw):
    n = draw(st.integers(2, 80))
    m = draw(st.integers(0, 5 * n))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    signed = draw(st.booleans())
    low = -1.0 if signed else 0.0
    graph = Graph.from_edges(
        rng.integers(0, n, m),
        rng.integers(0, n, m),
        rng.uniform(low, 1.0, m).round(2),
        num_nodes=n,
        duplicates="keep",
        signed=signed,
    )
    batches = []
    for _ in range(draw(st.integers(1, 3))):
        k = draw(st.integers(0, 3 * n))
        keys = np.unique(rng.integers(0, n * n, k))
        if m and draw(st.booleans()):  # some existing pairs too
            s = np.repeat(np.arange(n), np.diff(graph.indptr))
            pick = rng.integers(0, m, min(m, 10))
            keys = np.unique(np.concatenate([keys, s[pick] * n + graph.indices[pick]]))
        batches.append((keys // n, keys % n, rng.uniform(low, 1.0, keys.size).round(3)))
    return graph, batches


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(update_cases(), st.sampled_from(["delta", "merge"]))
def test_spreads_after_updates_match_the_reference_on_the_changed_graph(case, room):
    graph, batches = case
    configs = [SpreadConfig(threshold=0.0, max_hops=4), NeuralConfig(max_cycles=4)]
    capacity = engine_module.delta_capacity if room == "delta" else lambda m, a: 0
    cues = {0: 1.0, graph.num_nodes - 1: 2.0}
    for actors in (1, 2, 3):
        expected_graph = graph
        with (
            mock.patch.object(engine_module, "delta_capacity", capacity),
            Engine(graph, actors) as engine,
        ):
            for src, dst, weight in batches:
                expected_graph = applied(expected_graph, src, dst, weight)
                report = engine.associate(src, dst, weight)
                assert report["updated"] + report["created"] == src.size
                assert report["merged"] == (room == "merge" and report["created"] > 0)
                np.testing.assert_array_equal(
                    engine.graph.indptr, expected_graph.indptr
                )
                np.testing.assert_array_equal(
                    engine.graph.indices, expected_graph.indices
                )
                np.testing.assert_array_equal(
                    engine.graph.weights, expected_graph.weights
                )
                for config in configs:
                    if config is configs[0] and expected_graph.has_negative_weights:
                        continue
                    expected = reference.spread(expected_graph, cues, config)
                    for where, direction in (
                        (AUTO, "auto"),
                        (EDGES, "pull"),
                        (EDGES, "push"),
                        (CUES, "auto"),
                    ):
                        spread_and_check(
                            engine, cues, config, expected, where, direction
                        )


def test_shared_push_reads_the_delta_too():
    graph = generators.generate("random", 2000, seed=1)
    rng = np.random.default_rng(2)
    keys = np.unique(rng.integers(0, 2000 * 2000, 3000))
    src, dst, weight = keys // 2000, keys % 2000, rng.random(keys.size)
    config = SpreadConfig(threshold=0.0, max_hops=3)
    with Engine(graph, 2, push="shared") as engine:
        engine.associate(src, dst, weight)
        expected = reference.spread(applied(graph, src, dst, weight), {0: 1.0}, config)
        engine.pull_edges = 2**62
        with mock.patch.object(engine_module, "HAND_OVER_EDGES", 0):
            result = engine.spread({0: 1.0}, config)
        assert result.stats.runner == "engine (2 actors)"
        np.testing.assert_array_equal(result.nodes, expected.nodes)
        np.testing.assert_allclose(result.activation, expected.activation, rtol=1e-5)


def test_changes_survive_a_restart_and_a_save_and_load(tmp_path):
    graph = generators.generate("small-world", 3000, seed=4)
    src, dst, weight = np.array([0, 0, 5]), np.array([1500, 2999, 6]), [0.9, 0.8, 0.1]
    config = SpreadConfig(threshold=0.0, max_hops=3)
    with Engine(graph, 2) as engine:
        engine.associate(src, dst, weight)
        before = engine.spread({0: 1.0}, config)
        assert before.activation_of(1500) > 0
        engine.restart()
        assert_same(engine.spread({0: 1.0}, config), before)
        path = tmp_path / "changed.npz"
        io.save(engine.graph, path)
    loaded = io.load(path)
    assert_same(reference.spread(loaded, {0: 1.0}, config), before)


def test_bad_updates_are_refused_before_anything_changes():
    graph = Graph.from_edges([0, 1], [1, 2], [1.0, 1.0])
    with Engine(graph, 1) as engine:
        cases = [
            (([0], [3], [1.0]), UnknownNodeError, r"targets\[0\] is 3"),
            (([-1], [1], [1.0]), UnknownNodeError, r"sources\[0\] is -1"),
            (([0], [1], [-0.5]), GraphError, r"weights\[0\] is -0.5.*>= 0"),
            (([0], [1], [np.nan]), GraphError, r"weights\[0\] is nan"),
            (([0, 0], [1, 1], [1.0, 2.0]), GraphError, "0 -> 1 is given twice"),
            (([0], [1, 2], [1.0]), GraphError, "one length"),
            (([0.5], [1], [1.0]), GraphError, "integer node ids"),
        ]
        for args, error, message in cases:
            with pytest.raises(error, match=message):
                engine.associate(*args)
        assert engine.graph is graph
        assert_same(engine.spread({0: 1.0}), reference.spread(graph, {0: 1.0}))
