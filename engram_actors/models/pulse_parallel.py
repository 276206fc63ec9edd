"""Whole spreads of the pulse model: the actors' part and the driver's part.

A spread starts in the driver, which runs the waves itself with the
reference's kernels (:func:`inline_waves`) while they are push waves:
waking actors and meeting at barriers costs microseconds a wave, and a
push wave does not split well between actors. Once a wave is dense enough
to pull, the driver moves its lists into the actors' chunk lists
(:func:`hand_over`), and every actor runs :func:`actor_spread` from that
wave to the end, closing each wave with the gamma-cycle barrier of
:mod:`scheduler.control` and writing its shard's results. A spread with
many cues goes to the actors from the start.

The actors' kernels take their arrays in tuples (the engine builds them
once; the driver's own kernels take arrays one by one, see
:func:`inline_waves`)::

    graph  = (indptr, indices, weights, in_indptr, in_sources, in_weights,
              degree_ptr, delta_out, delta_in)
    shards = (chunk_bounds, shard_chunks)
    work   = (state, acc, emit, fids, fout, fcnt, touched, tcnt, reached,
              scratch)
    result = (nodes, activation, first_hop)
    model  = (decay, threshold, max_hops, fan_normalize, refractory_waves)

``wave_log[p]`` receives (nodes that fire in wave p, their out-edges) for
every wave that runs.
"""

import numba as nb
import numpy as np

from scheduler import control
from shm import atomics, deque

from . import neural, neural_waves, pulse
from .pulse_waves import (
    clear_frontier,
    count_touched,
    gather_chunks,
    pull_chunk,
    push_owned,
    settle_cues,
    settle_reached,
)

#: The model's fields in the order, and the types, the kernels take them.
MODEL_FIELDS = ("decay", "threshold", "max_hops", "fan_normalize", "refractory_waves")


def _float32_or_inf(value):
    """A float32, infinite when beyond float32's range."""
    with np.errstate(over="ignore"):
        return np.float32(value)


def model_of(fields):
    """The ``model`` tuple of a config's fields: a SpreadConfig, or the
    mapping a spread command carries."""
    if not isinstance(fields, dict):
        fields = {name: getattr(fields, name) for name in MODEL_FIELDS}
    return (
        np.float32(fields["decay"]),
        _float32_or_inf(fields["threshold"]),
        np.int64(fields["max_hops"]),
        bool(fields["fan_normalize"]),
        np.int64(fields["refractory_waves"]),
    )


def neural_cells(arrays=None, actor=0, dynamics=None):
    """The ``cells`` argument of :func:`actor_spread`: for the neural
    model, this actor's views of the engine's ``arrays`` and the kernels'
    ``dynamics``; with no arrays, the pulse model's (empty, same types)."""
    if arrays is None:
        zeros = np.zeros
        return (
            False,
            zeros(0, neural.NEURAL_STATE),
            zeros(0, np.uint8),
            (np.float32(1), np.float32(0), np.float32(0), np.float32(0),
             np.float32(1), np.int32(0), np.int64(1), 0.0, 0.0),
            zeros(0, np.float32),
            (zeros((0, 3), np.int64), zeros((0, 9), np.uint32),
             zeros((0, 9), np.float32), zeros(0, np.int64)),
            (zeros(0, np.uint32), zeros(0, np.float32), zeros(0, np.int32),
             zeros(0, np.int32), zeros(0, np.int32), zeros(0, np.int32),
             zeros(0, np.float32), zeros(0, np.float32)),
        )  # fmt: skip
    a = arrays
    return (
        True,
        a["nstate"],
        a["listed"],
        dynamics,
        a["gains"],
        (a["cycle_log"][actor], a["wm_ids"][actor], a["wm_out"][actor],
         a["wm_count"][actor]),
        (a["nodes"], a["activation"], a["first_hop"], a["spikes"],
         a["first_spike"], a["last_spike"], a["potential"], a["resources"]),
    )  # fmt: skip


