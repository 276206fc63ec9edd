"""Seeded generators of synthetic memory graphs in four topologies.

Every generator draws all its random numbers from one ``numpy.random.Generator``
made from ``seed`` and works on whole arrays at once; the one sequential
process, preferential attachment, runs in a compiled kernel. Each returns a
directed :class:`~engram_actors.graph.Graph`. The undirected models store
each edge in both directions with one shared weight, so a node's out-degree
is its undirected degree. The same seed gives a bit-identical graph.

``docs/graphs.md`` sets out the constructions, their expected statistics and
measured generation times.
"""

import math
from numbers import Integral, Real

import numba as nb
import numpy as np

from .errors import ConfigError
from .graph import MAX_NODES, Graph

__all__ = [
    "TOPOLOGIES",
    "barabasi_albert",
    "erdos_renyi",
    "generate",
    "hierarchical",
    "watts_strogatz",
]

#: The topology names that :func:`generate` understands.
TOPOLOGIES = ("random", "small-world", "scale-free", "hierarchical")

# The keyword parameters each topology takes through ``generate`` besides
# ``n``, ``avg_degree``, ``seed`` and ``weight``.
_TOPOLOGY_PARAMS = {
    "random": (),
    "small-world": ("p",),
    "scale-free": (),
    "hierarchical": ("cluster_size", "branching", "locality"),
}


# Weights are stored as float32; a larger weight would become infinite.
_FLOAT32_MAX = float(np.finfo(np.float32).max)


# -- parameter checks ------------------------------------------------------


def _check_int(name, value, low, high):
    """Return ``value`` as an int, or raise unless ``low <= value <= high``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Integral):
        raise ConfigError(
            f"{name} is {value!r}; expected an integer in [{low}, {high}]"
        )
    if not low <= value <= high:
        raise ConfigError(f"{name} is {value}; expected an integer in [{low}, {high}]")
    return int(value)


def _check_real(name, value, low, high, high_open=False):
    """Return ``value`` as a float, or raise unless it lies in the range."""
    closing = ")" if high_open else "]"
    allowed = f"a finite number in [{low}, {high}{closing}"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
        raise ConfigError(f"{name} is {value!r}; expected {allowed}")
    value = float(value)
    above = value >= high if high_open else value > high
    if not math.isfinite(value) or value < low or above:
        raise ConfigError(f"{name} is {value}; expected {allowed}")
    return value


def _check_n(n):
    return _check_int("n", n, 1, MAX_NODES)


def _as_generator(seed):
    """The numpy Generator behind ``seed`` (None, a non-negative int, or one)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        return np.random.default_rng()
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, Integral):
        raise ConfigError(
            f"seed is {seed!r}; expected None, an integer >= 0 or a "
            "numpy.random.Generator"
        )
    if seed < 0:
        raise ConfigError(
            f"seed is {seed}; expected None, an integer >= 0 or a Generator"
        )
    return np.random.default_rng(int(seed))


def _weight_sampler(weight):
    """Check ``weight`` and return a function ``(rng, size) -> float32 array``.

    ``weight`` is one number (every edge gets it) or a pair ``(low, high)``
    (uniform float32 in ``[low, high)``; a pair with ``low == high`` is a
    constant).
    """
    if isinstance(weight, (tuple, list)):
        if len(weight) != 2:
            raise ConfigError(
                f"weight is {weight!r}; expected one number or a pair (low, high)"
            )
        low, high = (
            _check_real(f"weight {side}", value, 0.0, math.inf, high_open=True)
            for side, value in zip(("low", "high"), weight, strict=True)
        )
        if low > high:
            raise ConfigError(
                f"weight is ({low}, {high}); expected 0 <= low <= high < inf"
            )
    else:
        low = high = _check_real("weight", weight, 0.0, math.inf, high_open=True)
    if high > _FLOAT32_MAX:
        raise ConfigError(
            f"weight {high} overflows float32; expected at most {_FLOAT32_MAX:.4g}"
        )
    low32, high32 = np.float32(low), np.float32(high)

    if low32 == high32:
        return lambda rng, size: np.full(size, low32, np.float32)

    span32 = np.float32(high32 - low32)
    # Float32 rounding can carry low + span * u (u < 1) up to high itself; the
    # largest float32 below high keeps the interval half-open.
    below_high = np.nextafter(high32, np.float32(0))

    def draw(rng, size):
        unit = rng.random(size, dtype=np.float32)
        return np.minimum(low32 + span32 * unit, below_high)

    return draw


