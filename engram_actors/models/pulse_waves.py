"""The pulse model's wave steps on shards: what each actor runs in parallel.

These kernels compute exactly the waves of :mod:`.pulse` (see
``docs/model.md``), split by destination so that every node's state has one
writer, and with every sum in the model's order, so that any number of
actors gives results bit-identical to the sequential reference.

Shared structures (views of shared memory; ``N`` nodes, ``C`` chunks)::

    state[N]       total, first_hop, last_fired of each node   owner writes
    acc[N]         activation received in a push wave           owner writes
    emit[2, N]     what a node emits in the wave, 0 if silent   owner writes
                   (parity = wave & 1); non-zero exactly at the
                   nodes the frontier lists name
    fids[2, N]     frontier ids, chunk c's at fids[p, bounds[c]:], its
    fout[2, N]     count in fcnt[p, c]; ascending chunk by chunk
    fcnt[2, C]
    touched[N]     nodes first reached, chunk c's at touched[bounds[c]:],
    tcnt[C]        its count in tcnt[c]

Wave ``p`` reads parity ``p & 1`` (the frontier settled in wave ``p - 1``)
and writes parity ``(p + 1) & 1``, so readers and writers of one wave never
meet on a word; the barrier between waves orders the rest.

Two ways to run a wave, chosen per wave by the frontier's out-edges (the
direction switch of Beamer's breadth-first search):

- push: every actor reads the whole frontier, ascending, and for each
  source adds only the out-edges into its own shard (found by binary search
  in the source's sorted row), then sorts and settles what it reached. Cost
  grows with the frontier, not the graph.
- pull: each chunk's processor sums, for every node of the chunk, the
  in-edges weighted by what the source emits (zero if it is silent: adding
  zero changes no bits), in in-edge order, which is sources ascending: the
  same terms in the same order as the push. Cost grows with the graph, but there are no
  scattered writes and chunks can be stolen by idle actors.
"""

import numba as nb
import numpy as np

from . import pulse

_ONE = np.uint32(1)


@nb.njit(cache=True, inline="always")
def fold(node, x, wave, threshold, refractory_waves):
    """Fold what a node received in ``wave`` into its state record.

    Returns (first reached now, fires in the next wave). The arithmetic is
    :func:`.pulse.settle`'s. Takes the record, not the arrays: a helper
    that takes arrays costs tens of nanoseconds a call in reference counts
    and argument set-up, more than the work itself.
    """
    node.total += x
    first = node.first_hop < 0
    if first:
        node.first_hop = wave
    next_wave = wave + 1
    fires = x > 0 and x >= threshold and next_wave - node.last_fired > refractory_waves
    if fires:
        node.last_fired = next_wave
    return first, fires


@nb.njit(cache=True, nogil=True)
def settle_cues(
    cue_ids, cue_x, bounds, chunk_first, chunk_last, acc, state, touched, tcnt,
    fids, fout, fcnt, emit, threshold, refractory_waves, decay, indptr,
    fan_normalize,
):  # fmt: skip
    """Wave 0 for chunks ``chunk_first .. chunk_last - 1``: settle the cues
    among their nodes (``cue_ids`` ascending, distinct), as if the cues had
    been reached with their activation (the reference does the same).

    Returns (nodes that fire, their out-edges).
    """
    lo = np.uint32(bounds[chunk_first])
    hi = np.uint32(bounds[chunk_last])
    first = 0
    last = cue_ids.shape[0]
    while first < last:  # the first cue at or after lo
        middle = (first + last) >> 1
        if cue_ids[middle] < lo:
            first = middle + 1
        else:
            last = middle
    end = first
    while end < cue_ids.shape[0] and cue_ids[end] < hi:
        acc[cue_ids[end]] = cue_x[end]
        end += 1
    return settle_reached(
        0, cue_ids[first:end], end - first, acc, bounds, chunk_first,
        chunk_last, state, touched, tcnt, fids, fout, fcnt, emit, threshold,
        refractory_waves, decay, indptr, fan_normalize,
    )  # fmt: skip