#: Status of :func:`inline_waves`.
FINISHED = 0
HAND_OVER = 1


@nb.njit(cache=True, nogil=True)
def decide(wave, fired, fire_edges, max_hops, pull_edges, shared_push):
    """How the wave after ``wave`` runs, given its frontier."""
    if wave >= max_hops or fired == 0:
        return control.STOP
    if fire_edges >= pull_edges:
        return control.PULL
    return control.SHARED_PUSH if shared_push else control.PUSH


@nb.njit(cache=True, nogil=True)
def inline_waves(indptr, indices, weights, state, acc, touched, frontier,
                 frontier_out, reached, scratch, decay, threshold, max_hops,
                 fan_normalize, refractory_waves, cue_ids, cue_x,
                 hand_over_edges, wave_log):  # fmt: skip
    """Run a spread in the calling process while its waves are small.

    These are the reference's own kernels (:func:`.pulse.spread`'s waves)
    on the shared node ``state`` and ``acc``, with the touched nodes and
    the frontier in the caller's compact lists: a spread that stays small
    costs what the reference costs. (Arrays are passed one by one, not in
    tuples: Numba types a tuple argument element by element in Python,
    about a microsecond each, on every call.)

    Returns (status, next wave, nodes firing in it, their out-edges,
    touched count): ``FINISHED`` when the spread is over (gather with
    :func:`gather_inline`), ``HAND_OVER`` when the next wave has at least
    ``hand_over_edges`` out-edges and should run on the actors (after
    :func:`hand_over`).
    """
    id_bits = pulse.id_bits_for(acc.shape[0])

    for i in range(cue_ids.shape[0]):
        acc[cue_ids[i]] = cue_x[i]
    count, n_touched = pulse.settle(
        0, cue_ids, cue_ids.shape[0], acc, state, touched, 0, threshold,
        refractory_waves, decay, indptr, fan_normalize, frontier, frontier_out,
    )  # fmt: skip
    wave = 1
    while wave <= max_hops and count > 0:
        work_edges = 0
        for i in range(count):
            u = frontier[i]
            work_edges += np.int64(indptr[u + np.uint32(1)] - indptr[u])
        if work_edges >= hand_over_edges:
            return HAND_OVER, wave, count, work_edges, n_touched
        wave_log[wave, 0] = count
        wave_log[wave, 1] = work_edges
        for i in range(count):
            state[frontier[i]].last_fired = wave
        n_reached = pulse.push_sparse(
            indptr, indices, weights, frontier, frontier_out, count, acc,
            reached, np.zeros(0, np.uint8),
        )  # fmt: skip
        pulse.sort_ids(reached, n_reached, scratch, id_bits)
        count, n_touched = pulse.settle(
            wave, reached, n_reached, acc, state, touched, n_touched, threshold,
            refractory_waves, decay, indptr, fan_normalize, frontier,
            frontier_out,
        )  # fmt: skip
        wave += 1
    return FINISHED, wave, count, 0, n_touched


@nb.njit(cache=True, nogil=True, inline="always")
def range_holding(starts, count, value):
    """The range ``r`` in ``0 .. count - 1`` with ``starts[r] <= value <
    starts[r + 1]`` (binary search; ``starts`` ascending)."""
    low = 0
    high = count
    while high - low > 1:
        middle = (low + high) >> 1
        if starts[middle] <= value:
            low = middle
        else:
            high = middle
    return low