# -- sampling distinct integers -----------------------------------------------


def _sorted_contains(sorted_values, queries):
    """Mask of ``queries`` found in the ascending array ``sorted_values``."""
    if sorted_values.size == 0:
        return np.zeros(queries.shape, bool)
    at = np.searchsorted(sorted_values, queries)
    np.minimum(at, sorted_values.size - 1, out=at)
    return sorted_values[at] == queries


def _sorted_distinct(values):
    """The distinct entries of ``values``, ascending.

    ``np.unique`` takes a hash-table path in numpy 2.4 that needed 11 s for
    10M int64 keys on our 2-core machine; a sort and a neighbour test take
    0.2 s.
    """
    ordered = np.sort(values)
    return ordered[_first_of_runs(ordered)]


def _ragged_arange(starts, lengths):
    """Concatenate ``arange(s, s + l)`` over the pairs of starts and lengths."""
    total = int(lengths.sum())
    ends = np.cumsum(lengths)
    shift = np.repeat(starts - (ends - lengths), lengths)
    return shift + np.arange(total, dtype=np.int64)


def _draw_distinct_keys(rng, low, span, count):
    """Draw ``count[g]`` distinct keys uniform in ``[low[g], low[g] + span[g])``.

    The ranges must be disjoint and ascending, and ``count <= span / 2``.
    Each round draws, with replacement, as many keys as each range still
    lacks and keeps the ones not seen before; a draw is new with probability
    at least 1/2, so the shortfall about halves each round. The rule treats
    every key of a range alike, so the kept set is a uniform random subset
    of the right size. Returns the keys ascending.
    """
    # The keys kept by each round, each run ascending; merged at the end.
    runs = []
    deficit = count.copy()
    needy = np.flatnonzero(deficit)
    while needy.size:
        # Ascending ranges: sorting the draws leaves their groups in order.
        group = np.repeat(needy, deficit[needy])
        if low.size == 1:
            draws = rng.integers(0, span[0], size=group.size)
            draws += low[0]
        else:
            draws = _uniform_below(rng, span[group])
            draws += low[group]
        draws.sort()
        new = _first_of_runs(draws)
        for run in runs:
            new[new] = ~_sorted_contains(run, draws[new])
        runs.append(draws[new])
        deficit -= np.bincount(group[new], minlength=count.size)
        needy = needy[deficit[needy] > 0]
    return _merge_sorted(runs)


def _merge_sorted(runs):
    """Merge ascending arrays into one.

    A stable sort (timsort for int64) finds the runs and merges them, in
    about a third of the time a fresh quicksort takes.
    """
    if not runs:
        return np.zeros(0, np.int64)
    merged = np.concatenate(runs)
    if len(runs) > 1:
        merged.sort(kind="stable")
    return merged


def _uniform_below(rng, bound):
    """One uniform integer in ``[0, b)`` for each ``b`` in ``bound``.

    ``floor(u * b)`` with a uniform double ``u < 1`` is below ``b`` for any
    ``b < 2**53`` (the product rounds to at most the double below ``b``),
    and its bias, about ``b / 2**53``, is far below sampling noise for the
    bounds used here (at most ``2**31``). It takes half the time of
    ``Generator.integers`` with an array of bounds.
    """
    draws = rng.random(bound.size)
    draws *= bound
    return draws.astype(np.int64)


