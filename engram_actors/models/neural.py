"""Compiled kernels of the neural model: integrate-and-fire nodes in gamma
cycles (see ``docs/model.md``, "The neural model").

A spread runs in gamma cycles. In cycle ``c`` every node that receives
input integrates it, step by step, for the cycle's ``S`` steps; the spikes
it fires are delivered to its out-neighbours as input in cycle ``c + 1``
(a synaptic delay of one gamma cycle). A node's input in a cycle is::

    x(v) = sum over edges u -> v, u spiked in cycle c - 1 (u ascending,
           edges in CSR order) of emit(u) * w(u, v)
    emit(u) = float32(out(u) * gain[c]),  out(u) = resources at each of
              u's spikes in cycle c - 1, summed

which is the pulse model's wave with ``emit`` in place of ``decay * x``:
the same push and pull kernels compute it, in the same order, so every
runner gets the same bits.

Membrane potentials are kept relative to rest (``u = V - V_rest``), so that
a node never touched is all zeros whatever the config. A node's leak and
resource recovery are applied lazily: its record holds the step at which
its values were last brought up to date, and the closed form of the
exponential brings them forward when the node is next driven.

The cycle itself runs in :func:`integrate_cycle` on contiguous blocks of
driven nodes, written so that LLVM vectorises it across nodes (steps outer,
nodes inner, no branches); :func:`integrate_cycle_scalar` is the same
arithmetic node by node, which the tests compare bit for bit and which can
record every spike.
"""

import numba as nb
import numpy as np

from . import pulse

#: Per-node state of the neural model (besides the pulse model's record,
#: whose ``total`` and ``first_hop`` the neural model reuses for a node's
#: summed output and its first driven cycle). 32 bytes: a node's record is
#: one half of a cache line.
NEURAL_STATE = np.dtype(
    [
        ("u", np.float32),  # membrane potential minus rest, at `updated`
        ("resources", np.float32),  # synaptic resources in (0, 1]
        ("updated", np.int32),  # step at which u and resources hold
        ("refractory_until", np.int32),  # first step it may fire again
        ("spikes", np.int32),  # spikes in this spread
        ("first_spike", np.int32),  # step of the first spike, -1 if none
        ("last_spike", np.int32),  # step of the last spike, -1 if none
        ("_pad", np.int32),
    ],
    align=True,
)

#: Nodes integrated together: 4,096 nodes' eight block arrays take 128 KiB,
#: which stays in the second-level cache while the cycle's steps run over
#: them.
BLOCK = 4096

#: The dynamics as the kernels take them (see :func:`dynamics_of`).
DYNAMICS_FIELDS = (
    "u_threshold",  # float32: threshold minus rest
    "u_reset",  # float32: reset minus rest
    "leak",  # float32: exp(-dt / tau_m), one step's leak
    "recover",  # float32: exp(-dt / tau_recovery), one step's recovery
    "depletion",  # float32: resources kept at a spike
    "refractory_after",  # int32: refractory steps left after a spike's step
    "steps",  # int64: steps per gamma cycle
    "leak_rate",  # float64: dt / tau_m, for the closed-form catch-up
    "recover_rate",  # float64: dt / tau_recovery
)


def new_neural_state(num_nodes):
    """Neural node state for a graph, clear: every node at rest."""
    state = np.zeros(num_nodes, NEURAL_STATE)
    state["resources"] = 1
    state["first_spike"] = -1
    state["last_spike"] = -1
    return state


@nb.njit(cache=True)
def new_block():
    """Scratch arrays for one block of nodes (see :func:`integrate_list`)."""
    return (
        np.empty(BLOCK, np.float32),  # u
        np.empty(BLOCK, np.float32),  # u_inf: where the drive pulls u
        np.empty(BLOCK, np.float32),  # resources
        np.empty(BLOCK, np.int32),  # refractory steps left
        np.empty(BLOCK, np.float32),  # output this cycle
        np.empty(BLOCK, np.int32),  # spikes this cycle
        np.empty(BLOCK, np.int32),  # step of the first spike, -1 if none
        np.empty(BLOCK, np.int32),  # step of the last spike, -1 if none
    )


