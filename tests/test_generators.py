"""Synthetic memory graphs: reproducibility, statistics against theory and
networkx, weights, dispatch by name, and every way a parameter can be wrong.

Statistical checks compare means over a few fixed seeds and allow several
standard errors, computed from the expected or the observed spread, so they
test the model and not the luck of one draw.
"""

import math

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engram_actors import ConfigError, Graph
from engram_actors.generators import (
    TOPOLOGIES,
    barabasi_albert,
    erdos_renyi,
    generate,
    hierarchical,
    watts_strogatz,
)

# How many standard errors a mean may stray before a check fails: about one
# chance in 1.7 million for a normal statistic.
Z = 5.0


def sources(g):
    """Source of every edge, in CSR order."""
    return np.repeat(np.arange(g.num_nodes), g.out_degree)


def undirected(g):
    """The graph as an undirected networkx graph (edge directions dropped)."""
    nx_graph = nx.Graph()
    nx_graph.add_nodes_from(range(g.num_nodes))
    nx_graph.add_edges_from(zip(sources(g).tolist(), g.indices.tolist(), strict=True))
    return nx_graph


def clustering(g):
    return nx.average_clustering(undirected(g))


def assert_simple(g):
    """No self-loops and no repeated edge (rows strictly ascending)."""
    src = sources(g)
    assert not np.any(src == g.indices)
    same_row = src[1:] == src[:-1]
    assert np.all(np.diff(g.indices.astype(np.int64))[same_row] > 0)


def assert_symmetric(g):
    back = g.reverse()
    assert np.array_equal(back.indptr, g.indptr)
    assert np.array_equal(back.indices, g.indices)
    assert np.array_equal(back.weights, g.weights)


def assert_same_mean(ours, theirs, slack=0.0):
    """Means of two samples agree within Z standard errors (plus ``slack``)."""
    ours, theirs = np.asarray(ours, float), np.asarray(theirs, float)
    error = math.sqrt(ours.var(ddof=1) / ours.size + theirs.var(ddof=1) / theirs.size)
    assert abs(ours.mean() - theirs.mean()) <= Z * error + slack


def ring_distance(u, v, n):
    gap = np.abs(u - v)
    return np.minimum(gap, n - gap)


ALL = [
    ("erdos_renyi", lambda seed, **w: erdos_renyi(500, 6, seed=seed, **w)),
    ("watts_strogatz", lambda seed, **w: watts_strogatz(500, 6, 0.2, seed=seed, **w)),
    ("barabasi_albert", lambda seed, **w: barabasi_albert(500, 3, seed=seed, **w)),
    ("hierarchical", lambda seed, **w: hierarchical(500, seed=seed, **w)),
]
ALL_IDS = [name for name, _ in ALL]
ALL_MAKERS = [make for _, make in ALL]


# -- reproducibility ---------------------------------------------------------


@pytest.mark.parametrize("make", ALL_MAKERS, ids=ALL_IDS)
def test_same_seed_gives_identical_arrays(make):
    first, again = make(11), make(11)
    for name in ("indptr", "indices", "weights"):
        assert np.array_equal(getattr(first, name), getattr(again, name))


@pytest.mark.parametrize("make", ALL_MAKERS, ids=ALL_IDS)
def test_different_seeds_give_different_graphs(make):
    one, other = make(1), make(2)
    assert not (
        np.array_equal(one.indices, other.indices)
        and np.array_equal(one.weights, other.weights)
    )


@pytest.mark.parametrize("make", ALL_MAKERS, ids=ALL_IDS)
def test_a_generator_seed_is_used_and_advanced(make):
    rng = np.random.default_rng(5)
    from_rng = make(rng)
    assert np.array_equal(from_rng.indices, make(np.random.default_rng(5)).indices)
    # The caller's generator moved on, so the next graph differs.
    assert not np.array_equal(make(rng).weights, from_rng.weights)
    assert make(None).num_nodes == 500