def _first_of_runs(ordered):
    """Mask of the entries of an ascending array that differ from the one before."""
    first = np.empty(ordered.size, bool)
    first[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    return first


def _sample_distinct(rng, low, span, count):
    """For each range ``g``, ``count[g]`` distinct keys uniform in
    ``[low[g], low[g] + span[g])``.

    The ranges must be disjoint and ascending; the keys come back ascending.
    A range that wants more than half of its keys is drawn as its
    complement: the keys to leave out are sampled, the rest enumerated. So
    every rejection round keeps at least half of its draws, and the number
    of rounds stays near log2 of the sample size.
    """
    low = np.asarray(low, np.int64)
    span = np.asarray(span, np.int64)
    count = np.asarray(count, np.int64)
    dense = 2 * count > span
    wanted = np.where(dense, span - count, count)
    keys = _draw_distinct_keys(rng, low, span, wanted)
    if not dense.any():
        return keys
    in_dense = np.repeat(dense, wanted)
    everything = _ragged_arange(low[dense], span[dense])
    kept = np.ones(everything.size, bool)
    kept[np.searchsorted(everything, keys[in_dense])] = False
    return _merge_sorted([keys[~in_dense], everything[kept]])


def _graph_from_sorted(n, src, dst, weights):
    """The graph of distinct edges already sorted by source, then destination.

    The edges are in CSR order, so the rows are cut straight out of them;
    :meth:`Graph.from_edges` would sort them again (two counting sorts, 0.8 s
    of the 1.4 s that a random graph with 10M edges took).
    """
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(src, minlength=n), out=indptr[1:])
    return Graph(indptr, dst.astype(np.int32), weights, validate=False)


def _symmetric_graph(n, src, dst, weights):
    """A graph with each undirected edge ``{src, dst}`` stored both ways."""
    return Graph.from_edges(
        np.concatenate((src, dst)),
        np.concatenate((dst, src)),
        np.concatenate((weights, weights)),
        num_nodes=n,
        duplicates="error",
    )


# -- Erdős–Rényi -------------------------------------------------------------


def erdos_renyi(n, avg_degree, *, seed=None, weight=(0.1, 1.0)):
    """A directed random graph with a fixed number of edges, G(n, m).

    Parameters
    ----------
    n : int
        Number of nodes, in ``[1, 2**31 - 1]``.
    avg_degree : float
        Mean out-degree, in ``[0, n - 1]``; the graph has
        ``m = round(n * avg_degree)`` edges.
    seed : None, int or numpy.random.Generator
        Source of randomness; the same int gives the same graph.
    weight : float or (float, float)
        One weight for every edge, or ``(low, high)``: uniform float32 in
        ``[low, high)``.

    Returns
    -------
    Graph
        ``m`` distinct edges, no self-loops.

    Raises
    ------
    ConfigError
        With the parameter, its value and the allowed range.

    Notes
    -----
    The ``n (n - 1)`` ordered pairs ``u != v`` are numbered by the code
    ``c = u (n - 1) + v'`` with ``v' = v`` if ``v < u`` and ``v - 1`` if
    ``v > u``. The generator draws ``m`` codes with replacement, drops
    repeats, and draws again as many as are missing until it has ``m``
    distinct codes: a uniform choice among the ``C(n (n - 1), m)`` edge sets
    (Erdős & Rényi 1959). When ``m`` exceeds half of all pairs it draws the
    pairs to leave out instead. Weights are then drawn edge by edge in the
    order of the codes.

    The out-degree of a node is hypergeometric with mean ``m / n`` and
    variance close to the binomial ``d (1 - d / (n - 1))``, ``d = m / n``.

    Examples
    --------
    >>> g = erdos_renyi(1000, 8, seed=7)
    >>> g.num_nodes, g.num_edges
    (1000, 8000)
    >>> g.degree_stats()["self_loops"]
    0
    """
    n = _check_n(n)
    avg_degree = _check_real("avg_degree", avg_degree, 0, n - 1)
    draw_weights = _weight_sampler(weight)
    rng = _as_generator(seed)

    num_edges = round(n * avg_degree)
    pairs = n * (n - 1)
    if num_edges:
        codes = _sample_distinct(rng, [0], [pairs], [num_edges])
    else:
        codes = np.zeros(0, np.int64)
    src = codes // (n - 1) if n > 1 else codes
    dst = codes - src * (n - 1)
    dst += dst >= src
    return _graph_from_sorted(n, src, dst, draw_weights(rng, num_edges))


# -- Watts–Strogatz ----------------------------------------------------------