@nb.njit(cache=True, nogil=True)
def integrate_cycle(n, u, u_inf, r, ref, out, count, first, last, u_threshold,
                    u_reset, leak, recover, depletion, refractory_after,
                    steps):  # fmt: skip
    """Run one gamma cycle's steps for ``n`` nodes held in block arrays.

    Each step, for each node: resources recover toward 1; the potential
    relaxes toward ``u_inf`` (exact for a constant drive) unless the node
    is refractory, when it stays at reset; a node that is not refractory
    and reaches the threshold spikes: it adds its resources to ``out``,
    loses a share of them, resets, and turns refractory.

    Steps run outer and nodes inner, every choice a select: LLVM turns the
    inner loop into packed vector instructions (``tests/test_neural.py``
    checks the assembly). The arithmetic per node is exactly
    :func:`integrate_cycle_scalar`'s.
    """
    one = np.float32(1)
    zero = np.float32(0)
    none = np.int32(0)
    after = np.int32(refractory_after)
    for s in range(steps):
        step = np.int32(s)
        for i in range(n):
            resources = one - (one - r[i]) * recover
            refractory = ref[i] > none
            relaxed = u_inf[i] + (u[i] - u_inf[i]) * leak
            potential = u_reset if refractory else relaxed
            fire = (not refractory) & (potential >= u_threshold)
            out[i] += resources if fire else zero
            r[i] = resources * (depletion if fire else one)
            u[i] = u_reset if fire else potential
            count[i] += np.int32(1) if fire else none
            # Written as arithmetic on the old values, not as "keep the old
            # value unless it fired": LLVM turns the latter into masked
            # stores, which made the loop slower than the scalar one.
            last[i] = max(last[i], step if fire else np.int32(-1))
            first[i] += step + np.int32(1) if fire & (first[i] < none) else none
            left = ref[i] - np.int32(1)
            ref[i] = after if fire else max(left, none)


@nb.njit(cache=True, nogil=True)
def integrate_cycle_scalar(n, u, u_inf, r, ref, out, count, first, last,
                           u_threshold, u_reset, leak, recover, depletion,
                           refractory_after, steps, ids, t0, spike_ids,
                           spike_steps, n_spikes):  # fmt: skip
    """:func:`integrate_cycle` one node at a time, with branches.

    The same float32 operations in the same order, so the same bits; it
    serves as the scalar baseline of the vectorisation benchmark and, when
    ``spike_ids`` is not empty, records every spike as (``ids[i]``, step
    ``t0 + s``) at ``n_spikes`` onwards while there is room. Returns the
    new spike count (counting those it had no room for).
    """
    one = np.float32(1)
    record = spike_ids.shape[0] > 0
    for i in range(n):
        ui = u[i]
        ri = r[i]
        refi = ref[i]
        target = u_inf[i]
        for s in range(steps):
            ri = one - (one - ri) * recover
            if refi > 0:
                ui = u_reset
                refi -= 1
                continue
            ui = target + (ui - target) * leak
            if ui >= u_threshold:
                out[i] += ri
                ri = ri * depletion
                ui = u_reset
                count[i] += 1
                last[i] = s
                if first[i] < 0:
                    first[i] = s
                refi = refractory_after
                if record:
                    if n_spikes < spike_ids.shape[0]:
                        spike_ids[n_spikes] = ids[i]
                        spike_steps[n_spikes] = t0 + s
                    n_spikes += 1
        u[i] = ui
        r[i] = ri
        ref[i] = refi
    return n_spikes


@nb.njit(cache=True, nogil=True, inline="always")
def caught_up(value, rest, gap, rate):
    """``value`` relaxed toward ``rest`` over ``gap`` steps (closed form)."""
    if gap <= 0:
        return value
    factor = np.float32(np.exp(-np.float64(gap) * rate))
    return rest - (rest - value) * factor


@nb.njit(cache=True, nogil=True)
def integrate_list(ids, n, acc, nstate, cycle, dynamics, block, node_out,
                   node_spikes, scalar, spike_ids, spike_steps,
                   n_spikes):  # fmt: skip
    """Integrate cycle ``cycle`` for the nodes ``ids[:n]``, whose input is
    in ``acc`` (cleared here).

    Brings each node's record up to the cycle's first step (leak and
    recovery in closed form), runs the cycle in blocks, and writes the
    records back. ``node_out[i]`` and ``node_spikes[i]`` receive node
    ``ids[i]``'s output and spikes in the cycle. ``scalar`` runs
    :func:`integrate_cycle_scalar` instead (and records spikes where
    ``spike_ids`` has room). Returns the recorded spike count.
    """
    (u_threshold, u_reset, leak, recover, depletion, refractory_after, steps,
     leak_rate, recover_rate) = dynamics  # fmt: skip
    bu, bu_inf, br, bref, bout, bcount, bfirst, blast = block
    t0 = np.int64(cycle) * steps
    zero = np.float32(0)
    one = np.float32(1)
    for start in range(0, n, BLOCK):
        size = min(BLOCK, n - start)
        for i in range(size):
            v = ids[start + i]
            node = nstate[v]
            gap = t0 - node.updated
            bu[i] = caught_up(node.u, zero, gap, leak_rate)
            br[i] = caught_up(node.resources, one, gap, recover_rate)
            bu_inf[i] = acc[v]
            acc[v] = 0
            left = node.refractory_until - t0
            bref[i] = left if left > 0 else 0
            bout[i] = 0
            bcount[i] = 0
            bfirst[i] = -1
            blast[i] = -1
        if scalar:
            n_spikes = integrate_cycle_scalar(
                size, bu, bu_inf, br, bref, bout, bcount, bfirst, blast,
                u_threshold, u_reset, leak, recover, depletion,
                refractory_after, steps, ids[start:], t0, spike_ids,
                spike_steps, n_spikes,
            )  # fmt: skip
        else:
            integrate_cycle(
                size, bu, bu_inf, br, bref, bout, bcount, bfirst, blast,
                u_threshold, u_reset, leak, recover, depletion,
                refractory_after, steps,
            )  # fmt: skip
        for i in range(size):
            node = nstate[ids[start + i]]
            node.u = bu[i]
            node.resources = br[i]
            node.updated = t0 + steps
            node.refractory_until = t0 + steps + bref[i]
            spikes = bcount[i]
            if spikes > 0:
                node.spikes += spikes
                if node.first_spike < 0:
                    node.first_spike = t0 + bfirst[i]
                node.last_spike = t0 + blast[i]
            node_out[start + i] = bout[i]
            node_spikes[start + i] = spikes
    return n_spikes