# -- Erdős–Rényi -------------------------------------------------------------


@pytest.mark.parametrize("n, avg_degree", [(3000, 10), (2000, 2.5), (1, 0)])
def test_erdos_renyi_edge_count_is_exact(n, avg_degree):
    g = erdos_renyi(n, avg_degree, seed=3)
    assert g.num_nodes == n
    assert g.num_edges == round(n * avg_degree)
    assert g.out_degree.mean() == round(n * avg_degree) / n
    assert_simple(g)


def test_erdos_renyi_degree_variance_is_hypergeometric():
    n, avg_degree = 5000, 10
    for seed in range(3):
        g = erdos_renyi(n, avg_degree, seed=seed)
        m, pairs, slots = g.num_edges, n * (n - 1), n - 1
        share = slots / pairs
        expected = m * share * (1 - share) * (pairs - m) / (pairs - 1)
        # Sample variance of n near-Poisson values: its variance is about
        # (mu4 - sigma**4) / n with mu4 = 3 lam**2 + lam.
        spread = math.sqrt((2 * expected**2 + expected) / n)
        assert abs(g.out_degree.var() - expected) <= Z * spread


def test_erdos_renyi_clustering_is_the_edge_density():
    n, avg_degree = 3000, 10
    values = [clustering(erdos_renyi(n, avg_degree, seed=s)) for s in range(4)]
    # A pair is joined, in either direction, with probability 1 - (1 - q)**2.
    q = avg_degree / (n - 1)
    density = 1 - (1 - q) ** 2
    # About 1.3k triangles per graph: 3% relative error each, 1.5% on the
    # mean of four; 10% is more than 6 standard errors.
    assert np.mean(values) == pytest.approx(density, rel=0.10)


@pytest.mark.parametrize("m", [4, 9])  # sparse path, then the complement path
def test_erdos_renyi_picks_every_pair_equally_often(m):
    n, runs = 4, 2000
    counts = np.zeros((n, n))
    for seed in range(runs):
        g = erdos_renyi(n, m / n, seed=seed)
        np.add.at(counts, (sources(g), g.indices), 1)
    share = m / (n * (n - 1))
    off_diagonal = counts[~np.eye(n, dtype=bool)] / runs
    assert np.all(np.diag(counts) == 0)
    spread = math.sqrt(share * (1 - share) / runs)
    assert np.all(np.abs(off_diagonal - share) <= Z * spread)


def test_erdos_renyi_complete_graph():
    g = erdos_renyi(30, 29, seed=0)
    assert g.num_edges == 30 * 29
    assert_simple(g)


# -- Watts–Strogatz ----------------------------------------------------------


def test_watts_strogatz_without_rewiring_is_the_ring_lattice():
    n, k = 200, 6
    g = watts_strogatz(n, k, 0.0, seed=4)
    for u in (0, 1, 100, n - 1):
        ring = sorted((u + j) % n for j in (-3, -2, -1, 1, 2, 3))
        assert g.neighbors(u)[0].tolist() == ring
    assert clustering(g) == pytest.approx(3 * (k - 2) / (4 * (k - 1)))
    assert_symmetric(g)


@pytest.mark.parametrize("n, k, p", [(1000, 10, 0.1), (1000, 6, 0.3), (400, 4, 1.0)])
def test_watts_strogatz_degree_symmetry_and_rewired_share(n, k, p):
    g = watts_strogatz(n, k, p, seed=8)
    assert g.num_edges == n * k
    assert g.out_degree.mean() == k
    assert_symmetric(g)
    assert_simple(g)
    # Rewired edges never land on a ring neighbour, so the share of edges
    # left on the lattice estimates 1 - p.
    on_lattice = ring_distance(sources(g), g.indices, n) <= k // 2
    edges = n * k // 2
    spread = math.sqrt(p * (1 - p) / edges)
    assert abs(on_lattice.mean() - (1 - p)) <= Z * spread