def watts_strogatz(n, k, p, *, seed=None, weight=(0.1, 1.0)):
    """A small-world graph: a ring lattice with a fraction of edges rewired.

    Parameters
    ----------
    n : int
        Number of nodes, in ``[3, 2**31 - 1]``.
    k : int
        Lattice degree, even, in ``[2, n - 1]``: each node is first joined
        to the ``k / 2`` nearest nodes on either side of the ring.
    p : float
        Rewiring probability, in ``[0, 1]``.
    seed : None, int or numpy.random.Generator
        Source of randomness; the same int gives the same graph.
    weight : float or (float, float)
        One weight for every edge, or ``(low, high)``: uniform float32 in
        ``[low, high)``. Both directions of an edge share one weight.

    Returns
    -------
    Graph
        Symmetric: ``n k / 2`` undirected edges, each stored both ways, so
        the mean out-degree is exactly ``k``.

    Raises
    ------
    ConfigError
        With the parameter, its value and the allowed range.

    Notes
    -----
    Lattice edge ``(u, u + j mod n)``, ``1 <= j <= k / 2``, is chosen for
    rewiring with probability ``p``, all choices drawn at once. A chosen
    edge keeps ``u`` and gets a new end ``w``, drawn uniformly among the
    nodes that are farther than ``k / 2`` from ``u`` around the ring and
    not yet joined to ``u`` by a rewired edge. All chosen edges draw at
    once; when several make the same pair, the first (in the order of
    ``u``, then ``j``) keeps it and only the others draw again, in a new
    round, among the nodes then free. An edge whose ``u`` has no free node
    left keeps its lattice end.

    The textbook process (Watts & Strogatz 1998) rewires the edges one at a
    time and lets a new end land on any node not adjacent to ``u`` at that
    moment, including a ring neighbour whose lattice edge was rewired away
    earlier. Here lattice pairs are never targets, so a rewiring never
    recreates a lattice edge. The two differ only in those ``O(k / n)``
    targets per rewiring; for ``k << n`` the degree and clustering
    statistics agree within sampling error.

    The clustering coefficient is about
    ``C(p) = 3 (k - 2) / (4 (k - 1)) (1 - p)**3`` (Barrat & Weigt 2000),
    exact at ``p = 0``.

    Examples
    --------
    >>> g = watts_strogatz(100, 4, 0.0, seed=1)
    >>> g.neighbors(0)[0].tolist()
    [1, 2, 98, 99]
    >>> g.num_edges
    400
    """
    n = _check_int("n", n, 3, MAX_NODES)
    k = _check_int("k", k, 2, n - 1)
    if k % 2:
        raise ConfigError(f"k is {k}; expected an even integer in [2, {n - 1}]")
    p = _check_real("p", p, 0.0, 1.0)
    draw_weights = _weight_sampler(weight)
    rng = _as_generator(seed)

    half = k // 2
    src = np.repeat(np.arange(n, dtype=np.int64), half)
    dst = (src + np.tile(np.arange(1, half + 1, dtype=np.int64), n)) % n
    chosen = np.flatnonzero(rng.random(src.size) < p)
    _rewire(rng, n, k, src, dst, chosen)
    return _symmetric_graph(n, src, dst, draw_weights(rng, src.size))


def _rewire(rng, n, k, src, dst, pending):
    """Give each edge in ``pending`` a new end off the lattice, in place.

    See :func:`watts_strogatz` for the rules. A node ``w`` off the lattice of
    ``u`` is known by its *offset* ``(w - u - k / 2 - 1) mod n``, in
    ``[0, n - 1 - k)``; seen from ``w``, ``u`` has offset
    ``n - 2 - k - offset``.
    """
    half = k // 2
    free = n - 1 - k  # nodes off the lattice of each node
    # Keys u * free + offset of the rewired partners of every node, both ways
    # round, ascending; and how many partners each node has.
    partner_keys = np.zeros(0, np.int64)
    partners = np.zeros(n, np.int64)
    while pending.size:
        ends = src[pending]
        still_free = free - partners[ends]
        pending, ends = pending[still_free > 0], ends[still_free > 0]
        if pending.size == 0:
            break
        rank = rng.integers(0, still_free[still_free > 0])
        offset = _free_offset(partner_keys, partners, free, ends, rank)
        new = (ends + half + 1 + offset) % n
        accept = _first_occurrences(np.minimum(ends, new) * n + np.maximum(ends, new))

        dst[pending[accept]] = new[accept]
        ends, new, offset = ends[accept], new[accept], offset[accept]
        fresh = np.concatenate((ends * free + offset, new * free + (free - 1 - offset)))
        fresh.sort()
        partner_keys = np.insert(
            partner_keys, np.searchsorted(partner_keys, fresh), fresh
        )
        partners += np.bincount(np.concatenate((ends, new)), minlength=n)
        pending = pending[~accept]


