"""The neural model's cycles on shards: what each actor runs in parallel.

The delivery of a cycle's input is the pulse model's wave (owner push or
pull, :mod:`.pulse_waves`), in the model's summation order; what differs
is the settle: the driven nodes of a chunk are integrated over the gamma
cycle (:func:`.neural.integrate_list`) instead of thresholded. Every node
has one writer, so any number of actors gives the reference's bits.

Besides the pulse model's shared structures these use (``N`` nodes)::

    nstate[N]      the neural record of each node              owner writes
    listed[N]      push flags (see pulse.push_sparse)          owner writes
    cycle_log[A, cycles, 3], wm_*[A, cycles, ...]
                   per-actor logs of each cycle: spikes, and   actor writes
                   its strongest firers among the chunks the   its own row
                   actor processed
"""

import numba as nb
import numpy as np

from . import neural
from .pulse_waves import chunk_touched, clear_frontier, in_edges_of, pulled


@nb.njit(cache=True, nogil=True)
def settle_reached(cycle, reached, n_reached, acc, bounds, chunk_first,
                   chunk_last, state, nstate, touched, tcnt, fids, fout, fcnt,
                   emit, dynamics, gains, block, logs, indptr):  # fmt: skip
    """Close cycle ``cycle`` for chunks ``chunk_first .. chunk_last - 1``:
    integrate the driven nodes ``reached[:n_reached]`` (ascending,
    distinct, within those chunks), and list the touched and the next
    frontier chunk by chunk. Returns (nodes that emit, their out-edges)."""
    cycle_log, wm_ids, wm_out, wm_count = logs
    node_out = np.empty(n_reached, np.float32)
    node_spikes = np.empty(n_reached, np.int32)
    no_ids = np.empty(0, np.uint32)
    no_steps = np.empty(0, np.int64)
    neural.integrate_list(
        reached, n_reached, acc, nstate, cycle, dynamics, block, node_out,
        node_spikes, False, no_ids, no_steps, 0,
    )  # fmt: skip
    clear_frontier(bounds, chunk_first, chunk_last, fids, fcnt, emit)
    gain = gains[cycle + 1]
    emitting = 0
    edges = 0
    spikes = 0
    active = 0
    c = chunk_first
    for i in range(n_reached):
        v = reached[i]
        while v >= bounds[c + 1]:
            c += 1
        node = state[v]
        node.total += node_out[i]
        if node.first_hop < 0:
            node.first_hop = cycle
            touched[bounds[c] + tcnt[c]] = v
            tcnt[c] += 1
        if node_spikes[i] > 0:
            spikes += node_spikes[i]
            active += 1
            neural.offer(wm_ids, wm_out, wm_count, cycle, v, node_out[i])
            emitted = np.float32(node_out[i] * gain)
            if emitted != 0:
                position = bounds[c] + fcnt[c]
                fids[position] = v
                fout[position] = emitted
                fcnt[c] += 1
                emit[v] = emitted
                emitting += 1
                edges += np.int64(indptr[v + np.uint32(1)] - indptr[v])
    cycle_log[cycle, 0] += spikes
    cycle_log[cycle, 1] += active
    cycle_log[cycle, 2] += n_reached
    return emitting, edges


@nb.njit(cache=True, nogil=True)
def settle_cues(cue_ids, cue_x, bounds, chunk_first, chunk_last, acc, state,
                nstate, touched, tcnt, fids, fout, fcnt, emit, dynamics, gains,
                block, logs, indptr):  # fmt: skip
    """Cycle 0 for chunks ``chunk_first .. chunk_last - 1``: integrate the
    drive of the cues among their nodes (``cue_ids`` ascending, distinct).
    Returns (nodes that emit, their out-edges)."""
    lo = np.uint32(bounds[chunk_first])
    hi = np.uint32(bounds[chunk_last])
    first = np.searchsorted(cue_ids, lo)
    end = np.searchsorted(cue_ids, hi)
    mine = cue_ids[first:end]
    neural.drive_cues(mine, cue_x[first:end], gains[0], acc)
    return settle_reached(
        0, mine, end - first, acc, bounds, chunk_first, chunk_last, state,
        nstate, touched, tcnt, fids, fout, fcnt, emit, dynamics, gains, block,
        logs, indptr,
    )  # fmt: skip


@nb.njit(cache=True, nogil=True)
def pull_chunk(c, cycle, in_indptr, in_sources, in_weights, delta_in, bounds,
               emit_now, acc, reached, state, nstate, touched, tcnt, fids,
               fout, fcnt, emit_next, dynamics, gains, block, logs,
               indptr):  # fmt: skip
    """Run cycle ``cycle`` over chunk ``c`` by pulling: sum each node's
    in-edges weighted by what their sources emit (in in-edge order, which
    is the push's order), then integrate the nodes whose input is not
    zero. Returns (nodes that emit, their out-edges, in-edges read)."""
    first = bounds[c]
    last = bounds[c + 1]
    driven = reached[first:last]
    n_driven = 0
    for v in range(first, last):
        x = pulled(v, in_indptr, in_sources, in_weights, delta_in, emit_now)
        if x != 0:
            acc[v] = x
            driven[n_driven] = v
            n_driven += 1
    emitting, edges = settle_reached(
        cycle, driven, n_driven, acc, bounds, c, c + 1, state, nstate, touched,
        tcnt, fids, fout, fcnt, emit_next, dynamics, gains, block, logs, indptr,
    )  # fmt: skip
    return emitting, edges, in_edges_of(in_indptr, delta_in, first, last)


@nb.njit(cache=True, nogil=True)
def gather_chunks(bounds, chunk_first, chunk_last, touched, tcnt, scratch,
                  state, nstate, position, end_step, dynamics, result,
                  id_bits):  # fmt: skip
    """Write the results of chunks ``chunk_first .. chunk_last - 1`` at
    ``position`` onwards (nodes ascending) and clear their records."""
    nodes, activation, first_cycle, spikes, first_spike, last_spike, u, res = result
    for c in range(chunk_first, chunk_last):
        count = tcnt[c]
        if count == 0:
            continue
        ids = chunk_touched(c, bounds, touched, count, scratch, state, id_bits)
        stop = position + count
        nodes[position:stop] = ids
        neural.gather_and_clear(
            ids, state, nstate, end_step, dynamics, activation[position:stop],
            first_cycle[position:stop], spikes[position:stop],
            first_spike[position:stop], last_spike[position:stop],
            u[position:stop], res[position:stop],
        )  # fmt: skip
        position = stop
        tcnt[c] = 0
    return position
