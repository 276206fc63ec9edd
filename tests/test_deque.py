"""The work-stealing deque of shm.deque, in one process and across several.

The contention tests put one deque in a shared segment and fork an owner
and one or three thieves onto it, the way the actors of a wave share one::

    test process: creates the segment, compiles the kernels, forks
        owner  -- push / fill, pop -->  deque  <-- steal --  thieves
          |                                                     |
          +---- marks taken[owner][item]    taken[thief][item] -+
    test process: joins (killing on timeout), checks that the marks add
                  up to exactly one per item, unlinks

The owner loads the deque in one of three ways: streaming (pushes in
batches, popping half of each batch back), waves (fill while the thieves
wait at a barrier, as a wave of the engine is loaded), and last items (push
two, pop two, so that every pop races the thieves for the last items).
Each process marks the items it took in its own row of ``taken`` with
plain stores, so that the marks themselves cannot race.
"""

import collections
import multiprocessing
import os
import time

import numba as nb
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from leaks import shared_segment

from shm import deque as dq
from shm.atomics import cycles, fetch_add, load, pause, store, yield_cpu

pytestmark = pytest.mark.usefixtures("no_leaks")

FORK = multiprocessing.get_context("fork")

#: Items handed out in one contention round.
ITEMS = 200_000
#: Capacity of the shared deque; also the items of one wave in the wave
#: test, which makes about 200 waves of ITEMS, each ending at a barrier.
CAPACITY = 1024
#: Items the owner pushes before it pops half as many, in the streaming
#: test: enough that thieves find work, few enough to fill up now and then.
PUSH_BATCH = 256
#: Cycles of pretend work per item taken (about 0.1 µs): gives the thieves
#: time to reach the deque before the owner has popped everything itself.
WORK_CYCLES = 300
#: Rounds to repeat when the thieves got nothing at all (a loaded machine
#: may not schedule them until the owner is done).
ROUNDS = 3
#: Seconds a round may take before its processes are killed as hung.
JOIN_TIMEOUT_S = 60.0
#: Spins between sched_yield calls in the waits: short, because four
#: processes spinning on two cores only delay whoever they wait for.
SPINS_PER_YIELD = 64


def run_children(targets_and_args, timeout_s=JOIN_TIMEOUT_S):
    """Fork one child per (target, args), wait for all, kill any that hang."""
    children = [FORK.Process(target=t, args=a) for t, a in targets_and_args]
    try:
        for child in children:
            child.start()
        deadline = time.monotonic() + timeout_s
        for child in children:
            child.join(max(deadline - time.monotonic(), 0.0))
        hung = [child.pid for child in children if child.is_alive()]
        assert not hung, f"children {hung} still running after {timeout_s} s"
        codes = [child.exitcode for child in children]
        assert codes == [0] * len(children), f"exit codes {codes}"
    finally:
        for child in children:
            if child.is_alive():
                child.kill()
            if child.pid is not None:
                child.join()


# --- one process --------------------------------------------------------------


@pytest.mark.parametrize("bad", [0, 1, 3, 6, 1000, -4, 2.0, "8", True])
def test_capacity_must_be_a_power_of_two(bad):
    with pytest.raises(
        ValueError, match="capacity must be a power of two of at least 2, not "
    ):
        dq.deque_words(bad)
    with pytest.raises(ValueError, match="power of two"):
        dq.new_deque(bad)


def test_layout_puts_top_bottom_and_header_in_lines_of_their_own():
    assert dq.CACHE_LINE_WORDS == 8
    # Whole lines, so that deques side by side each start a line.
    assert dq.deque_words(2) == dq.deque_words(8) == 3 * 8 + 8
    assert dq.deque_words(np.int64(1024)) == 3 * 8 + 1024

    deque = dq.new_deque(4)
    assert dq.push(deque, 7)
    assert deque[0] == 0 and deque[8] == 1  # top, bottom
    assert dq.steal(deque) == 7
    assert deque[0] == 1 and deque[8] == 1
    assert deque[16] == 4 and deque[24] == 7  # capacity, first slot


def test_init_checks_the_array():
    with pytest.raises(ValueError, match="needs 32 words, the array has 31"):
        dq.init(np.zeros(31, np.int64), 2)
    with pytest.raises(
        ValueError, match="one-dimensional int64 array, not 1-d float64"
    ):
        dq.init(np.zeros(32, np.float64), 2)
    with pytest.raises(ValueError, match="not 2-d int64"):
        dq.init(np.zeros((2, 32), np.int64), 2)
    with pytest.raises(ValueError, match="power of two"):
        dq.init(np.zeros(100, np.int64), 3)