@nb.njit(cache=True, nogil=True)
def drop_silent(ids, n, acc, listed):
    """Compact ``ids[:n]`` (ascending, possibly with repeats) to distinct
    nodes whose input is not zero, and clear their ``listed`` flags (see
    :func:`.pulse.push_sparse`).

    With inhibitory (negative) weights a node's input can cancel to zero
    in the middle of a push, and the push then lists it again: such a node
    must be integrated once, and a node whose input summed to exactly zero
    received no current at all.
    """
    kept = 0
    previous = np.int64(-1)
    for i in range(n):
        v = ids[i]
        if np.int64(v) == previous:  # listed again after cancelling
            continue
        previous = np.int64(v)
        if listed.shape[0] > 0:
            listed[v] = 0
        if acc[v] != 0:
            ids[kept] = v
            kept += 1
    return kept


@nb.njit(cache=True, nogil=True, inline="always")
def offer(wm_ids, wm_out, wm_count, cycle, v, out):
    """Offer node ``v`` with output ``out`` to cycle ``cycle``'s list of the
    strongest firers (output descending, ties by id ascending), which keeps
    ``wm_ids.shape[1]`` of them."""
    keep = wm_ids.shape[1]
    count = wm_count[cycle]
    ids = wm_ids[cycle]
    outs = wm_out[cycle]
    at = count
    while at > 0 and (outs[at - 1] < out or (outs[at - 1] == out and ids[at - 1] > v)):
        at -= 1
    if at >= keep:
        return
    last = min(count, keep - 1)
    for j in range(last, at, -1):
        ids[j] = ids[j - 1]
        outs[j] = outs[j - 1]
    ids[at] = v
    outs[at] = out
    if count < keep:
        wm_count[cycle] = count + 1


@nb.njit(cache=True, nogil=True)
def settle(cycle, ids, n, acc, state, nstate, touched, n_touched, dynamics,
           gains, block, frontier, frontier_out, cycle_log, wm_ids, wm_out,
           wm_count, scalar, spike_ids, spike_steps,
           n_spikes):  # fmt: skip
    """Close cycle ``cycle`` for the driven nodes ``ids[:n]`` (ascending,
    distinct): integrate them, fold their output into ``state``, list the
    touched and, ascending, the nodes that emit in the next cycle.

    Returns (frontier size, touched count, spikes recorded).
    """
    node_out = np.empty(n, np.float32)
    node_spikes = np.empty(n, np.int32)
    n_spikes = integrate_list(
        ids, n, acc, nstate, cycle, dynamics, block, node_out, node_spikes,
        scalar, spike_ids, spike_steps, n_spikes,
    )  # fmt: skip
    gain = gains[cycle + 1]
    count = 0
    spikes = 0
    active = 0
    for i in range(n):
        v = ids[i]
        node = state[v]
        node.total += node_out[i]
        if node.first_hop < 0:
            node.first_hop = cycle
            touched[n_touched] = v
            n_touched += 1
        if node_spikes[i] > 0:
            spikes += node_spikes[i]
            active += 1
            offer(wm_ids, wm_out, wm_count, cycle, v, node_out[i])
            emitted = np.float32(node_out[i] * gain)
            if emitted != 0:
                frontier[count] = v
                frontier_out[count] = emitted
                count += 1
    cycle_log[cycle, 0] += spikes
    cycle_log[cycle, 1] += active
    cycle_log[cycle, 2] += n
    return count, n_touched, n_spikes


