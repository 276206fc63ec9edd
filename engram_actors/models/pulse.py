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
NEVER_FIRED = -(2**30)

#: Per-node state a spread keeps besides what arrives in the current wave.
#: The three fields a settled node needs sit in one 16-byte record, so a
#: node costs one cache miss instead of three when the frontier is sparse
#: and scattered over a large graph.
NODE_STATE = np.dtype(
    [
        ("total", np.float32),  # activation summed over waves
        ("first_hop", np.int32),  # wave of first reach, -1 if untouched
        ("last_fired", np.int32),  # last wave the node fired in
        ("_pad", np.int32),  # keeps records on 16-byte boundaries
    ],
    align=True,
)


def new_node_state(num_nodes):
    """Node state for a graph, clear: as before any spread."""
    state = np.zeros(num_nodes, NODE_STATE)
    state["first_hop"] = -1
    state["last_fired"] = NEVER_FIRED
    return state


def default_dense_edges(num_nodes):
    """Frontier edge count from which a wave runs dense."""
    return max(num_nodes // DENSE_EDGES_DIVISOR, 1)


#: Switch to the dense wave when the frontier's edges are at least the node
#: count divided by this. Measured on a 1M-node random graph with 10 edges
#: a node (one wave from frontiers of 1,000 to 250,000 random nodes): the two
#: cost the same near 100,000 frontier edges; below, the dense wave's passes
#: over every node dominate, above, the sparse wave's scattered appends and
#: sort do, costing 1.5 times the dense wave at 1.25M edges.
DENSE_EDGES_DIVISOR = 10

# Kernels take node ids and offsets as unsigned integers (views of the
# graph's arrays): Numba then indexes without the wrap-around test that
# negative indices need, which makes the edge loop about 1.5 times faster.
_ONE = np.uint32(1)


@nb.njit(cache=True, inline="always")
def emitted(x, decay, indptr, u, fan_normalize):
    """What a firing node sends down each out-edge, before the weight."""
    out = np.float32(x * decay)
    if fan_normalize:
        degree = indptr[u + _ONE] - indptr[u]
        if degree > 0:
            out = np.float32(out / np.float32(degree))
    return out


#: Bits of a node id sorted per radix pass: 256 buckets, whose counts fit
#: in the first-level cache. A million nodes need three passes.
RADIX_BITS = 8

#: Read the touched nodes off the node state, in order, when at least the
#: node count divided by this were touched; sort their list otherwise.
#: Measured on 1M nodes: the radix sort of 100,000 ids takes 0.7 ms and the
#: scan 1.3 ms; at 250,000 the two are 2.2 and 2.6 ms, at 500,000 5.3 and
#: 4.8 ms; the scan's cost is nearly fixed, the sort's grows with the ids.
SCAN_TOUCHED_DIVISOR = 3

#: Below this many ids an insertion sort beats the radix passes' fixed cost.
INSERTION_SORT_MAX = 32


@nb.njit(cache=True, inline="always")
def id_bits_for(num_nodes):
    """Bits a node id of a graph of ``num_nodes`` needs (at least 1)."""
    bits = 1
    while (1 << bits) < num_nodes:
        bits += 1
    return bits


@nb.njit(cache=True, nogil=True)
def sort_ids(ids, count, scratch, id_bits):
    """Sort ``ids[:count]`` (uint32 node ids below ``2**id_bits``) in place.

    A least-significant-digit radix sort: time grows with ``count``, never
    with the graph, and unlike a comparison sort it does not slow down on
    the tens of thousands of ids a wide wave reaches. ``scratch`` needs
    ``count`` entries.
    """
    if count <= INSERTION_SORT_MAX:
        for i in range(1, count):
            value = ids[i]
            j = i - 1
            while j >= 0 and ids[j] > value:
                ids[j + 1] = ids[j]
                j -= 1
            ids[j + 1] = value
        return
    buckets = 1 << RADIX_BITS
    mask = np.uint32(buckets - 1)
    passes = max((id_bits + RADIX_BITS - 1) // RADIX_BITS, 1)
    counts = np.zeros((passes, buckets + 1), np.int64)
    for i in range(count):
        value = ids[i]
        for d in range(passes):
            counts[d, ((value >> np.uint32(d * RADIX_BITS)) & mask) + 1] += 1
    source, target = ids, scratch
    for d in range(passes):
        offset = counts[d]
        for b in range(buckets):
            offset[b + 1] += offset[b]
        shift = np.uint32(d * RADIX_BITS)
        for i in range(count):
            value = source[i]
            b = (value >> shift) & mask
            target[offset[b]] = value
            offset[b] += 1
        source, target = target, source
    if passes % 2 == 1:
        ids[:count] = scratch[:count]


@nb.njit(cache=True, nogil=True)
def push_sparse(indptr, indices, weights, frontier, frontier_out, count, acc,
                reached, listed):  # fmt: skip
    """Push one wave from a small frontier; list the nodes it reaches.

    ``frontier[:count]`` must ascend. Adds into ``acc`` and appends each
    destination that first receives activation in this wave to ``reached``.
    Returns the number of reached nodes (unsorted).

    With non-negative weights a slot is zero only until its first
    contribution. With inhibitory weights a sum can return to zero and
    the node would be listed again; pass ``listed`` (one flag a node,
    clear) to list each node once (the caller clears the flags of the
    nodes listed), or an empty array where weights are non-negative.
    """
    guard = listed.shape[0] > 0
    n_reached = 0
    for i in range(count):
        u = frontier[i]
        out = frontier_out[i]
        for e in range(indptr[u], indptr[u + _ONE]):
            contribution = out * weights[e]
            if contribution != 0:
                v = indices[e]
                if acc[v] == 0:
                    if not guard:
                        reached[n_reached] = v
                        n_reached += 1
                    elif listed[v] == 0:
                        listed[v] = 1
                        reached[n_reached] = v
                        n_reached += 1
                acc[v] += contribution
    return n_reached


@nb.njit(cache=True, nogil=True)
def push_dense(indptr, indices, weights, frontier, frontier_out, count, acc, out):
    """Push one wave from a large frontier; the edge loop only adds.

    When most nodes fire, their emitted values are first spread into
    ``out`` (one entry a node, zero on entry and on return) so that the
    loop walks the rows in memory order with no indirection: 1.35 times
    faster on a full wave over a 1M-node graph. Otherwise it follows the
    frontier list, which skips the rows of silent nodes.
    """
    if 2 * count < out.shape[0]:
        for i in range(count):
            u = frontier[i]
            emitted_u = frontier_out[i]
            for e in range(indptr[u], indptr[u + _ONE]):
                acc[indices[e]] += emitted_u * weights[e]
        return
    for i in range(count):
        out[frontier[i]] = frontier_out[i]
    for u in range(out.shape[0]):
        emitted_u = out[u]
        if emitted_u != 0:
            out[u] = 0
            for e in range(indptr[u], indptr[u + 1]):
                acc[indices[e]] += emitted_u * weights[e]


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
    state,
    touched,
    n_touched,
    threshold,
    refractory_waves,
    decay,
    indptr,
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
        node = state[v]
        node.total += x
        if node.first_hop < 0:
            node.first_hop = wave
            touched[n_touched] = v
            n_touched += 1
        fires = x > 0 and x >= threshold
        if fires and next_wave - node.last_fired > refractory_waves:
            frontier[count] = v
            frontier_out[count] = emitted(x, decay, indptr, v, fan_normalize)
            count += 1
    return count, n_touched


@nb.njit(cache=True, nogil=True)
def spread(
    indptr,
    indices,
    weights,
    cue_ids,
    cue_x,
    decay,
    threshold,
    max_hops,
    fan_normalize,
    refractory_waves,
    acc,
    out,
    state,
    touched,
    frontier,
    frontier_out,
    reached,
    scratch,
    fired_per_wave,
    dense_edges,
):
    """Run a whole spread sequentially in the order the model defines.

    ``cue_ids`` ascend and are distinct. ``acc`` and ``out`` (zeros) and
    ``state`` (see :func:`new_node_state`) must be clear on entry. On return
    ``touched[:n_touched]`` lists the touched nodes in order of first reach
    and ``state`` holds their results; :func:`gather_and_clear` reads them
    out and clears it. ``fired_per_wave[p]`` receives the number of nodes
    that fired in wave p. ``scratch`` is room for sorting, one entry a
    node. A wave whose frontier has at least
    ``dense_edges`` out-edges runs dense.

    Returns (n_touched, waves run, edges traversed).
    """
    id_bits = id_bits_for(indptr.shape[0] - 1)

    # Wave 0: the cues themselves, as if they had been reached.
    for i in range(cue_ids.shape[0]):
        acc[cue_ids[i]] = cue_x[i]
    count, n_touched = settle(
        0, cue_ids, cue_ids.shape[0], acc, state, touched, 0, threshold,
        refractory_waves, decay, indptr, fan_normalize, frontier, frontier_out,
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
            state[u].last_fired = wave
            work += np.int64(indptr[u + _ONE] - indptr[u])
        edges += work
        if work >= dense_edges:
            push_dense(
                indptr, indices, weights, frontier, frontier_out, count, acc, out
            )
            n_reached = collect_dense(acc, reached)
        else:
            n_reached = push_sparse(
                indptr, indices, weights, frontier, frontier_out, count, acc,
                reached, np.zeros(0, np.uint8),
            )  # fmt: skip
            sort_ids(reached, n_reached, scratch, id_bits)
        count, n_touched = settle(
            wave, reached, n_reached, acc, state, touched, n_touched, threshold,
            refractory_waves, decay, indptr, fan_normalize, frontier, frontier_out,
        )  # fmt: skip
    return n_touched, waves, edges


@nb.njit(cache=True, nogil=True)
def touched_ascending(state, touched, n_touched, scratch):
    """The touched nodes, ascending, as a new uint32 array.

    A spread that touched a third of the graph or more reads them off the
    node state in one pass, which beats sorting that many ids; a smaller
    one sorts its list.
    """
    nodes = np.empty(n_touched, np.uint32)
    num_nodes = state.shape[0]
    if n_touched * SCAN_TOUCHED_DIVISOR >= num_nodes:
        count = 0
        for v in range(num_nodes):
            if state[v].first_hop >= 0:
                nodes[count] = v
                count += 1
        return nodes
    nodes[:] = touched[:n_touched]
    sort_ids(nodes, n_touched, scratch, id_bits_for(num_nodes))
    return nodes


@nb.njit(cache=True, nogil=True)
def gather_and_clear(nodes, state, activation, hops):
    """Copy the results of ``nodes`` out and clear their state."""
    for i in range(nodes.shape[0]):
        node = state[nodes[i]]
        activation[i] = node.total
        hops[i] = node.first_hop
        node.total = 0
        node.first_hop = -1
        node.last_fired = NEVER_FIRED