def _free_offset(partner_keys, partners, free, ends, rank):
    """The ``rank``-th offset, counting up, that ``ends`` has no partner at.

    With a node's partner offsets ``t_0 < t_1 < ...``, ``t_i - i`` offsets
    are free below ``t_i``, so the wanted offset is ``rank`` plus the number
    of ``i`` with ``t_i - i <= rank``. The keys ``u * free + t_i - i`` stay
    ascending, so one binary search counts them for every edge at once.
    """
    if partner_keys.size == 0:
        return rank
    block_start = np.cumsum(partners) - partners
    owner = partner_keys // free
    free_below = partner_keys - (np.arange(partner_keys.size) - block_start[owner])
    passed = np.searchsorted(free_below, ends * free + rank, side="right")
    return rank + passed - block_start[ends]


def _first_occurrences(keys):
    """Mask of the entries whose key does not occur earlier in ``keys``."""
    ordered = np.sort(keys)
    repeated = _sorted_distinct(ordered[1:][ordered[1:] == ordered[:-1]])
    first = np.ones(keys.size, bool)
    if repeated.size:
        suspects = np.flatnonzero(_sorted_contains(repeated, keys))
        # A stable sort puts the earliest entry of each key first.
        order = suspects[np.argsort(keys[suspects], kind="stable")]
        runs = keys[order]
        later = np.zeros(order.size, bool)
        later[1:] = runs[1:] == runs[:-1]
        first[order[later]] = False
    return first


# -- Barabási–Albert ---------------------------------------------------------


def barabasi_albert(n, m, *, seed=None, weight=(0.1, 1.0)):
    """A scale-free graph grown by preferential attachment.

    Parameters
    ----------
    n : int
        Number of nodes, in ``[2, 2**31 - 1]``.
    m : int
        Edges brought by each new node, in ``[1, n - 1]``.
    seed : None, int or numpy.random.Generator
        Source of randomness; the same int gives the same graph.
    weight : float or (float, float)
        One weight for every edge, or ``(low, high)``: uniform float32 in
        ``[low, high)``. Both directions of an edge share one weight.

    Returns
    -------
    Graph
        Symmetric: ``m (n - m)`` undirected edges, each stored both ways;
        mean out-degree ``2 m (n - m) / n``.

    Raises
    ------
    ConfigError
        With the parameter, its value and the allowed range.

    Notes
    -----
    The graph starts as a star: node 0 joined to nodes ``1 .. m``. Nodes
    ``m + 1 .. n - 1`` then arrive one at a time, and each joins ``m``
    distinct earlier nodes, drawn one after another with probability
    proportional to their current degree; a node drawn twice is drawn
    again (Barabási & Albert 1999). Degrees are frozen while a node picks
    its ``m`` targets. This is the process of networkx's
    ``barabasi_albert_graph``, so the two agree in distribution.

    The draws run in a compiled kernel on Numba's own Mersenne Twister,
    seeded inside the kernel with a 32-bit integer taken from the numpy
    generator, so the graph is reproducible from ``seed``. The weights come
    from the numpy generator afterwards.

    The degree distribution tends to
    ``P(k) = 2 m (m + 1) / (k (k + 1) (k + 2))`` for ``k >= m``
    (Bollobás et al. 2001), a power law with exponent 3; the largest degree
    grows like ``m sqrt(n)``.

    Examples
    --------
    >>> g = barabasi_albert(1000, 3, seed=5)
    >>> g.num_edges == 2 * 3 * (1000 - 3)
    True
    >>> int(g.out_degree[3:].min())
    3
    """
    n = _check_int("n", n, 2, MAX_NODES)
    m = _check_int("m", m, 1, n - 1)
    draw_weights = _weight_sampler(weight)
    rng = _as_generator(seed)

    kernel_seed = int(rng.integers(0, 2**32))
    src, dst = _preferential_attachment(n, m, kernel_seed)
    return _symmetric_graph(n, src, dst, draw_weights(rng, src.size))