def test_init_clears_a_used_array_and_nothing_after_it():
    deque = np.full(45, 99, np.int64)
    dq.init(deque, 16)
    assert dq.capacity(deque) == 16
    assert dq.size(deque) == 0
    assert dq.pop(deque) == dq.EMPTY
    assert dq.steal(deque) == dq.EMPTY
    assert deque.tolist() == [0] * 16 + [16] + [0] * 23 + [99] * 5


def test_empty_deque():
    deque = dq.new_deque(2)
    assert (dq.EMPTY, dq.ABORT) == (-1, -2)
    assert dq.pop(deque) == dq.EMPTY
    assert dq.steal(deque) == dq.EMPTY
    # A pop of an empty deque leaves it as it was.
    assert dq.size(deque) == 0
    assert dq.push(deque, 5)
    assert dq.size(deque) == 1


def test_pop_is_last_in_first_out_and_steal_first_in_first_out():
    deque = dq.new_deque(8)
    for item in range(10, 15):
        assert dq.push(deque, item)
    assert dq.size(deque) == 5
    assert [dq.pop(deque) for _ in range(2)] == [14, 13]
    assert [dq.steal(deque) for _ in range(2)] == [10, 11]
    assert dq.pop(deque) == 12  # the last item, claimed through top
    assert dq.pop(deque) == dq.EMPTY
    assert dq.steal(deque) == dq.EMPTY


def test_push_refuses_when_full():
    deque = dq.new_deque(4)
    assert all(dq.push(deque, item) for item in range(4))
    assert not dq.push(deque, 4)
    assert dq.size(deque) == 4
    assert dq.steal(deque) == 0
    assert dq.push(deque, 4)
    assert [dq.pop(deque) for _ in range(5)] == [4, 3, 2, 1, dq.EMPTY]


def test_indices_run_past_the_capacity():
    deque = dq.new_deque(4)
    for item in range(40):
        assert dq.push(deque, item)
        if item % 3 == 2:
            assert dq.pop(deque) == item
        else:
            assert dq.steal(deque) == item
    assert deque[0] > 4 * dq.capacity(deque)


def test_push_refuses_negative_items():
    deque = dq.new_deque(4)
    with pytest.raises(ValueError, match="deque items must be non-negative"):
        dq.push(deque, dq.EMPTY)
    assert dq.size(deque) == 0


def test_fill_replaces_the_contents():
    deque = dq.new_deque(8)
    for item in range(3):
        dq.push(deque, item)
    dq.steal(deque)

    dq.fill(deque, 100, 5)
    assert dq.size(deque) == 5
    assert dq.steal(deque) == 100
    assert dq.pop(deque) == 104
    assert [dq.steal(deque) for _ in range(4)] == [101, 102, 103, dq.EMPTY]

    dq.fill(deque, 7, 8)
    assert not dq.push(deque, 1)
    dq.fill(deque, 7, 0)
    assert dq.pop(deque) == dq.EMPTY


def test_fill_checks_its_arguments():
    deque = dq.new_deque(4)
    with pytest.raises(ValueError, match="between 0 and the capacity"):
        dq.fill(deque, 0, 5)
    with pytest.raises(ValueError, match="between 0 and the capacity"):
        dq.fill(deque, 0, -1)
    with pytest.raises(ValueError, match="deque items must be non-negative"):
        dq.fill(deque, -1, 2)