@nb.njit(cache=True, nogil=True)
def hand_over(wave, shards, work, lists, count, n_touched):
    """Move an inline spread's frontier (for ``wave``) and touched nodes
    into the chunk-indexed lists the actors work from."""
    bounds, _ = shards
    state, _, emit, fids, fout, fcnt, chunk_touched, tcnt, _, _ = work
    touched, frontier, frontier_out, _, _ = lists
    now = wave & 1
    num_chunks = bounds.shape[0] - 1
    clear_frontier(bounds, 0, num_chunks, fids[now], fcnt[now], emit[now])
    c = 0
    for i in range(count):  # ascending
        u = frontier[i]
        while u >= bounds[c + 1]:
            c += 1
        position = bounds[c] + fcnt[now, c]
        fids[now, position] = u
        fout[now, position] = frontier_out[i]
        fcnt[now, c] += 1
        emit[now, u] = frontier_out[i]
        state[u].last_fired = wave
    for i in range(n_touched):  # in order of first reach
        v = touched[i]
        c = range_holding(bounds, num_chunks, v)
        chunk_touched[bounds[c] + tcnt[c]] = v
        tcnt[c] += 1


@nb.njit(cache=True, nogil=True)
def gather_inline(state, touched, scratch, n_touched, nodes, activation,
                  first_hop):  # fmt: skip
    """Results of a spread that ran inline, ascending; clears its state.
    The reference's own gathering."""
    ids = pulse.touched_ascending(state, touched, n_touched, scratch)
    nodes[:n_touched] = ids
    pulse.gather_and_clear(ids, state, activation, first_hop)
    return n_touched


@nb.njit(cache=True, nogil=True)
def _threshold_of(wave, max_hops, threshold):
    """The threshold a wave settles with: after the last wave no node fires,
    so infinity spares listing a frontier nobody will read."""
    if wave >= max_hops:
        return np.float32(np.inf)
    return threshold


@nb.njit(cache=True, nogil=True)
def _close_cycle(ctl, actors, wave, max_hops, pull_edges, shared_push,
                 shard_chunks, deques, wave_log, tcnt):  # fmt: skip
    """The closing arrival's work: add up the actors' reports, decide the
    next wave, load the deques for a pull wave."""
    fired = 0
    fire_edges = 0
    for k in range(actors):
        base = control.actor_base(k)
        fired += ctl[base + control.A_FIRED]
        fire_edges += ctl[base + control.A_FIRE_EDGES]
    mode = decide(wave, fired, fire_edges, max_hops, pull_edges, shared_push)
    if mode == control.PULL or mode == control.SHARED_PUSH:
        for k in range(actors):
            first = shard_chunks[k]
            deque.fill(deques[k], first, shard_chunks[k + 1] - first)
    if mode != control.STOP:
        wave_log[wave + 1, 0] = fired
        wave_log[wave + 1, 1] = fire_edges
    else:
        # Where each shard's results go: after those of earlier shards. Set
        # here, while every actor waits, since gathering clears the counts.
        position = 0
        for k in range(actors):
            ctl[control.actor_base(k) + control.A_POSITION] = position
            position += count_touched(tcnt, shard_chunks[k], shard_chunks[k + 1])
        ctl[control.TOUCHED] = position
        ctl[control.LAST_WAVE] = wave
    ctl[control.MODE] = mode
    ctl[control.FIRED] = fired
    ctl[control.FIRE_EDGES] = fire_edges


@nb.njit(cache=True, nogil=True)
def _barrier(ctl, actor, actors, cycle, wave, max_hops, pull_edges,
             shared_push, shard_chunks, deques, wave_log, tcnt):  # fmt: skip
    """Report, arrive, and wait for the cycle to close. Returns the next
    wave's mode, or -1 if the spread was aborted."""
    started = atomics.cycles()
    if control.arrive(ctl, cycle, actors):
        _close_cycle(
            ctl, actors, wave, max_hops, pull_edges, shared_push, shard_chunks,
            deques, wave_log, tcnt,
        )  # fmt: skip
        control.release(ctl, cycle)
    elif not control.wait_release(ctl, cycle):
        return -1
    base = control.actor_base(actor)
    ctl[base + control.A_WAIT_CYCLES] += atomics.cycles() - started
    return ctl[control.MODE]


