"""Compiled kernels of the hippocampal pathway (see ``docs/hippocampus.md``).

Three steps of :mod:`engram_actors.hippocampus` run here, each over arrays
whose size is fixed by the config, never by the memory graph:

- :func:`dentate_drive`: what the active entorhinal units send to the
  dentate gyrus through the sparse fixed projection;
- :func:`k_winners`: k-winners-take-all, the inhibition that keeps a fixed
  share of a layer active;
- :func:`settle`: the recurrent CA3 dynamics, with the Hebbian weights
  computed from the stored codes instead of held as a matrix.

Every sum is over integers or in a fixed order, so a result never depends
on anything but the inputs.
"""

import numba as nb
import numpy as np

__all__ = ["dentate_drive", "draw_fan_in", "k_winners", "overlaps", "settle"]


@nb.njit(cache=True, nogil=True)
def draw_fan_in(uniform, population):
    """Distinct inputs for each row: Floyd's sampling without replacement.

    ``uniform`` is an (rows, m) array of uniform draws in [0, 1); row ``r``
    gets ``m`` distinct integers of ``[0, population)``, every such set
    equally likely, in O(m) per row.
    """
    rows, m = uniform.shape
    chosen = np.empty((rows, m), np.int32)
    taken = np.zeros(population, np.uint8)
    for r in range(rows):
        for t, j in enumerate(range(population - m, population)):
            pick = int(uniform[r, t] * (j + 1))
            if pick > j:  # float rounding at the very top of [0, 1)
                pick = j
            if taken[pick]:
                pick = j
            taken[pick] = 1
            chosen[r, t] = pick
        for t in range(m):
            taken[chosen[r, t]] = 0
    return chosen


@nb.njit(cache=True, nogil=True)
def dentate_drive(ptr, targets, weights, units, values, width):
    """Input of every dentate unit from the active entorhinal units.

    ``ptr``, ``targets`` and ``weights`` hold the projection by entorhinal
    unit (CSR); ``units`` ascending with their ``values``. Sums in the order
    of ``units`` and, within one, of its targets.
    """
    drive = np.zeros(width, np.float64)
    for a in range(units.shape[0]):
        u = units[a]
        value = values[a]
        for t in range(ptr[u], ptr[u + 1]):
            drive[targets[t]] += weights[t] * value
    return drive


@nb.njit(cache=True, nogil=True)
def k_winners(drive, k, rank):
    """The ``k`` units of largest positive drive, ascending.

    A tie at the cut goes to the unit of higher ``rank`` (a fixed random
    permutation), so no part of the layer is favoured. Units without
    positive drive never win: fewer than ``k`` win when fewer are driven.

    Examples
    --------
    >>> k_winners(np.array([0.5, 2.0, 0.5, 0.0, 0.5]), 2, np.arange(5)).tolist()
    [1, 4]
    """
    width = drive.shape[0]
    candidates = np.flatnonzero(drive > 0)
    if candidates.shape[0] <= k:
        return candidates.astype(np.int32)
    values = drive[candidates]
    cut = np.partition(values, values.shape[0] - k)[values.shape[0] - k]
    above = 0
    for i in range(values.shape[0]):
        if values[i] > cut:
            above += 1
    ties = candidates[values == cut]
    tie_rank = rank[ties]
    kept = ties[np.argsort(-tie_rank)[: k - above]]
    won = np.zeros(width, np.uint8)
    for i in range(values.shape[0]):
        if values[i] > cut:
            won[candidates[i]] = 1
    for unit in kept:
        won[unit] = 1
    return np.flatnonzero(won).astype(np.int32)


@nb.njit(cache=True, nogil=True)
def overlaps(members, unit_count, stored, state):
    """``|x_e & s|`` for every stored code ``x_e``, from the units of the
    state ``s`` and the codes each unit belongs to (``members``)."""
    count = np.zeros(stored, np.int64)
    for unit in state:
        for t in range(unit_count[unit]):
            count[members[unit, t]] += 1
    return count


@nb.njit(cache=True, nogil=True)
def _recurrent_drive(codes, unit_count, state, overlap, covariance, drive):
    # stored / lr times W s, exactly, in whole numbers. Hebbian: each code
    # adds its overlap with the state to its units. Covariance: the overlap
    # less the mean overlap of all stored codes. Either way less the
    # diagonal, since a unit gets no input from itself. Rows of `codes`
    # shorter than k are padded with the sink unit drive[-1].
    stored = overlap.shape[0]
    total = overlap.sum()
    drive[:] = 0
    for e in range(stored):
        weight = stored * overlap[e]
        if covariance:
            weight -= total
        if weight == 0:
            continue
        for j in range(codes.shape[1]):
            drive[codes[e, j]] += weight
    for unit in state:
        if covariance:
            drive[unit] -= unit_count[unit] * (stored - unit_count[unit])
        else:
            drive[unit] -= stored * unit_count[unit]


@nb.njit(cache=True, nogil=True)
def settle(codes, members, unit_count, start, k, rank, iterations, covariance):
    """Run the recurrent k-WTA dynamics of CA3 from the state ``start``.

    ``codes`` holds the stored codes, one a row (padded with the unit
    ``len(rank)``, which no state holds); ``members[i, :unit_count[i]]``
    are the codes unit ``i`` belongs to, ascending. Each step computes the
    drive ``W s`` (times ``stored / lr``: whole numbers, exact in int64)
    and keeps its ``k`` winners. The dynamics stop after ``iterations``
    steps, at the first step that leaves the state unchanged, or at a
    cycle of two states (whose last state is then known without running
    the remaining steps).

    Returns
    -------
    state : ndarray of int32
        The settled state, ascending.
    overlap : ndarray of int64
        ``|x_e & state|`` for every stored code, for the readout.
    steps : int
        Steps run.
    """
    stored = codes.shape[0]
    width = rank.shape[0]
    drive = np.empty(width + 1, np.int64)
    state = start.copy()
    before = start[:0].copy()  # the state one step before `state`
    steps = 0
    while steps < iterations:
        overlap = overlaps(members, unit_count, stored, state)
        _recurrent_drive(codes, unit_count, state, overlap, covariance, drive)
        new_state = k_winners(drive[:width], k, rank)
        steps += 1
        if _same(new_state, state):
            break
        if steps >= 2 and _same(new_state, before):
            # A cycle of two states, which the dynamics would repeat to the
            # last step: end on the state that step would give.
            if (iterations - steps) % 2 == 1:
                new_state = state
            state = new_state
            break
        before = state
        state = new_state
    return state, overlaps(members, unit_count, stored, state), steps


@nb.njit(cache=True, nogil=True)
def _same(a, b):
    if a.shape[0] != b.shape[0]:
        return False
    for i in range(a.shape[0]):
        if a[i] != b[i]:
            return False
    return True