_items = st.integers(min_value=0, max_value=2**62)
_operations = st.lists(
    st.one_of(
        st.tuples(st.just("push"), _items),
        st.just(("pop",)),
        st.just(("steal",)),
        st.tuples(st.just("fill"), _items, st.integers(0, 8)),
    ),
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(capacity=st.sampled_from([2, 4, 8]), operations=_operations)
def test_matches_a_python_deque(capacity, operations):
    deque = dq.new_deque(capacity)
    model = collections.deque()
    for name, *args in operations:
        if name == "push":
            pushed = dq.push(deque, args[0])
            assert pushed == (len(model) < capacity)
            if pushed:
                model.append(args[0])
        elif name == "pop":
            assert dq.pop(deque) == (model.pop() if model else dq.EMPTY)
        elif name == "steal":
            assert dq.steal(deque) == (model.popleft() if model else dq.EMPTY)
        else:
            first, count = args[0], min(args[1], capacity)
            dq.fill(deque, first, count)
            model = collections.deque(range(first, first + count))
        assert dq.size(deque) == len(model)


# --- across processes -------------------------------------------------------
#
# Segment layout: the deque at byte 0; then the control words, each in its
# own cache line (start gate, wave number, thieves parked, done flag); then
# one stats line per process (items taken, aborted steals, items out of
# range); then one row of int32 marks per process, one mark per item.

_GATE, _WAVE, _PARKED, _DONE = (line * dq.CACHE_LINE_WORDS for line in range(4))
_CONTROL_WORDS = 4 * dq.CACHE_LINE_WORDS
_TAKEN, _ABORTS, _OUT_OF_RANGE = range(3)


@nb.njit(cache=True, nogil=True)
def _wait_at_gate(control, parties):
    """Count in at the start gate, then wait for every party."""
    fetch_add(control, _GATE, 1)
    _wait_until_at_least(control, _GATE, parties)


@nb.njit(cache=True, nogil=True)
def _wait_until_at_least(control, word, value):
    spins = 0
    while load(control, word, "acquire") < value:
        pause()
        spins += 1
        if spins % SPINS_PER_YIELD == 0:
            yield_cpu()


@nb.njit(cache=True, nogil=True)
def _take(item, taken, stats):
    """Mark ``item`` taken by this process, then do its pretend work."""
    if 0 <= item < taken.size:
        taken[item] += 1
    else:
        stats[_OUT_OF_RANGE] += 1
    stats[_TAKEN] += 1
    start = cycles()
    while cycles() - start < WORK_CYCLES:
        pause()


@nb.njit(cache=True, nogil=True)
def _pop_until_empty(deque, taken, stats):
    while True:
        item = dq.pop(deque)
        if item == dq.EMPTY:
            return
        _take(item, taken, stats)


@nb.njit(cache=True, nogil=True)
def _owner_streaming(deque, control, parties, taken, stats):
    """Push every item in batches, popping half a batch after each."""
    _wait_at_gate(control, parties)
    items = taken.size
    next_item = 0
    while next_item < items:
        batch_end = min(next_item + PUSH_BATCH, items)
        while next_item < batch_end and dq.push(deque, next_item):
            next_item += 1
        for _ in range(PUSH_BATCH // 2):
            item = dq.pop(deque)
            if item == dq.EMPTY:
                break
            _take(item, taken, stats)
    _pop_until_empty(deque, taken, stats)
    # Nothing is pushed after this: a thief that finds the deque empty and
    # then sees the flag has seen the last of it.
    store(control, _DONE, 1, "release")


@nb.njit(cache=True, nogil=True)
def _owner_last_items(deque, control, parties, taken, stats):
    """Push two items and pop both straight back, for every pair.

    The pops then race the thieves for the last two items in the deque: the
    second pop for the very last, which needs the CAS in pop; the first
    against two quick steals, which needs the fences in pop and steal.
    """
    _wait_at_gate(control, parties)
    for first in range(0, taken.size, 2):
        for item in range(first, min(first + 2, taken.size)):
            dq.push(deque, item)
        for _ in range(2):
            popped = dq.pop(deque)
            if popped != dq.EMPTY:
                _take(popped, taken, stats)
    store(control, _DONE, 1, "release")


@nb.njit(cache=True, nogil=True)
def _steal_until_empty(deque, taken, stats):
    while True:
        item = dq.steal(deque)
        if item >= 0:
            _take(item, taken, stats)
        elif item == dq.ABORT:
            stats[_ABORTS] += 1
        else:
            return


@nb.njit(cache=True, nogil=True)
def _thief_streaming(deque, control, parties, taken, stats):
    """Steal until the deque is empty and the owner has said it is done."""
    _wait_at_gate(control, parties)
    spins = 0
    while True:
        _steal_until_empty(deque, taken, stats)
        if load(control, _DONE, "acquire") != 0:
            _steal_until_empty(deque, taken, stats)
            return
        pause()
        spins += 1
        if spins % SPINS_PER_YIELD == 0:
            yield_cpu()


@nb.njit(cache=True, nogil=True)
def _owner_waves(deque, control, parties, taken, stats):
    """Load each wave with fill while the thieves are parked, then pop."""
    _wait_at_gate(control, parties)
    items = taken.size
    thieves = parties - 1
    first = 0
    wave = 0
    while first < items:
        count = min(dq.capacity(deque), items - first)
        dq.fill(deque, first, count)
        wave += 1
        store(control, _WAVE, wave, "release")
        # Let a thief that shares this core start on the wave, as an actor
        # would; otherwise one core sees the owner pop every wave alone.
        yield_cpu()
        _pop_until_empty(deque, taken, stats)
        # The barrier: fill is safe only once no thief is inside steal.
        _wait_until_at_least(control, _PARKED, wave * thieves)
        first += count
    store(control, _DONE, 1, "release")


@nb.njit(cache=True, nogil=True)
def _thief_waves(deque, control, parties, taken, stats):
    """For each wave: steal until the deque is empty, then park."""
    _wait_at_gate(control, parties)
    waves_done = 0
    spins = 0
    while True:
        wave = load(control, _WAVE, "acquire")
        if wave == waves_done:
            if load(control, _DONE, "acquire") != 0:
                return
            pause()
            spins += 1
            if spins % SPINS_PER_YIELD == 0:
                yield_cpu()
            continue
        _steal_until_empty(deque, taken, stats)
        waves_done = wave
        fetch_add(control, _PARKED, 1)


_MODES = {
    "streaming": (_owner_streaming, _thief_streaming),
    "waves": (_owner_waves, _thief_waves),
    "last_items": (_owner_last_items, _thief_streaming),
}


def _views(shared, parties):
    """The deque, the control words, per-process stats and taken marks."""
    buffer = shared.buf
    deque_words = dq.deque_words(CAPACITY)
    deque = np.ndarray(deque_words, np.int64, buffer, 0)
    offset = deque.nbytes
    control = np.ndarray(_CONTROL_WORDS, np.int64, buffer, offset)
    offset += control.nbytes
    stats = np.ndarray((parties, dq.CACHE_LINE_WORDS), np.int64, buffer, offset)
    offset += stats.nbytes
    taken = np.ndarray((parties, ITEMS), np.int32, buffer, offset)
    return deque, control, stats, taken


def _segment_bytes(parties):
    words = dq.deque_words(CAPACITY) + _CONTROL_WORDS
    return 8 * words + 8 * dq.CACHE_LINE_WORDS * parties + 4 * parties * ITEMS


def pin_to_a_cpu(rank):
    """Put process ``rank`` on a CPU of its own while there are enough.

    Left to itself the scheduler may keep two fresh processes on one core
    for the whole of a short round, and then nothing runs concurrently.
    """
    cpus = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpus[rank % len(cpus)]})