@nb.njit(cache=True, nogil=True)
def push_owned(
    indptr, indices, weights, bounds, num_chunks, fids, fout, fcnt, lo, hi,
    acc, reached, listed, delta_out,
):  # fmt: skip
    """Push a wave's frontier into the destinations ``lo .. hi - 1``.

    Reads every chunk's frontier in order (sources ascending) and follows
    only the out-edges into the range, which sit together in each sorted
    row. Appends each destination that first receives activation in this
    wave to ``reached`` (unsorted; ``listed`` as for
    :func:`.pulse.push_sparse`). ``delta_out`` is the forward delta (start,
    count, destination, weight; see :mod:`.graph_updates`): a source's
    delta row follows its base row. Returns (reached count, edges
    followed).
    """
    d_start, d_count, d_other, d_weight = delta_out
    guard = listed.shape[0] > 0
    n_reached = 0
    followed = 0
    whole = lo == 0 and hi == acc.shape[0]
    for c in range(num_chunks):
        first = bounds[c]
        for i in range(first, first + fcnt[c]):
            u = fids[i]
            out = fout[i]
            start = np.int64(indptr[u])
            stop = np.int64(indptr[u + _ONE])
            if not whole:
                # The row is sorted by destination: find the range's edges.
                low = start
                high = stop
                while low < high:
                    middle = (low + high) >> 1
                    if indices[middle] < lo:
                        low = middle + 1
                    else:
                        high = middle
                start = low
                high = stop
                while low < high:
                    middle = (low + high) >> 1
                    if indices[middle] < hi:
                        low = middle + 1
                    else:
                        high = middle
                stop = low
            followed += stop - start
            for e in range(start, stop):
                contribution = out * weights[e]
                if contribution != 0:
                    v = indices[e]
                    if acc[v] == 0 and (not guard or listed[v] == 0):
                        if guard:
                            listed[v] = 1
                        reached[n_reached] = v
                        n_reached += 1
                    acc[v] += contribution
            extra = d_count[u]
            if extra == 0:
                continue
            first_extra = np.int64(d_start[u])
            for j in range(first_extra, first_extra + extra):
                v = d_other[j]
                if v < lo or v >= hi:
                    continue
                followed += 1
                contribution = out * d_weight[j]
                if contribution != 0:
                    if acc[v] == 0 and (not guard or listed[v] == 0):
                        if guard:
                            listed[v] = 1
                        reached[n_reached] = v
                        n_reached += 1
                    acc[v] += contribution
    return n_reached, followed


@nb.njit(cache=True, nogil=True)
def settle_reached(
    wave, reached, n_reached, acc, bounds, chunk_first, chunk_last, state,
    touched, tcnt, fids, fout, fcnt, emit, threshold, refractory_waves,
    decay, indptr, fan_normalize,
):  # fmt: skip
    """Close a push wave for chunks ``chunk_first .. chunk_last - 1``.

    ``reached[:n_reached]`` ascends and lies within those chunks. Clears
    their ``acc`` entries and writes the next frontier. Returns (nodes that
    fire, their out-edges).
    """
    fired = 0
    edges = 0
    clear_frontier(bounds, chunk_first, chunk_last, fids, fcnt, emit)
    c = chunk_first
    for i in range(n_reached):
        v = reached[i]
        while v >= bounds[c + 1]:
            c += 1
        x = acc[v]
        acc[v] = 0
        reached_first, fires = fold(state[v], x, wave, threshold, refractory_waves)
        if reached_first:
            touched[bounds[c] + tcnt[c]] = v
            tcnt[c] += 1
        if fires:
            out = pulse.emitted(x, decay, indptr, v, fan_normalize)
            position = bounds[c] + fcnt[c]
            fids[position] = v
            fout[position] = out
            fcnt[c] += 1
            emit[v] = out
            fired += 1
            edges += np.int64(indptr[v + _ONE] - indptr[v])
    return fired, edges


@nb.njit(cache=True, nogil=True)
def clear_frontier(bounds, chunk_first, chunk_last, fids, fcnt, emit):
    """Empty the frontier lists of chunks ``chunk_first .. chunk_last - 1``
    in one parity, and zero the ``emit`` entries they listed, so that
    ``emit`` is non-zero exactly at the listed nodes."""
    for c in range(chunk_first, chunk_last):
        first = bounds[c]
        for i in range(first, first + fcnt[c]):
            emit[fids[i]] = 0
        fcnt[c] = 0


@nb.njit(cache=True, nogil=True, inline="always")
def pulled(v, in_indptr, in_sources, in_weights, delta_in, emit_now):
    """What node ``v`` receives in a pull wave: its in-edges weighted by
    what their sources emit, sources ascending. A node with in-edges in the
    delta merges them with its base in-row by source, which is the order
    of the merged graph (a new association is never a pair the base has).
    """
    d_start, d_count, d_other, d_weight = delta_in
    x = np.float32(0)
    start = in_indptr[v]
    stop = in_indptr[v + 1]
    extra = d_count[v]
    if extra == 0:
        for e in range(start, stop):
            x += emit_now[in_sources[e]] * in_weights[e]
        return x
    j = np.int64(d_start[v])
    j_stop = j + np.int64(extra)
    e = np.int64(start)
    stop = np.int64(stop)
    while e < stop or j < j_stop:
        if j >= j_stop or (e < stop and in_sources[e] < d_other[j]):
            x += emit_now[in_sources[e]] * in_weights[e]
            e += 1
        else:
            x += emit_now[d_other[j]] * d_weight[j]
            j += 1
    return x


