"""Compiled kernels of the pulse model of spreading activation.

One wave of the model (see ``docs/model.md``)::

    F      = { u : x(u) > 0, x(u) >= threshold, u not refractory }
    x'(v)  = sum over edges u -> v with u in F, u ascending, edges in CSR
             order, of out(u) * w(u, v)
    out(u) = float32(decay * x(u)), divided by out_degree(u) when fan
             normalisation is on

All arithmetic is float32 and every sum runs in the order above, so any
runner that adds the same terms in the same order gets bit-identical
results: that order is the contract the parallel engine's deterministic
mode keeps.

A wave runs in one of two ways that give identical numbers:

- sparse: each edge checks whether its destination is new in this wave and
  appends it to a list, which is sorted afterwards. Cost grows with the
  edges of the frontier, never with the graph.
- dense: the edge loop does nothing but multiply and add, and one pass over
  all nodes afterwards finds those that received activation, already in
  ascending order. It wins when the frontier's edges are a large share of
  the node count.
"""

import numba as nb
import numpy as np

#: Last-fired wave of a node that never fired: far enough below any wave
#: number that ``wave - NEVER_FIRED`` exceeds every refractory period.
NEVER_FIRED = np.int32(-(2**30))

def default_dense_edges(num_nodes):
    """Frontier edge count from which a wave runs dense."""
    return max(num_nodes // DENSE_EDGES_DIVISOR, 1)


#: Switch to the dense wave when the frontier's edges are at least the node
#: count divided by this. A dense pass reads 4 bytes a node; a sparse edge
#: adds a branch and an append, and later a sort. Measured on 1M-node random
#: graphs (bench/reference_speed.py): the two cost the same near one edge
#: per 8 nodes.
DENSE_EDGES_DIVISOR = 8


@nb.njit(cache=True, inline="always")
def emitted(x, decay, degree, fan_normalize):
    """What a firing node sends down each out-edge, before the weight."""
    out = np.float32(x * decay)
    if fan_normalize and degree > 0:
        out = np.float32(out / np.float32(degree))
    return out


@nb.njit(cache=True, nogil=True)
def push_sparse(indptr, indices, weights, frontier, frontier_out, count, acc, reached):
    """Push one wave from a small frontier; list the nodes it reaches.

    ``frontier[:count]`` must ascend. Adds into ``acc`` and appends each
    destination that first receives activation in this wave to ``reached``.
    Returns the number of reached nodes (unsorted) and of edges traversed.
    """
    n_reached = 0
    edges = 0
    for i in range(count):
        u = frontier[i]
        out = frontier_out[i]
        lo = indptr[u]
        hi = indptr[u + 1]
        edges += hi - lo
        for e in range(lo, hi):
            contribution = out * weights[e]
            if contribution != 0:
                v = indices[e]
                if acc[v] == 0:
                    reached[n_reached] = v
                    n_reached += 1
                acc[v] += contribution
    return n_reached, edges


@nb.njit(cache=True, nogil=True)
def push_dense(indptr, indices, weights, frontier, frontier_out, count, acc):
    """Push one wave from a large frontier; the edge loop only adds."""
    edges = 0
    for i in range(count):
        u = frontier[i]
        out = frontier_out[i]
        lo = indptr[u]
        hi = indptr[u + 1]
        edges += hi - lo
        for e in range(lo, hi):
            acc[indices[e]] += out * weights[e]
    return edges


@nb.njit(cache=True, nogil=True)
def collect_dense(acc, reached):
    """List, ascending, the nodes that received activation in a dense wave."""
    n_reached = 0
    for v in range(acc.shape[0]):
        if acc[v] != 0:
            reached[n_reached] = v
            n_reached += 1
    return n_reached


@nb.njit(cache=True, nogil=True)
def settle(
    wave,
    reached,
    n_reached,
    acc,
    total,
    first_hop,
    last_fired,
    touched,
    n_touched,
    threshold,
    refractory_waves,
    decay,
    out_degree,
    fan_normalize,
    frontier,
    frontier_out,
):
    """Close a wave: fold what each reached node received into its state.

    ``reached[:n_reached]`` must ascend. Clears ``acc`` for those nodes,
    adds to their total, records first reach, and writes the next frontier
    (ascending) with what each firing node will emit. Returns the new
    frontier size and touched count.
    """
    count = 0
    next_wave = wave + 1
    for i in range(n_reached):
        v = reached[i]
        x = acc[v]
        acc[v] = 0
        total[v] += x
        if first_hop[v] < 0:
            first_hop[v] = wave
            touched[n_touched] = v
            n_touched += 1
        fires = x > 0 and x >= threshold
        if fires and next_wave - last_fired[v] > refractory_waves:
            frontier[count] = v
            frontier_out[count] = emitted(x, decay, out_degree[v], fan_normalize)
            count += 1
    return count, n_touched


@nb.njit(cache=True, nogil=True)
def spread(
    indptr,
    indices,
    weights,
    out_degree,
    cue_ids,
    cue_x,
    decay,
    threshold,
    max_hops,
    fan_normalize,
    refractory_waves,
    acc,
    total,
    first_hop,
    last_fired,
    touched,
    frontier,
    frontier_out,
    reached,
    fired_per_wave,
    dense_edges,
):
    """Run a whole spread sequentially in the order the model defines.

    ``cue_ids`` ascend and are distinct. The state arrays (``acc``,
    ``total``, ``first_hop``, ``last_fired``: one entry a node) must be
    clear on entry: 0, 0, -1 and ``NEVER_FIRED``. On return
    ``touched[:n_touched]`` lists the touched nodes in order of first reach
    and the state arrays hold their results; :func:`clear` resets them.
    ``fired_per_wave[p]`` receives the number of nodes that fired in wave p.
    A wave whose frontier has at least ``dense_edges`` out-edges runs dense.

    Returns (n_touched, waves run, edges traversed).
    """
    # Wave 0: the cues themselves, as if they had been reached.
    for i in range(cue_ids.shape[0]):
        acc[cue_ids[i]] = cue_x[i]
    count, n_touched = settle(
        0, cue_ids, cue_ids.shape[0], acc, total, first_hop, last_fired,
        touched, 0, threshold, refractory_waves, decay, out_degree,
        fan_normalize, frontier, frontier_out,
    )  # fmt: skip

    waves = 0
    edges = 0
    for wave in range(1, max_hops + 1):
        if count == 0:
            break
        waves = wave
        fired_per_wave[wave] = count
        work = 0
        for i in range(count):
            u = frontier[i]
            last_fired[u] = wave
            work += out_degree[u]
        if work >= dense_edges:
            edges += push_dense(
                indptr, indices, weights, frontier, frontier_out, count, acc
            )
            n_reached = collect_dense(acc, reached)
        else:
            n_reached, e = push_sparse(
                indptr, indices, weights, frontier, frontier_out, count, acc, reached
            )
            edges += e
            reached[:n_reached].sort()
        count, n_touched = settle(
            wave, reached, n_reached, acc, total, first_hop, last_fired,
            touched, n_touched, threshold, refractory_waves, decay, out_degree,
            fan_normalize, frontier, frontier_out,
        )  # fmt: skip
    return n_touched, waves, edges


@nb.njit(cache=True, nogil=True)
def gather_and_clear(nodes, total, first_hop, last_fired, activation, hops):
    """Copy the results of ``nodes`` out and reset their state entries."""
    for i in range(nodes.shape[0]):
        v = nodes[i]
        activation[i] = total[v]
        hops[i] = first_hop[v]
        total[v] = 0
        first_hop[v] = -1
        last_fired[v] = NEVER_FIRED
