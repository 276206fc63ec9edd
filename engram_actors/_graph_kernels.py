"""Compiled kernels that build and check compressed sparse row arrays.

They run once per graph build or load, over every edge, so they are written
as plain loops for Numba: no Python-level work per edge anywhere.
"""

import numba as nb
import numpy as np


@nb.njit(cache=True, nogil=True)
def csr_from_edges(src, dst, weight, num_nodes):
    """Sort edges by (source, destination) with two stable counting sorts.

    Returns ``indptr`` (int64, ``num_nodes + 1``), ``indices`` (int32) and
    ``weights`` (float32). Edges with the same source and destination keep
    their input order, so repeated associations stay in a known order.
    """
    m = src.shape[0]

    # Pass 1: stable order of edge positions by destination.
    start = np.zeros(num_nodes + 1, np.int64)
    for e in range(m):
        start[dst[e] + 1] += 1
    for v in range(num_nodes):
        start[v + 1] += start[v]
    by_dst = np.empty(m, np.int64)
    for e in range(m):
        v = dst[e]
        by_dst[start[v]] = e
        start[v] += 1

    # Pass 2: stable by source over that order gives (source, destination).
    indptr = np.zeros(num_nodes + 1, np.int64)
    for e in range(m):
        indptr[src[e] + 1] += 1
    for u in range(num_nodes):
        indptr[u + 1] += indptr[u]
    cursor = indptr[:-1].copy()
    indices = np.empty(m, np.int32)
    weights = np.empty(m, np.float32)
    for i in range(m):
        e = by_dst[i]
        u = src[e]
        p = cursor[u]
        indices[p] = dst[e]
        weights[p] = weight[e]
        cursor[u] = p + 1
    return indptr, indices, weights


@nb.njit(cache=True, nogil=True)
def count_duplicates(indptr, indices):
    """Count edges that repeat the (source, destination) of the edge before.

    Rows must be sorted by destination. Returns the count and the position of
    the first repeated edge (-1 when there is none).
    """
    count = 0
    first = -1
    n = indptr.shape[0] - 1
    for u in range(n):
        for p in range(indptr[u] + 1, indptr[u + 1]):
            if indices[p] == indices[p - 1]:
                if first < 0:
                    first = p
                count += 1
    return count, first


@nb.njit(cache=True, nogil=True)
def merge_duplicates(indptr, indices, weights, take_max):
    """Merge runs of equal (source, destination) into one edge.

    The merged weight is the float32 sum of the run in order, or its maximum
    when ``take_max`` is true. Rows must be sorted by destination.
    """
    n = indptr.shape[0] - 1
    new_indptr = np.zeros(n + 1, np.int64)
    new_indices = np.empty(indices.shape[0], np.int32)
    new_weights = np.empty(indices.shape[0], np.float32)
    q = 0
    for u in range(n):
        lo = indptr[u]
        hi = indptr[u + 1]
        p = lo
        while p < hi:
            v = indices[p]
            w = weights[p]
            p += 1
            while p < hi and indices[p] == v:
                if take_max:
                    w = max(w, weights[p])
                else:
                    w = w + weights[p]
                p += 1
            new_indices[q] = v
            new_weights[q] = w
            q += 1
        new_indptr[u + 1] = q
    return new_indptr, new_indices[:q].copy(), new_weights[:q].copy()


@nb.njit(cache=True, nogil=True)
def transpose(indptr, indices, weights, num_nodes):
    """In-edge view: row ``v`` lists the sources of edges into ``v``.

    Within a row the sources ascend, and parallel edges keep their order in
    the forward graph, so a sum over in-edges in row order adds the same
    terms in the same order as a push over sources in ascending order.
    """
    m = indices.shape[0]
    t_indptr = np.zeros(num_nodes + 1, np.int64)
    for p in range(m):
        t_indptr[indices[p] + 1] += 1
    for v in range(num_nodes):
        t_indptr[v + 1] += t_indptr[v]
    cursor = t_indptr[:-1].copy()
    t_indices = np.empty(m, np.int32)
    t_weights = np.empty(m, np.float32)
    for u in range(num_nodes):
        for p in range(indptr[u], indptr[u + 1]):
            v = indices[p]
            q = cursor[v]
            t_indices[q] = u
            t_weights[q] = weights[p]
            cursor[v] = q + 1
    return t_indptr, t_indices, t_weights