@nb.njit(cache=True, nogil=True)
def _preferential_attachment(n, m, seed):
    """Grow a Barabási–Albert graph; return its undirected edges.

    ``edge_ends`` lists both ends of every edge made so far, so node ``x``
    appears there ``degree(x)`` times and a uniform pick from it is a
    degree-proportional pick of a node.
    """
    np.random.seed(seed)
    num_edges = m * (n - m)
    src = np.empty(num_edges, np.int32)
    dst = np.empty(num_edges, np.int32)
    edge_ends = np.empty(2 * num_edges, np.int32)
    # picked_by[x] is the newest node that has chosen x as a target.
    picked_by = np.full(n, -1, np.int32)

    for leaf in range(1, m + 1):
        src[leaf - 1] = leaf
        dst[leaf - 1] = 0
        edge_ends[2 * leaf - 2] = 0
        edge_ends[2 * leaf - 1] = leaf
    made = m
    for node in range(m + 1, n):
        listed = 2 * made
        for _ in range(m):
            target = edge_ends[np.random.randint(0, listed)]
            while picked_by[target] == node:
                target = edge_ends[np.random.randint(0, listed)]
            picked_by[target] = node
            src[made] = node
            dst[made] = target
            edge_ends[2 * made] = target
            edge_ends[2 * made + 1] = node
            made += 1
    return src, dst


# -- hierarchical ------------------------------------------------------------