def _process(shared, parties, rank, mode):
    """Rank 0 owns the deque; the others steal from it."""
    pin_to_a_cpu(rank)
    deque, control, stats, taken = _views(shared, parties)
    kernel = _MODES[mode][0 if rank == 0 else 1]
    kernel(deque, control, parties, taken[rank], stats[rank])


def _compile_kernels():
    """Compile in this process, so that the forked children need not."""
    deque = dq.new_deque(2)
    control = np.zeros(_CONTROL_WORDS, np.int64)
    control[_GATE] = 1
    control[_DONE] = 1
    stats = np.zeros(dq.CACHE_LINE_WORDS, np.int64)
    taken = np.zeros(0, np.int32)
    for owner, thief in _MODES.values():
        owner(deque, control, 1, taken, stats)
        thief(deque, control, 1, taken, stats)


def _round(parties, mode):
    """One round of an owner and ``parties - 1`` thieves; returns the stats
    per process and the marks summed over processes."""
    with shared_segment(_segment_bytes(parties)) as shared:
        deque, control, stats, taken = _views(shared, parties)
        dq.init(deque, CAPACITY)
        del deque, control
        run_children(
            [(_process, (shared, parties, rank, mode)) for rank in range(parties)]
        )
        per_process_marks = taken.sum(axis=1, dtype=np.int64)
        marks = taken.sum(axis=0, dtype=np.int64)
        stats = stats[:, :3].copy()
        del taken
    return stats, per_process_marks, marks


@pytest.mark.parametrize("mode", ["streaming", "waves", "last_items"])
@pytest.mark.parametrize("thieves", [1, 3])
def test_every_item_is_taken_exactly_once(mode, thieves, record_property):
    _compile_kernels()
    parties = 1 + thieves
    for _ in range(ROUNDS):
        stats, per_process_marks, marks = _round(parties, mode)

        assert not stats[:, _OUT_OF_RANGE].any(), "an item no one put in came out"
        assert np.array_equal(per_process_marks, stats[:, _TAKEN])
        assert stats[:, _TAKEN].sum() == ITEMS
        taken_twice = np.flatnonzero(marks > 1)
        never_taken = np.flatnonzero(marks == 0)
        assert taken_twice.size == 0, f"taken twice: {taken_twice[:10]}"
        assert never_taken.size == 0, f"never taken: {never_taken[:10]}"

        stolen = int(stats[1:, _TAKEN].sum())
        if stolen > 0:
            break
    record_property("stolen", stolen)
    record_property("aborted_steals", int(stats[1:, _ABORTS].sum()))
    assert stolen > 0, f"the thieves took nothing in {ROUNDS} rounds"