@pytest.mark.parametrize("n, k, p", [(1000, 10, 0.1), (1000, 6, 0.3)])
def test_watts_strogatz_clustering_matches_networkx_and_theory(n, k, p):
    seeds = range(5)
    ours = [clustering(watts_strogatz(n, k, p, seed=s)) for s in seeds]
    theirs = [
        nx.average_clustering(nx.watts_strogatz_graph(n, k, p, seed=s)) for s in seeds
    ]
    # Our rewiring never reuses a lattice pair; networkx's may. That moves
    # about k / n of the targets, so allow 1% of C on top of sampling error.
    expected = 3 * (k - 2) / (4 * (k - 1)) * (1 - p) ** 3
    assert_same_mean(ours, theirs, slack=0.01 * expected)
    # The formula is a mean-field estimate of the ratio of triangles to
    # triads; the mean of local coefficients runs 2 to 4% above it at these
    # sizes, so allow 5% on top of the sampling error.
    error = np.std(ours, ddof=1) / math.sqrt(len(ours))
    assert abs(np.mean(ours) - expected) <= Z * error + 0.05 * expected


@pytest.mark.parametrize("n, k", [(5, 4), (7, 4), (9, 6), (12, 2)])
def test_watts_strogatz_crowded_rings_still_give_simple_graphs(n, k):
    for seed in range(20):
        g = watts_strogatz(n, k, 1.0, seed=seed)
        assert g.num_edges == n * k
        assert_simple(g)
        assert_symmetric(g)
    # With k = n - 1 every pair is on the lattice: nothing can move.
    if k == n - 1:
        assert g.num_edges == n * (n - 1)


# -- Barabási–Albert ---------------------------------------------------------


@pytest.mark.parametrize("n, m", [(2000, 3), (500, 1), (50, 10), (2, 1)])
def test_barabasi_albert_structure(n, m):
    g = barabasi_albert(n, m, seed=6)
    assert g.num_edges == 2 * m * (n - m)
    assert g.out_degree.mean() == pytest.approx(2 * m * (n - m) / n)
    assert_symmetric(g)
    assert_simple(g)
    # Every node after the seed star brought m edges; the newest has no more.
    assert g.out_degree[m + 1 :].min(initial=m) >= m
    assert g.out_degree[-1] == m
    if m == 1:
        assert nx.is_tree(undirected(g))


def test_barabasi_albert_degree_tail_matches_networkx():
    n, m, seeds = 2000, 3, range(20)

    def tail(degree):
        degree = np.asarray(degree)
        return [*(np.mean(degree >= f * m) for f in (2, 4, 8)), degree.max()]

    ours = np.array([tail(barabasi_albert(n, m, seed=s).out_degree) for s in seeds])
    theirs = np.array(
        [
            tail([d for _, d in nx.barabasi_albert_graph(n, m, seed=s).degree()])
            for s in seeds
        ]
    )
    for column in range(ours.shape[1]):
        assert_same_mean(ours[:, column], theirs[:, column])
    # Bollobás et al.: P(K >= k) = m (m + 1) / (k (k + 1)) in the limit.
    limit = [m * (m + 1) / (f * m * (f * m + 1)) for f in (2, 4, 8)]
    assert ours[:, :3].mean(axis=0) == pytest.approx(limit, rel=0.15)


# -- hierarchical ------------------------------------------------------------