def hierarchical(
    n,
    *,
    avg_degree=10,
    cluster_size=16,
    branching=4,
    locality=0.75,
    seed=None,
    weight=(0.1, 1.0),
):
    """Clusters of clusters: most associations stay close in a hierarchy.

    Parameters
    ----------
    n : int
        Number of nodes, in ``[1, 2**31 - 1]``.
    avg_degree : float
        Mean out-degree, in ``[0, n - 1]``; the graph has exactly
        ``round(n * avg_degree)`` edges.
    cluster_size : int
        Nodes per leaf cluster, ``>= 2``.
    branching : int
        Groups of one level per group of the next, ``>= 2``.
    locality : float
        In ``[0, 1]``: the share of a node's edges that stay in its leaf
        cluster, and of the rest the share that stays in its level-2 group,
        and so on.
    seed : None, int or numpy.random.Generator
        Source of randomness; the same int gives the same graph.
    weight : float or (float, float)
        One weight for every edge, or ``(low, high)``: uniform float32 in
        ``[low, high)``.

    Returns
    -------
    Graph
        Directed, no self-loops, no repeated edges.

    Raises
    ------
    ConfigError
        With the parameter, its value and the allowed range.

    Notes
    -----
    Write ``c`` for ``cluster_size``, ``b`` for ``branching`` and ``l`` for
    ``locality``. The level-``L`` groups cut the ids into runs of
    ``S_L = c b**(L - 1)`` consecutive ids (``S_0 = 1``: each node alone);
    the last run may be shorter. There are ``T`` levels, ``T`` the smallest
    with ``S_T >= n``, so level ``T`` is the whole graph. The *ring*
    ``R_L(u)`` is the level-``L`` group of ``u`` less its level-``L - 1``
    group: the nodes that first share a group with ``u`` at level ``L``.
    The rings ``R_1(u) .. R_T(u)`` split the other ``n - 1`` nodes.

    1. Out-degrees: every node gets ``floor(avg_degree)`` edges, and
       ``round(n * avg_degree) - n * floor(avg_degree)`` nodes, chosen
       uniformly without replacement, get one more.
    2. Levels: node ``u`` with ``d`` edges puts
       ``d_1 ~ Binomial(d, l)`` in ``R_1``, ``d_2 ~ Binomial(d - d_1, l)``
       in ``R_2``, and so on; ``R_T`` takes what is left. Each edge thus
       lands at level ``L < T`` with probability ``l (1 - l)**(L - 1)``.
    3. Caps: a ring cannot hold more edges than it has nodes (the leaf ring
       holds at most ``c - 1``). The excess of a full ring moves out to the
       next level; what the top ring cannot hold moves back in. Degrees
       are kept; only the split across levels shifts.
    4. Targets: the ``d_L`` edges of ``u`` in ``R_L(u)`` go to distinct
       nodes drawn uniformly from the ring.

    A hierarchical stochastic block model in the sense of Clauset, Moore &
    Newman (2008), with the nested modules of Ravasz & Barabási (2003).

    Examples
    --------
    >>> g = hierarchical(4096, avg_degree=8, seed=3)
    >>> g.num_edges
    32768
    >>> leaf = g.indices // 16 == np.repeat(np.arange(4096), g.out_degree) // 16
    >>> round(float(leaf.mean()), 2)
    0.75
    """
    n = _check_n(n)
    avg_degree = _check_real("avg_degree", avg_degree, 0, n - 1)
    cluster_size = _check_int("cluster_size", cluster_size, 2, MAX_NODES)
    branching = _check_int("branching", branching, 2, MAX_NODES)
    locality = _check_real("locality", locality, 0.0, 1.0)
    draw_weights = _weight_sampler(weight)
    rng = _as_generator(seed)

    # Group sizes S_0 .. S_T, capped at n (only the whole graph reaches it).
    sizes = [1, min(cluster_size, n)]
    while sizes[-1] < n:
        sizes.append(min(cluster_size * branching ** (len(sizes) - 1), n))
    rings = _Rings(n, sizes)

    degree = _hierarchical_degrees(rng, n, avg_degree)
    per_level = _split_by_level(rng, degree, locality, rings.levels)
    _cap_to_rings(per_level, rings)
    low, span, count = _ring_runs(rng, per_level, rings)
    keys = _sample_distinct(rng, low, span, count)
    # The runs are in node order, so each node's keys come out together.
    src = np.repeat(low // n, count)
    dst = keys - src * n
    return _graph_from_sorted(n, src, dst, draw_weights(rng, keys.size))


class _Rings:
    """The nested groups of :func:`hierarchical` and the rings between them."""

    def __init__(self, n, sizes):
        self.n = n
        # sizes[L] is the length of a level-L run of ids, S_0 = 1 .. S_T.
        self.sizes = sizes
        self.levels = len(sizes) - 1
        self.nodes = np.arange(n, dtype=np.int64)

    def bounds(self, level, nodes=None):
        """Ring ``R_level`` of each node as two runs of ids.

        Returns ``(outer_start, inner_start, inner_end, outer_end)``: the ring
        is ``[outer_start, inner_start)`` and ``[inner_end, outer_end)``.
        """
        nodes = self.nodes if nodes is None else nodes
        outer, inner = self.sizes[level], self.sizes[level - 1]
        outer_start = nodes // outer * outer
        inner_start = nodes // inner * inner
        inner_end = np.minimum(inner_start + inner, self.n)
        outer_end = np.minimum(outer_start + outer, self.n)
        return outer_start, inner_start, inner_end, outer_end

    def size(self, level, nodes=None):
        """Number of nodes in ring ``R_level`` of each node (or of ``nodes``)."""
        outer_start, inner_start, inner_end, outer_end = self.bounds(level, nodes)
        return (outer_end - outer_start) - (inner_end - inner_start)


def _hierarchical_degrees(rng, n, avg_degree):
    """Out-degrees summing to ``round(n * avg_degree)``, as even as can be."""
    base = math.floor(avg_degree)
    extra = round(n * avg_degree) - n * base
    degree = np.full(n, base, np.int64)
    if extra:
        degree[rng.choice(n, size=extra, replace=False)] += 1
    return degree


def _split_by_level(rng, degree, locality, levels):
    """Edges per (level - 1, node): binomial shares ``locality`` of the rest."""
    per_level = np.zeros((levels, degree.size), np.int64)
    left = degree.copy()
    for L in range(levels - 1):
        # Binomial draws only where edges are left; most nodes run out early.
        some = np.flatnonzero(left)
        if some.size == 0:
            break
        per_level[L, some] = rng.binomial(left[some], locality)
        left -= per_level[L]
    per_level[levels - 1] = left
    return per_level


def _cap_to_rings(per_level, rings):
    """Move the excess over each ring's size outwards, then back inwards."""
    levels = rings.levels
    passes = [(L, L + 1) for L in range(1, levels)]
    passes += [(L, L - 1) for L in range(levels, 1, -1)]
    for level, onto in passes:
        # Only nodes with edges at this level can overflow it.
        owner = np.flatnonzero(per_level[level - 1])
        excess = per_level[level - 1, owner] - rings.size(level, owner)
        owner, excess = owner[excess > 0], excess[excess > 0]
        per_level[level - 1, owner] -= excess
        per_level[onto - 1, owner] += excess


def _ring_runs(rng, per_level, rings):
    """Turn edge counts per ring into counts per run of ids.

    A node's ``d`` edges in a ring split between the ring's left and right
    runs hypergeometrically, as ``d`` distinct draws from the whole ring
    would. Returns ``(low, span, count)`` over the runs with edges, in the
    key space ``u * n + v`` and ascending, as :func:`_sample_distinct`
    wants.
    """
    left_runs, right_runs = [], []
    for L in range(1, rings.levels + 1):
        owner = np.flatnonzero(per_level[L - 1])
        wanted = per_level[L - 1, owner]
        outer_start, inner_start, inner_end, outer_end = rings.bounds(L, owner)
        left_span = inner_start - outer_start
        right_span = outer_end - inner_end
        on_left = rng.hypergeometric(left_span, right_span, wanted)
        left_runs.append((owner, outer_start, left_span, on_left))
        right_runs.append((owner, inner_end, right_span, wanted - on_left))

    # Outer left runs lie left of inner ones, so this order is ascending by
    # id within each node; a stable sort by node keeps it.
    runs = left_runs[::-1] + right_runs
    owner, start, span, count = (
        np.concatenate([run[i] for run in runs]) for i in range(4)
    )
    order = np.argsort(owner, kind="stable")
    order = order[count[order] > 0]
    return owner[order] * rings.n + start[order], span[order], count[order]


# -- dispatch -----------------------------------------------------------------


def generate(topology, n, *, avg_degree=10, seed=None, weight=(0.1, 1.0), **params):
    """Generate a graph of a named topology with about ``avg_degree`` edges
    per node.

    Parameters
    ----------
    topology : str
        One of :data:`TOPOLOGIES`:

        - ``"random"``: :func:`erdos_renyi` ``(n, avg_degree)``.
        - ``"small-world"``: :func:`watts_strogatz` with ``k`` the even
          number nearest ``avg_degree`` (halves round up, at least 2) and
          ``p = params.get("p", 0.1)``.
        - ``"scale-free"``: :func:`barabasi_albert` with
          ``m = max(1, avg_degree // 2)``, so the mean degree is about
          ``2 m``.
        - ``"hierarchical"``: :func:`hierarchical` with ``avg_degree`` and
          any of ``cluster_size``, ``branching``, ``locality``.
    n : int
        Number of nodes.
    avg_degree : float
        Target mean out-degree, in ``[0, n)``. ``"random"`` and
        ``"hierarchical"`` use at most ``n - 1``, as a node has no more
        distinct targets.
    seed : None, int or numpy.random.Generator
        Source of randomness; the same int gives the same graph.
    weight : float or (float, float)
        One weight for every edge, or ``(low, high)``: uniform float32 in
        ``[low, high)``.
    **params
        Extra parameters of the topology, as listed above.

    Returns
    -------
    Graph

    Raises
    ------
    ConfigError
        For an unknown topology or parameter, or one out of range.

    Examples
    --------
    >>> g = generate("small-world", 500, avg_degree=6, seed=2, p=0.2)
    >>> g.num_edges
    3000
    """
    if topology not in TOPOLOGIES:
        raise ConfigError(
            f"topology is {topology!r}; expected one of {', '.join(TOPOLOGIES)}"
        )
    allowed = _TOPOLOGY_PARAMS[topology]
    for key in params:
        if key not in allowed:
            names = ", ".join(allowed) if allowed else "none"
            raise ConfigError(
                f"parameter {key!r} is not known to topology {topology!r}; "
                f"its extra parameters are: {names}"
            )
    n = _check_n(n)
    avg_degree = _check_real("avg_degree", avg_degree, 0, n, high_open=True)
    common = {"seed": seed, "weight": weight}

    # A node has only n - 1 others to point to; the generators that keep
    # edges distinct take at most that.
    if topology == "random":
        return erdos_renyi(n, min(avg_degree, n - 1), **common)
    if topology == "small-world":
        k = max(2, 2 * math.floor(avg_degree / 2 + 0.5))
        return watts_strogatz(n, k, params.get("p", 0.1), **common)
    if topology == "scale-free":
        return barabasi_albert(n, max(1, int(avg_degree // 2)), **common)
    return hierarchical(n, avg_degree=min(avg_degree, n - 1), **params, **common)