@nb.njit(cache=True, nogil=True)
def _meet(ctl, actor, actors, cycle):
    """A barrier inside a wave: nothing to decide. Returns False if the
    spread was aborted."""
    started = atomics.cycles()
    if control.arrive(ctl, cycle, actors):
        control.release(ctl, cycle)
    elif not control.wait_release(ctl, cycle):
        return False
    base = control.actor_base(actor)
    ctl[base + control.A_WAIT_CYCLES] += atomics.cycles() - started
    return True


@nb.njit(cache=True, nogil=True)
def _push_shared_chunk(c, indptr, indices, weights, delta_out, bounds, fids,
                       fout, fcnt, acc, reached, ctl, shard_first_node,
                       actors):  # fmt: skip
    """Push the frontier listed in chunk ``c`` along whole rows, adding into
    any shard with atomic float adds. The add that turns a slot non-zero
    claims the node: it appends it to its owner's reached list. Returns
    (edges followed, compare-and-swap retries)."""
    d_start, d_count, d_other, d_weight = delta_out
    followed = 0
    retries = 0
    first = bounds[c]
    for i in range(first, first + fcnt[c]):
        u = fids[i]
        out = fout[i]
        start = indptr[u]
        stop = indptr[u + np.uint32(1)]
        followed += np.int64(stop - start) + d_count[u]
        for e in range(start, stop):
            retries += _add_claiming(acc, indices[e], out * weights[e], ctl,
                                     reached, shard_first_node, actors)  # fmt: skip
        first_extra = np.int64(d_start[u])
        for j in range(first_extra, first_extra + d_count[u]):
            retries += _add_claiming(acc, d_other[j], out * d_weight[j], ctl,
                                     reached, shard_first_node, actors)  # fmt: skip
    return followed, retries


@nb.njit(cache=True, nogil=True, inline="always")
def _add_claiming(acc, v, contribution, ctl, reached, shard_first_node, actors):
    """Add one contribution atomically; the add that turns the slot
    non-zero lists ``v`` with its owner. Returns the CAS retries."""
    if contribution == 0:
        return 0
    old, tries = atomics.add_f32(acc, v, contribution)
    if old == 0:
        owner = range_holding(shard_first_node, actors, v)
        line = control.actor_base(owner) + control.A_CLAIMED
        position = atomics.fetch_add(ctl, line, 1)
        reached[shard_first_node[owner] + position] = v
    return tries


@nb.njit(cache=True, nogil=True)
def _next_chunk(deques, actor, actors, seed):
    """A chunk to pull: from this actor's deque, else stolen from another's,
    starting at a random victim. Returns (chunk or -1, stolen, seed)."""
    chunk = deque.pop(deques[actor])
    if chunk >= 0:
        return chunk, False, seed
    # xorshift: a cheap victim choice that differs between actors.
    seed ^= seed << np.uint64(13)
    seed ^= seed >> np.uint64(7)
    seed ^= seed << np.uint64(17)
    start = np.int64(seed % np.uint64(actors))
    for t in range(actors):
        victim = (start + t) % actors
        if victim == actor:
            continue
        while True:
            chunk = deque.steal(deques[victim])
            if chunk != deque.ABORT:
                break
            atomics.pause()
        if chunk >= 0:
            return chunk, True, seed
    return np.int64(-1), False, seed