@nb.njit(cache=True, nogil=True)
def drive_cues(cue_ids, cue_x, gain, acc):
    """Put the cues' drive into ``acc``: their activation times the gain."""
    for i in range(cue_ids.shape[0]):
        acc[cue_ids[i]] = np.float32(cue_x[i] * gain)


@nb.njit(cache=True, nogil=True)
def gather_and_clear(nodes, state, nstate, end_step, dynamics, activation,
                     first_cycle, spikes, first_spike, last_spike, potential,
                     resources):  # fmt: skip
    """Copy the results of ``nodes`` out, their potential and resources
    brought up to ``end_step``, and clear their records."""
    leak_rate = dynamics[7]
    recover_rate = dynamics[8]
    zero = np.float32(0)
    one = np.float32(1)
    for i in range(nodes.shape[0]):
        v = nodes[i]
        node = state[v]
        activation[i] = node.total
        first_cycle[i] = node.first_hop
        node.total = 0
        node.first_hop = -1
        node.last_fired = pulse.NEVER_FIRED  # a hand-over marks it
        record = nstate[v]
        gap = end_step - record.updated
        potential[i] = caught_up(record.u, zero, gap, leak_rate)
        resources[i] = caught_up(record.resources, one, gap, recover_rate)
        spikes[i] = record.spikes
        first_spike[i] = record.first_spike
        last_spike[i] = record.last_spike
        record.u = 0
        record.resources = 1
        record.updated = 0
        record.refractory_until = 0
        record.spikes = 0
        record.first_spike = -1
        record.last_spike = -1


#: Status of :func:`run_cycles`.
FINISHED = 0
HAND_OVER = 1


@nb.njit(cache=True, nogil=True)
def run_cycles(indptr, indices, weights, cue_ids, cue_x, max_cycles, dynamics,
               gains, acc, out, state, nstate, listed, touched, frontier,
               frontier_out, reached, scratch, block, cycle_log, wm_ids,
               wm_out, wm_count, wave_log, dense_edges, hand_over_edges,
               scalar, spike_ids, spike_steps):  # fmt: skip
    """Run a spread of the neural model in the calling process.

    Cycle 0 integrates the cues' drive; each later cycle delivers the
    previous cycle's spikes along the out-edges (the pulse model's push,
    dense from ``dense_edges`` frontier edges) and integrates the nodes
    they reach. ``wave_log[c]`` receives (nodes emitting into cycle c,
    their out-edges); ``cycle_log[c]`` (spikes, spiking nodes, driven
    nodes); ``wm_*[c]`` the cycle's strongest firers.

    Returns (status, next cycle, frontier size, its out-edges, touched
    count, spikes recorded): ``FINISHED``, or ``HAND_OVER`` when the next
    cycle's frontier has at least ``hand_over_edges`` out-edges.
    """
    id_bits = pulse.id_bits_for(indptr.shape[0] - 1)
    drive_cues(cue_ids, cue_x, gains[0], acc)
    count, n_touched, n_spikes = settle(
        0, cue_ids, cue_ids.shape[0], acc, state, nstate, touched, 0,
        dynamics, gains, block, frontier, frontier_out, cycle_log, wm_ids,
        wm_out, wm_count, scalar, spike_ids, spike_steps, 0,
    )  # fmt: skip
    cycle = 1
    while cycle <= max_cycles and count > 0:
        work = 0
        for i in range(count):
            u = frontier[i]
            work += np.int64(indptr[u + np.uint32(1)] - indptr[u])
        if work >= hand_over_edges:
            return HAND_OVER, cycle, count, work, n_touched, n_spikes
        wave_log[cycle, 0] = count
        wave_log[cycle, 1] = work
        if work >= dense_edges:
            pulse.push_dense(
                indptr, indices, weights, frontier, frontier_out, count, acc, out
            )
            n_reached = pulse.collect_dense(acc, reached)
        else:
            n_reached = pulse.push_sparse(
                indptr, indices, weights, frontier, frontier_out, count, acc,
                reached, listed,
            )  # fmt: skip
            pulse.sort_ids(reached, n_reached, scratch, id_bits)
        n_reached = drop_silent(reached, n_reached, acc, listed)
        count, n_touched, n_spikes = settle(
            cycle, reached, n_reached, acc, state, nstate, touched, n_touched,
            dynamics, gains, block, frontier, frontier_out, cycle_log, wm_ids,
            wm_out, wm_count, scalar, spike_ids, spike_steps, n_spikes,
        )  # fmt: skip
        cycle += 1
    return FINISHED, cycle, count, 0, n_touched, n_spikes