def leaf_share(g, cluster_size=16):
    return np.mean(sources(g) // cluster_size == g.indices // cluster_size)


@pytest.mark.parametrize("avg_degree", [10, 7.3, 0.5])
def test_hierarchical_degrees_are_as_documented(avg_degree):
    n = 3000
    g = hierarchical(n, avg_degree=avg_degree, seed=2)
    assert g.num_edges == round(n * avg_degree)
    low = math.floor(avg_degree)
    assert set(np.unique(g.out_degree).tolist()) <= {low, low + 1}
    assert_simple(g)


@pytest.mark.parametrize("locality", [0.0, 0.5, 0.75, 1.0])
def test_hierarchical_level_shares_follow_locality(locality):
    n, size, branching = 4096, 16, 4
    g = hierarchical(n, locality=locality, seed=9)
    src = sources(g)
    leaf = src // size == g.indices // size
    group = src // (size * branching) == g.indices // (size * branching)
    edges = g.num_edges
    for observed, share in (
        (leaf.mean(), locality),
        ((group & ~leaf).mean(), (1 - locality) * locality),
    ):
        assert abs(observed - share) <= Z * math.sqrt(share * (1 - share) / edges)


def test_hierarchical_leaf_cap_moves_the_excess_out_one_level():
    n, size = 1024, 16
    g = hierarchical(n, avg_degree=20, cluster_size=size, locality=1.0, seed=1)
    src = sources(g)
    leaf = src // size == g.indices // size
    group = src // (size * 4) == g.indices // (size * 4)
    assert np.all(np.bincount(src[leaf], minlength=n) == size - 1)
    assert np.all(np.bincount(src[group & ~leaf], minlength=n) == 20 - (size - 1))
    assert_simple(g)


def test_hierarchical_clustering_is_far_above_random():
    n, avg_degree = 4096, 10
    ours = clustering(hierarchical(n, avg_degree=avg_degree, seed=4))
    random = clustering(erdos_renyi(n, avg_degree, seed=4))
    assert ours > 0.3
    assert ours > 20 * random


@pytest.mark.parametrize("n", [1, 2, 15, 17, 1000, 1025, 1089])
def test_hierarchical_partial_groups(n):
    # 17 and 1089 = 1088 + 1 leave a last cluster of one node: its leaf ring
    # is empty, so its edges move out.
    avg_degree = min(10, n - 1)
    g = hierarchical(n, avg_degree=avg_degree, seed=3)
    assert g.num_edges == round(n * avg_degree)
    assert_simple(g)


# -- every generator, tiny random parameters ---------------------------------


@settings(max_examples=60, deadline=None)
@given(
    topology=st.sampled_from(TOPOLOGIES),
    n=st.integers(3, 60),
    degree_share=st.floats(0, 0.99),
    p=st.floats(0, 1),
    cluster_size=st.integers(2, 9),
    branching=st.integers(2, 4),
    seed=st.integers(0, 2**32),
)
def test_any_small_graph_is_simple_and_exact(
    topology, n, degree_share, p, cluster_size, branching, seed
):
    avg_degree = degree_share * n
    params = {}
    if topology == "small-world":
        params = {"p": p}
    if topology == "hierarchical":
        params = {"cluster_size": cluster_size, "branching": branching, "locality": p}
    try:
        g = generate(topology, n, avg_degree=avg_degree, seed=seed, **params)
    except ConfigError as error:
        # Only a lattice degree rounded up to n may be refused.
        assert topology == "small-world" and "k is" in str(error)
        return
    assert isinstance(g, Graph) and g.num_nodes == n
    assert_simple(g)
    if topology in ("small-world", "scale-free"):
        assert_symmetric(g)
    if topology in ("random", "hierarchical"):
        assert g.num_edges == round(n * min(avg_degree, n - 1))


# -- weights -----------------------------------------------------------------


@pytest.mark.parametrize("make", ALL_MAKERS, ids=ALL_IDS)
@pytest.mark.parametrize("low, high", [(0.1, 1.0), (2.0, 2.5), (0.0, 1e-3)])
def test_weights_are_uniform_in_the_half_open_range(make, low, high):
    g = make(3, weight=(low, high))
    w = g.weights
    assert w.dtype == np.float32
    assert w.min() >= np.float32(low) and w.max() < np.float32(high)
    # Uniform: the mean within Z standard errors of the midpoint. Undirected
    # graphs repeat each weight twice, hence the factor 2 in the variance.
    spread = (high - low) / math.sqrt(12) * math.sqrt(2 / w.size)
    assert abs(w.mean(dtype=np.float64) - (low + high) / 2) <= Z * spread


@pytest.mark.parametrize("make", ALL_MAKERS, ids=ALL_IDS)
@pytest.mark.parametrize("weight", [0.5, 2, (0.25, 0.25)])
def test_constant_weights(make, weight):
    value = weight[0] if isinstance(weight, tuple) else weight
    g = make(3, weight=weight)
    assert np.all(g.weights == np.float32(value))


# -- generate ------------------------------------------------------------------


@pytest.mark.parametrize(
    "topology, direct",
    [
        ("random", lambda: erdos_renyi(300, 8, seed=1)),
        ("small-world", lambda: watts_strogatz(300, 8, 0.1, seed=1)),
        ("scale-free", lambda: barabasi_albert(300, 4, seed=1)),
        ("hierarchical", lambda: hierarchical(300, avg_degree=8, seed=1)),
    ],
)
def test_generate_dispatches_by_name(topology, direct):
    g, expected = generate(topology, 300, avg_degree=8, seed=1), direct()
    assert np.array_equal(g.indices, expected.indices)
    assert np.array_equal(g.weights, expected.weights)


@pytest.mark.parametrize(
    "avg_degree, k", [(7, 8), (6.9, 6), (9, 10), (10, 10), (1, 2), (0, 2)]
)
def test_generate_small_world_rounds_to_an_even_degree(avg_degree, k):
    g = generate("small-world", 100, avg_degree=avg_degree, seed=0, p=0.0)
    assert g.out_degree.mean() == k


@pytest.mark.parametrize("avg_degree, m", [(10, 5), (7.9, 3), (1, 1), (0, 1)])
def test_generate_scale_free_takes_half_the_degree(avg_degree, m):
    g = generate("scale-free", 100, avg_degree=avg_degree, seed=0)
    assert g.num_edges == 2 * m * (100 - m)


def test_generate_passes_the_topology_parameters():
    ring = generate("small-world", 50, avg_degree=4, seed=0, p=0.0)
    assert ring.neighbors(0)[0].tolist() == [1, 2, 48, 49]
    g = generate("hierarchical", 256, seed=0, cluster_size=8, branching=2, locality=1.0)
    assert leaf_share(g, cluster_size=8) == pytest.approx(7 / 10)
    assert set(TOPOLOGIES) == {"random", "small-world", "scale-free", "hierarchical"}


# -- bad parameters ------------------------------------------------------------

BAD = [
    (erdos_renyi, (0, 1), {}, r"n is 0; expected an integer in \[1, 2147483647\]"),
    (erdos_renyi, (2**31, 1), {}, r"n is 2147483648; expected .*\[1, 2147483647\]"),
    (erdos_renyi, (10.0, 1), {}, r"n is 10\.0; expected an integer"),
    (erdos_renyi, (True, 1), {}, r"n is True; expected an integer"),
    (erdos_renyi, (10, -1), {}, r"avg_degree is -1\.0; expected .* in \[0, 9\]"),
    (erdos_renyi, (10, 10), {}, r"avg_degree is 10\.0; expected .* in \[0, 9\]"),
    (erdos_renyi, (10, math.nan), {}, r"avg_degree is nan; expected a finite"),
    (erdos_renyi, (10, "5"), {}, r"avg_degree is '5'; expected a finite number"),
    (watts_strogatz, (2, 2, 0.1), {}, r"n is 2; expected an integer in \[3, "),
    (watts_strogatz, (10, 3, 0.1), {}, r"k is 3; expected an even integer in \[2, 9\]"),
    (watts_strogatz, (10, 0, 0.1), {}, r"k is 0; expected an integer in \[2, 9\]"),
    (watts_strogatz, (10, 10, 0.1), {}, r"k is 10; expected an integer in \[2, 9\]"),
    (watts_strogatz, (10, 4, 1.5), {}, r"p is 1\.5; expected .* in \[0\.0, 1\.0\]"),
    (watts_strogatz, (10, 4, -0.1), {}, r"p is -0\.1; expected .* in \[0\.0, 1\.0\]"),
    (barabasi_albert, (1, 1), {}, r"n is 1; expected an integer in \[2, "),
    (barabasi_albert, (10, 0), {}, r"m is 0; expected an integer in \[1, 9\]"),
    (barabasi_albert, (10, 10), {}, r"m is 10; expected an integer in \[1, 9\]"),
    (hierarchical, (100,), {"avg_degree": 100}, r"avg_degree is 100\.0; .*\[0, 99\]"),
    (hierarchical, (100,), {"cluster_size": 1}, r"cluster_size is 1; .*\[2, "),
    (hierarchical, (100,), {"branching": 1}, r"branching is 1; .*\[2, "),
    (hierarchical, (100,), {"locality": 1.2}, r"locality is 1\.2; .*\[0\.0, 1\.0\]"),
    (hierarchical, (100,), {"locality": -0.5}, r"locality is -0\.5; .*\[0\.0, 1\.0\]"),
]
for maker, args in ((erdos_renyi, (10, 2)), (hierarchical, (100,))):
    BAD += [
        (
            maker,
            args,
            {"weight": (0.5, 0.1)},
            r"weight is \(0\.5, 0\.1\); .*low <= high",
        ),
        (maker, args, {"weight": -1}, r"weight is -1\.0; expected .*\[0\.0, inf\)"),
        (maker, args, {"weight": (-0.1, 1)}, r"weight low is -0\.1; expected"),
        (
            maker,
            args,
            {"weight": (0.1, math.inf)},
            r"weight high is inf; expected a fin",
        ),
        (maker, args, {"weight": math.nan}, r"weight is nan; expected a finite"),
        (maker, args, {"weight": 1e39}, r"weight 1e\+39 overflows float32"),
        (
            maker,
            args,
            {"weight": (1, 2, 3)},
            r"weight is \(1, 2, 3\); expected one num",
        ),
        (maker, args, {"weight": "heavy"}, r"weight is 'heavy'; expected a finite"),
        (maker, args, {"seed": -1}, r"seed is -1; expected None, an integer >= 0"),
        (maker, args, {"seed": "abc"}, r"seed is 'abc'; expected None, an integer"),
    ]


@pytest.mark.parametrize("function, args, kwargs, message", BAD)
def test_bad_parameters_are_named_with_their_range(function, args, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        function(*args, **kwargs)


@pytest.mark.parametrize(
    "topology, n, kwargs, message",
    [
        ("lattice", 10, {}, r"topology is 'lattice'; expected one of random, small"),
        ("random", 10, {"p": 0.1}, r"parameter 'p' is not known to topology 'random'"),
        (
            "small-world",
            10,
            {"cluster_size": 4},
            r"parameter 'cluster_size' .* 'small-world'; its extra parameters are: p",
        ),
        ("random", 10, {"avg_degree": 10}, r"avg_degree is 10\.0; .*\[0, 10\)"),
        ("random", 10, {"avg_degree": -2}, r"avg_degree is -2\.0; .*\[0, 10\)"),
        ("random", 0, {}, r"n is 0; expected an integer in \[1, "),
        ("small-world", 50, {"p": 2}, r"p is 2\.0; expected .* in \[0\.0, 1\.0\]"),
        ("small-world", 10, {"avg_degree": 9.5}, r"k is 10; expected .*\[2, 9\]"),
        ("hierarchical", 50, {"locality": 2}, r"locality is 2\.0; .*\[0\.0, 1\.0\]"),
    ],
)
def test_generate_refuses_bad_names_and_parameters(topology, n, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        generate(topology, n, **kwargs)
