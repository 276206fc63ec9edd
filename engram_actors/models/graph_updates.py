"""Kernels that change a served graph between spreads: new weights for
associations that exist, and new associations, without rebuilding it.

The engine's graph is its CSR (forward and in-edge copies, in the
``graph`` segment) plus a *delta*: the associations made since, in the
``delta`` segment, one region per shard, each region sorted by (row node,
other end) and indexed by per-node start and count arrays::

    d_start[v], d_count[v]   where node v's delta row lies in the region
    d_node[i]                the row node of entry i (to rebuild a region)
    d_other[i], d_weight[i]  the other end and the weight of entry i

The forward delta is kept by source (rows of the shard's sources), the
in-edge delta by destination; the owner of a shard writes both for its
nodes (:func:`apply_rows`), so each word still has one writer. A spread
reads a node's base row and then its delta row; the pulls merge the two
by source, so every sum keeps the order of the merged graph, where a new
association sits in its sorted place in its source's row.

:func:`merged_csr` builds that merged graph's CSR in the driver, which
spreads small waves over it and gives it to users (and the reference).
"""

import numba as nb
import numpy as np


@nb.njit(cache=True, nogil=True, inline="always")
def lower_bound(keys, first, last, value):
    """First position in ``keys[first:last]`` (ascending) not below
    ``value``."""
    while first < last:
        middle = (first + last) >> 1
        if keys[middle] < value:
            first = middle + 1
        else:
            last = middle
    return first


@nb.njit(cache=True, nogil=True)
def find_edges(indptr, indices, src, dst, found):
    """For each pair ``(src[i], dst[i])``: the position of the first edge
    ``src -> dst`` in the CSR, or -1. Rows must be sorted by destination.
    Returns the number found."""
    count = 0
    for i in range(src.shape[0]):
        u = src[i]
        first = np.int64(indptr[u])
        last = np.int64(indptr[u + 1])
        at = lower_bound(indices, first, last, dst[i])
        if at < last and indices[at] == dst[i]:
            found[i] = at
            count += 1
        else:
            found[i] = -1
    return count


@nb.njit(cache=True, nogil=True)
def merged_csr(indptr, indices, weights, src, dst, weight, found):
    """The CSR with the updates applied: ``weight[i]`` replaces the weight
    of the edge at ``found[i]``, and the pairs with ``found[i] < 0`` (sorted
    by source, then destination, distinct) are inserted in their sorted
    place. Returns new (indptr, indices, weights)."""
    n = indptr.shape[0] - 1
    new_weights = weights.copy()
    added = np.zeros(n + 1, np.int64)
    for i in range(src.shape[0]):
        if found[i] >= 0:
            new_weights[found[i]] = weight[i]
        else:
            added[src[i] + 1] += 1
    out_indptr = indptr.copy()
    shift = 0
    for u in range(n + 1):
        shift += added[u]
        out_indptr[u] += shift
    m = out_indptr[n]
    out_indices = np.empty(m, indices.dtype)
    out_weights = np.empty(m, weights.dtype)
    i = 0
    count = src.shape[0]
    for u in range(n):
        position = out_indptr[u]
        e = indptr[u]
        end = indptr[u + 1]
        while i < count and (src[i] < u or found[i] >= 0):
            i += 1
        while e < end or (i < count and src[i] == u):
            take_new = False
            if i < count and src[i] == u:
                take_new = e >= end or dst[i] < indices[e]
            if take_new:
                out_indices[position] = dst[i]
                out_weights[position] = weight[i]
                i += 1
                while i < count and src[i] == u and found[i] >= 0:
                    i += 1
            else:
                out_indices[position] = indices[e]
                out_weights[position] = new_weights[e]
                e += 1
            position += 1
    return out_indptr, out_indices, out_weights


@nb.njit(cache=True, nogil=True)
def apply_rows(lo, hi, row, other, weight, base_indptr, base_other,
               base_weight, d_start, d_count, d_node, d_other, d_weight,
               region_first, region_last, used):  # fmt: skip
    """Apply updates to the rows of nodes ``lo .. hi - 1`` of one direction.

    ``row``, ``other``, ``weight`` list the updates sorted by (row node,
    other end), distinct pairs; only those with a row node in the range
    are applied. An update of a pair the base CSR has sets the weight of
    its first edge there; one the delta has sets that; any other is a new
    association, merged into the shard's delta region
    ``region_first .. region_last - 1``, of which ``used`` entries are
    taken. Returns the new ``used``, or -1 (and nothing changed in the
    delta) if the region has no room.
    """
    first = lower_bound(row, 0, row.shape[0], lo)
    last = lower_bound(row, first, row.shape[0], hi)
    fresh = np.empty(last - first, np.int64)
    n_fresh = 0
    for i in range(first, last):
        v = row[i]
        start = np.int64(base_indptr[v])
        stop = np.int64(base_indptr[v + 1])
        at = lower_bound(base_other, start, stop, other[i])
        if at < stop and base_other[at] == other[i]:
            base_weight[at] = weight[i]
            continue
        start = np.int64(d_start[v])
        stop = start + d_count[v]
        at = lower_bound(d_other, start, stop, other[i])
        if at < stop and d_other[at] == other[i]:
            d_weight[at] = weight[i]
            continue
        fresh[n_fresh] = i
        n_fresh += 1
    if n_fresh == 0:
        return used
    if used + n_fresh > region_last - region_first:
        return -1

    # Merge the region's entries (sorted) with the fresh ones, from the
    # back, in place: the merged run ends at region_first + used + n_fresh.
    old = region_first + used - 1
    new = n_fresh - 1
    out = region_first + used + n_fresh - 1
    while new >= 0:
        i = fresh[new]
        if old >= region_first and (
            d_node[old] > row[i] or (d_node[old] == row[i] and d_other[old] > other[i])
        ):
            d_node[out] = d_node[old]
            d_other[out] = d_other[old]
            d_weight[out] = d_weight[old]
            old -= 1
        else:
            d_node[out] = row[i]
            d_other[out] = other[i]
            d_weight[out] = weight[i]
            new -= 1
        out -= 1
    used += n_fresh
    for v in range(lo, hi):
        d_count[v] = 0
    for j in range(region_first, region_first + used):
        v = d_node[j]
        if d_count[v] == 0:
            d_start[v] = j
        d_count[v] += 1
    return used


@nb.njit(cache=True, nogil=True)
def new_pairs_per_range(row, found, bounds):
    """How many of the updates with ``found < 0`` have their row node in
    each range ``bounds[k] .. bounds[k + 1] - 1``."""
    counts = np.zeros(bounds.shape[0] - 1, np.int64)
    k = 0
    for i in range(row.shape[0]):
        if found[i] >= 0:
            continue
        while row[i] >= bounds[k + 1]:
            k += 1
        counts[k] += 1
    return counts