@nb.njit(cache=True, nogil=True)
def actor_spread(actor, actors, ctl, deques, graph, shards, work, result, model,
                 cue_ids, cue_x, start_wave, start_mode, seed, pull_edges,
                 shared_push, wave_log, cells):  # fmt: skip
    """One actor's part of a spread, from ``start_wave`` to the results.

    ``start_wave`` 0 settles the cues in this actor's shard first; a later
    wave continues from the frontier the driver left, in ``start_mode``.
    ``cells`` says whether the spread is the neural model's, and holds
    what that needs (see :func:`neural_cells`); its waves are gamma cycles,
    with ``max_hops`` the last cycle. Returns ``control.STATUS_OK`` or
    ``control.STATUS_ABORTED``.
    """
    (indptr, indices, weights, in_indptr, in_sources, in_weights, degree_ptr,
     delta_out, delta_in) = graph  # fmt: skip
    bounds, shard_chunks = shards
    state, acc, emit, fids, fout, fcnt, touched, tcnt, reached, scratch = work
    nodes, activation, first_hop = result
    decay, threshold, max_hops, fan_normalize, refractory_waves = model
    is_neural, nstate, listed, dynamics, gains, logs, cell_result = cells
    block = neural.new_block()
    no_flags = listed[:0]
    push_flags = listed if is_neural else no_flags
    num_chunks = bounds.shape[0] - 1
    first_chunk = shard_chunks[actor]
    last_chunk = shard_chunks[actor + 1]
    lo = bounds[first_chunk]
    hi = bounds[last_chunk]
    own_reached = reached[lo:hi]
    shard_first_node = np.empty(actors + 1, np.int64)
    for k in range(actors + 1):
        shard_first_node[k] = bounds[shard_chunks[k]]
    own_scratch = scratch[lo:hi]
    id_bits = pulse.id_bits_for(acc.shape[0])
    base = control.actor_base(actor)
    started = atomics.cycles()
    seed = np.uint64(0x9E3779B97F4A7C15) * np.uint64(actor + 1) + np.uint64(seed)
    cycle = 0

    if start_wave == 0 and is_neural:
        fired, fire_edges = neural_waves.settle_cues(
            cue_ids, cue_x, bounds, first_chunk, last_chunk, acc, state,
            nstate, touched, tcnt, fids[1], fout[1], fcnt[1], emit[1],
            dynamics, gains, block, logs, degree_ptr,
        )  # fmt: skip
    elif start_wave == 0:
        fired, fire_edges = settle_cues(
            cue_ids, cue_x, bounds, first_chunk, last_chunk, acc, state, touched,
            tcnt, fids[1], fout[1], fcnt[1], emit[1],
            _threshold_of(0, max_hops, threshold), refractory_waves, decay,
            degree_ptr, fan_normalize,
        )  # fmt: skip
    if start_wave == 0:
        ctl[base + control.A_FIRED] = fired
        ctl[base + control.A_FIRE_EDGES] = fire_edges
        cycle += 1
        mode = _barrier(
            ctl, actor, actors, cycle, 0, max_hops, pull_edges, shared_push,
            shard_chunks, deques, wave_log, tcnt,
        )  # fmt: skip
        wave = 1
    else:
        mode = start_mode
        wave = start_wave

    while mode > 0:
        now = wave & 1
        after = now ^ 1
        wave_threshold = _threshold_of(wave, max_hops, threshold)
        fired = 0
        fire_edges = 0
        if mode == control.PUSH:
            n_reached, followed = push_owned(
                indptr, indices, weights, bounds, num_chunks, fids[now],
                fout[now], fcnt[now], lo, hi, acc, own_reached, push_flags,
                delta_out,
            )  # fmt: skip
            pulse.sort_ids(own_reached, n_reached, own_scratch, id_bits)
            if is_neural:
                n_reached = neural.drop_silent(own_reached, n_reached, acc, listed)
                fired, fire_edges = neural_waves.settle_reached(
                    wave, own_reached, n_reached, acc, bounds, first_chunk,
                    last_chunk, state, nstate, touched, tcnt, fids[after],
                    fout[after], fcnt[after], emit[after], dynamics, gains,
                    block, logs, degree_ptr,
                )  # fmt: skip
            else:
                fired, fire_edges = settle_reached(
                    wave, own_reached, n_reached, acc, bounds, first_chunk,
                    last_chunk, state, touched, tcnt, fids[after],
                    fout[after], fcnt[after], emit[after], wave_threshold,
                    refractory_waves, decay, degree_ptr, fan_normalize,
                )  # fmt: skip
            ctl[base + control.A_EDGES] += followed
            ctl[base + control.A_PUSH_WAVES] += 1
        elif mode == control.SHARED_PUSH:
            while True:
                chunk, stolen, seed = _next_chunk(deques, actor, actors, seed)
                if chunk < 0:
                    break
                followed, retries = _push_shared_chunk(
                    chunk, indptr, indices, weights, delta_out, bounds, fids[now],
                    fout[now], fcnt[now], acc, reached, ctl, shard_first_node,
                    actors,
                )  # fmt: skip
                ctl[base + control.A_EDGES] += followed
                ctl[base + control.A_CAS_RETRIES] += retries
                if stolen:
                    ctl[base + control.A_STEALS] += 1
            cycle += 1
            if not _meet(ctl, actor, actors, cycle):
                mode = -1
                break
            n_reached = ctl[base + control.A_CLAIMED]
            ctl[base + control.A_CLAIMED] = 0
            pulse.sort_ids(own_reached, n_reached, own_scratch, id_bits)
            fired, fire_edges = settle_reached(
                wave, own_reached, n_reached, acc, bounds, first_chunk,
                last_chunk, state, touched, tcnt, fids[after], fout[after],
                fcnt[after], emit[after], wave_threshold,
                refractory_waves, decay, degree_ptr, fan_normalize,
            )  # fmt: skip
            ctl[base + control.A_PUSH_WAVES] += 1
        else:
            pull_started = atomics.cycles()
            while True:
                chunk, stolen, seed = _next_chunk(deques, actor, actors, seed)
                if chunk < 0:
                    break
                if is_neural:
                    chunk_fired, chunk_edges, read = neural_waves.pull_chunk(
                        chunk, wave, in_indptr, in_sources, in_weights, delta_in,
                        bounds,
                        emit[now], acc, reached, state, nstate, touched, tcnt,
                        fids[after], fout[after], fcnt[after], emit[after],
                        dynamics, gains, block, logs, degree_ptr,
                    )  # fmt: skip
                else:
                    chunk_fired, chunk_edges, read = pull_chunk(
                        chunk, wave, in_indptr, in_sources, in_weights, delta_in,
                        bounds,
                        emit[now], state, touched, tcnt, fids[after],
                        fout[after], fcnt[after], emit[after],
                        wave_threshold, refractory_waves, decay, degree_ptr,
                        fan_normalize,
                    )  # fmt: skip
                fired += chunk_fired
                fire_edges += chunk_edges
                ctl[base + control.A_EDGES] += read
                ctl[base + control.A_CHUNKS] += 1
                if stolen:
                    ctl[base + control.A_STEALS] += 1
            ctl[base + control.A_PULL_WAVES] += 1
            ctl[base + control.A_PULL_CYCLES] += atomics.cycles() - pull_started
        ctl[base + control.A_FIRED] = fired
        ctl[base + control.A_FIRE_EDGES] = fire_edges
        cycle += 1
        mode = _barrier(
            ctl, actor, actors, cycle, wave, max_hops, pull_edges, shared_push,
            shard_chunks, deques, wave_log, tcnt,
        )  # fmt: skip
        wave += 1

    if mode < 0:
        ctl[base + control.A_BUSY_CYCLES] += atomics.cycles() - started
        return control.STATUS_ABORTED

    position = ctl[base + control.A_POSITION]
    if is_neural:
        end_step = (ctl[control.LAST_WAVE] + 1) * dynamics[6]
        neural_waves.gather_chunks(
            bounds, first_chunk, last_chunk, touched, tcnt, scratch, state,
            nstate, position, end_step, dynamics, cell_result, id_bits,
        )  # fmt: skip
    else:
        gather_chunks(
            bounds, first_chunk, last_chunk, touched, tcnt, scratch, state,
            position, nodes, activation, first_hop, id_bits,
        )  # fmt: skip
    ctl[base + control.A_BUSY_CYCLES] += atomics.cycles() - started
    return control.STATUS_OK
