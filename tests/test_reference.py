"""The sequential reference against two independent oracles."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from naive import naive_spread

from engram_actors import Graph, SpreadConfig
from engram_actors.reference import run_resolved, spread


def random_graph(rng, n, avg_degree):
    m = int(n * avg_degree)
    src = rng.integers(0, n, m)
    dst = rng.integers(0, n, m)
    weight = rng.uniform(0.0, 1.0, m).astype(np.float32)
    return src, dst, weight


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("fan", [False, True])
def test_linear_model_matches_scipy_power_series(seed, fan):
    """With threshold 0 and no refractory: a = sum_p (d W^T N)^p x_0."""
    rng = np.random.default_rng(seed)
    n = 400
    src, dst, weight = random_graph(rng, n, 4)
    graph = Graph.from_edges(src, dst, weight, num_nodes=n)
    cue_ids = rng.choice(n, 10, replace=False)
    cue_x = rng.uniform(0.5, 1.0, 10)
    decay, hops = 0.7, 5

    w = sp.csr_matrix(
        (graph.weights.astype(np.float64), graph.indices, graph.indptr), (n, n)
    )
    if fan:
        degree = np.maximum(graph.out_degree, 1)
        w = sp.diags(1.0 / degree) @ w
    step = decay * w.T.tocsr()
    x = np.zeros(n)
    x[cue_ids] = cue_x
    expected = x.copy()
    for _ in range(hops):
        x = step @ x
        expected += x

    result = spread(
        graph,
        (cue_ids, cue_x),
        decay=decay,
        threshold=0.0,
        max_hops=hops,
        fan_normalize=fan,
    )
    np.testing.assert_allclose(result.to_dense(n), expected, rtol=2e-5, atol=1e-6)
    # Touched means reached: exactly the nodes with activation.
    np.testing.assert_array_equal(result.nodes, np.flatnonzero(expected > 0))


graph_cases = st.integers(1, 40).flatmap(
    lambda n: st.tuples(
        st.just(n),
        st.lists(
            st.tuples(
                st.integers(0, n - 1),
                st.integers(0, n - 1),
                st.sampled_from([0.0, 0.1, 0.5, 1.0, 0.3333, 2.0]),
            ),
            max_size=120,
        ),
        st.dictionaries(
            st.integers(0, n - 1),
            st.sampled_from([0.0, 0.05, 0.5, 1.0, 3.0]),
            min_size=1,
            max_size=5,
        ),
    )
)
configs = st.builds(
    SpreadConfig,
    decay=st.sampled_from([0.25, 0.5, 0.8, 1.0]),
    threshold=st.sampled_from([0.0, 0.01, 0.1, 0.4]),
    max_hops=st.integers(0, 6),
    fan_normalize=st.booleans(),
    refractory_waves=st.integers(0, 7),
    max_activation=st.sampled_from([None, 0.5, 2.0]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graph_cases, configs)
def test_thresholded_model_matches_naive_exactly(case, config):
    n, edges, cues = case
    src = [e[0] for e in edges]
    dst = [e[1] for e in edges]
    weight = [e[2] for e in edges]
    graph = Graph.from_edges(
        np.array(src, np.int64),
        np.array(dst, np.int64),
        np.array(weight),
        num_nodes=n,
        duplicates="keep",
    )
    result = spread(graph, cues, config)
    expected, waves = naive_spread(n, src, dst, weight, cues, **config.to_dict())

    assert result.nodes.tolist() == sorted(expected)
    assert result.activation.tolist() == [expected[v][0] for v in sorted(expected)]
    assert result.first_hop.tolist() == [expected[v][1] for v in sorted(expected)]
    assert result.stats.waves == waves


@pytest.mark.parametrize("cue_count", [1, 40, 3000])
def test_dense_and_sparse_waves_agree_bit_for_bit(cue_count):
    rng = np.random.default_rng(7)
    n = 3000
    src, dst, weight = random_graph(rng, n, 8)
    graph = Graph.from_edges(src, dst, weight, num_nodes=n, duplicates="keep")
    cue_ids = np.sort(rng.choice(n, cue_count, replace=False)).astype(np.int32)
    cue_x = rng.uniform(0.1, 1.0, cue_count).astype(np.float32)
    config = SpreadConfig(threshold=0.05, max_hops=4)

    dense = run_resolved(graph, cue_ids, cue_x, config, dense_edges=0)
    sparse = run_resolved(graph, cue_ids, cue_x, config, dense_edges=2**62)
    chosen = run_resolved(graph, cue_ids, cue_x, config)
    for other in (sparse, chosen):
        np.testing.assert_array_equal(dense.nodes, other.nodes)
        np.testing.assert_array_equal(dense.activation, other.activation)
        np.testing.assert_array_equal(dense.first_hop, other.first_hop)
    assert dense.stats.fired_per_wave == sparse.stats.fired_per_wave

    expected, waves = naive_spread(
        n,
        src.tolist(),
        dst.tolist(),
        weight.tolist(),
        dict(zip(cue_ids.tolist(), cue_x.tolist(), strict=True)),
        **config.to_dict(),
    )
    assert dense.stats.waves == waves
    assert dense.nodes.tolist() == sorted(expected)
    assert dense.activation.tolist() == [expected[v][0] for v in sorted(expected)]


def test_workspace_is_left_clear_between_spreads():
    rng = np.random.default_rng(3)
    n = 500
    graph = Graph.from_edges(*random_graph(rng, n, 5), num_nodes=n)
    first = spread(graph, {1: 1.0, 2: 0.5}, threshold=0.0, max_hops=4)
    spread(graph, (np.arange(n), np.ones(n)), max_hops=3)
    again = spread(graph, {1: 1.0, 2: 0.5}, threshold=0.0, max_hops=4)
    np.testing.assert_array_equal(first.nodes, again.nodes)
    np.testing.assert_array_equal(first.activation, again.activation)
    np.testing.assert_array_equal(first.first_hop, again.first_hop)


def test_refractory_at_most_once_when_period_covers_all_waves():
    # A 3-cycle: without refractory, node 0 fires again at wave 4.
    graph = Graph.from_edges([0, 1, 2], [1, 2, 0], 1.0)
    free = spread(graph, {0: 1.0}, decay=1.0, threshold=0.0, max_hops=6)
    once = spread(
        graph, {0: 1.0}, decay=1.0, threshold=0.0, max_hops=6, refractory_waves=6
    )
    assert free.stats.nodes_fired == 6
    assert once.stats.nodes_fired == 3
    assert once.stats.waves == 3
    assert once.activation.tolist() == [2.0, 1.0, 1.0]


def test_threshold_stops_faint_activation():
    graph = Graph.from_edges([0, 1, 2], [1, 2, 3], 1.0)
    result = spread(graph, {0: 1.0}, decay=0.5, threshold=0.3, max_hops=10)
    # 1 receives 0.5 and fires; 2 receives 0.25 < 0.3 and does not.
    assert result.nodes.tolist() == [0, 1, 2]
    assert result.stats.waves == 2
    assert result.stats.fired_per_wave == (1, 1)


def test_max_activation_caps_final_values():
    graph = Graph.from_edges([0, 1], [1, 1], 1.0)
    result = spread(graph, {0: 5.0, 1: 5.0}, max_activation=2.0, max_hops=1)
    assert result.activation.max() == np.float32(2.0)


def test_top_orders_by_activation_then_id_and_uses_labels():
    graph = Graph.from_edges(
        [0, 0, 0], [1, 2, 3], [0.5, 0.5, 1.0], labels=["a", "b", "c", "d"]
    )
    result = spread(graph, {"a": 1.0}, decay=1.0, max_hops=1)
    assert result.top(3) == [("a", 1.0), ("d", 1.0), ("b", 0.5)]
    assert result.top(2, ids=True) == [(0, 1.0), (3, 1.0)]
    assert result.labels == ["a", "b", "c", "d"]
    assert result.activation_of(2) == 0.5
    assert result.activation_of(99) == 0.0
    with pytest.raises(ValueError, match="k must be an integer"):
        result.top(-1)


def test_result_memory_is_proportional_to_touched_nodes():
    rng = np.random.default_rng(1)
    n = 200_000
    graph = Graph.from_edges(*random_graph(rng, n, 2), num_nodes=n)
    result = spread(graph, {0: 1.0}, max_hops=2)
    held = result.nodes.nbytes + result.activation.nbytes + result.first_hop.nbytes
    assert held == 12 * len(result)
    assert len(result) < 100


def test_stats_count_edges_and_waves():
    graph = Graph.from_edges([0, 0, 1, 2], [1, 2, 3, 3], 1.0)
    result = spread(graph, {0: 1.0}, threshold=0.0, max_hops=5)
    assert result.stats.waves == 3
    assert result.stats.fired_per_wave == (1, 2, 1)
    assert result.stats.edges_traversed == 2 + 2 + 0
    assert result.stats.nodes_fired == 4
    assert result.stats.wall_time_s > 0
    # Node 3 gets 0.8 * 0.8 along each of two paths.
    top = result.to_dict(k=2)["top"]
    path = np.float32(0.8) * np.float32(0.8)
    assert top[0] == {"id": 3, "activation": float(path + path)}
    assert top[1] == {"id": 0, "activation": 1.0}


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 2**31 - 1), max_size=3000),
    st.integers(1, 31),
)
def test_radix_sort_of_node_ids_matches_numpy(values, id_bits):
    from engram_actors.models.pulse import sort_ids

    ids = np.array(values, np.uint32) & np.uint32((1 << id_bits) - 1)
    expected = np.sort(ids)
    scratch = np.empty(ids.size, np.uint32)
    sort_ids(ids, ids.size, scratch, id_bits)
    np.testing.assert_array_equal(ids, expected)


def test_threads_spreading_on_one_graph_get_the_sequential_results():
    """The shared workspace is locked; a busy one gives way to a private one."""
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(11)
    n = 20_000
    graph = Graph.from_edges(*random_graph(rng, n, 6), num_nodes=n)
    cue_sets = [
        {int(u): 1.0 for u in rng.choice(n, 10, replace=False)} for _ in range(40)
    ]
    config = SpreadConfig(threshold=0.05, max_hops=4)
    expected = [spread(graph, cues, config) for cues in cue_sets]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda c: spread(graph, c, config), cue_sets * 5))
    for i, result in enumerate(results):
        want = expected[i % len(cue_sets)]
        np.testing.assert_array_equal(result.nodes, want.nodes)
        np.testing.assert_array_equal(result.activation, want.activation)