@nb.njit(cache=True, nogil=True, inline="always")
def in_edges_of(in_indptr, delta_in, first, last):
    """In-edges of nodes ``first .. last - 1``, the delta's included."""
    edges = np.int64(in_indptr[last] - in_indptr[first])
    d_count = delta_in[1]
    for v in range(first, last):
        edges += d_count[v]
    return edges


@nb.njit(cache=True, nogil=True)
def pull_chunk(
    c, wave, in_indptr, in_sources, in_weights, delta_in, bounds, emit_now,
    state, touched, tcnt, fids, fout, fcnt, emit_next, threshold,
    refractory_waves, decay, indptr, fan_normalize,
):  # fmt: skip
    """Run a pull wave over chunk ``c``: sum each node's in-edges weighted
    by what their sources emit now, then settle the node. Writes
    ``emit_next`` for every node of the chunk (zero where silent), so the
    chunk needs no clearing; after the last wave (``threshold`` infinite,
    nobody fires) it only clears what the chunk listed before. Returns
    (nodes that fire, their out-edges, in-edges read). ``indptr`` serves
    for out-degrees only: the merged graph's, delta included."""
    edges = 0
    first = bounds[c]
    last = bounds[c + 1]
    count = 0
    if threshold == np.inf:
        clear_frontier(bounds, c, c + 1, fids, fcnt, emit_next)
        for v in range(first, last):
            x = pulled(v, in_indptr, in_sources, in_weights, delta_in, emit_now)
            if x != 0:
                node = state[v]
                node.total += x
                if node.first_hop < 0:
                    node.first_hop = wave
                    touched[first + tcnt[c]] = v
                    tcnt[c] += 1
        return 0, 0, in_edges_of(in_indptr, delta_in, first, last)
    for v in range(first, last):
        x = pulled(v, in_indptr, in_sources, in_weights, delta_in, emit_now)
        out = np.float32(0)
        if x != 0:
            reached_first, fires = fold(state[v], x, wave, threshold, refractory_waves)
            if reached_first:
                touched[first + tcnt[c]] = v
                tcnt[c] += 1
            if fires:
                out = pulse.emitted(x, decay, indptr, v, fan_normalize)
                fids[first + count] = v
                fout[first + count] = out
                count += 1
                edges += np.int64(indptr[v + 1] - indptr[v])
        emit_next[v] = out
    fcnt[c] = count
    return count, edges, in_edges_of(in_indptr, delta_in, first, last)


@nb.njit(cache=True, nogil=True)
def count_touched(tcnt, chunk_first, chunk_last):
    total = 0
    for c in range(chunk_first, chunk_last):
        total += tcnt[c]
    return total


@nb.njit(cache=True, nogil=True)
def chunk_touched(c, bounds, touched, count, scratch, state, id_bits):
    """Chunk ``c``'s ``count`` touched nodes, ascending (a view of its
    stretch of ``touched``)."""
    first = bounds[c]
    last = bounds[c + 1]
    ids = touched[first : first + count]
    if count * pulse.SCAN_TOUCHED_DIVISOR >= last - first:
        # Most of the chunk was touched: read them off in node order.
        i = 0
        for v in range(first, last):
            if state[v].first_hop >= 0:
                ids[i] = v
                i += 1
    else:
        pulse.sort_ids(ids, count, scratch[first : first + count], id_bits)
    return ids


@nb.njit(cache=True, nogil=True)
def gather_chunks(
    bounds, chunk_first, chunk_last, touched, tcnt, scratch, state, position,
    nodes, activation, first_hop, id_bits,
):  # fmt: skip
    """Write the results of chunks ``chunk_first .. chunk_last - 1`` at
    ``position`` onwards (nodes ascending) and clear their state."""
    for c in range(chunk_first, chunk_last):
        count = tcnt[c]
        if count == 0:
            continue
        ids = chunk_touched(c, bounds, touched, count, scratch, state, id_bits)
        for i in range(count):
            v = ids[i]
            node = state[v]
            nodes[position] = v
            activation[position] = node.total
            first_hop[position] = node.first_hop
            node.total = 0
            node.first_hop = -1
            node.last_fired = pulse.NEVER_FIRED
            position += 1
        tcnt[c] = 0
    return position
