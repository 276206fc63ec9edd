"""The atomic intrinsics of shm.atomics, alone and across processes.

The cross-process tests fork children that share one segment with the test
process, the way actors share theirs with the coordinator::

    test process: creates the segment, compiles the kernels, forks
        |-- child 0 --\\
        |-- child 1 ---+--> gate word, then atomics on the same slots
        |-- child 2 --/
    test process: joins (killing on timeout), checks totals, unlinks

Children inherit the mapping and the compiled kernels through fork, so they
attach nothing and compile nothing. Every kernel a child runs is compiled in
the test process first; every child is pinned to a CPU of its own while
there are enough, and waits at a start gate, so that they really overlap.
The same updates without atomics must lose some, which shows that the
exactness test could fail. The spin-wait test passes a flag back and forth
between the test process and one child.
"""

import functools
import math
import multiprocessing
import os
import time
from multiprocessing.shared_memory import SharedMemory

import numba as nb
import numpy as np
import pytest
from leaks import shared_segment

from shm import atomics
from shm.atomics import (
    add_f32,
    compare_exchange,
    compare_exchange_f32,
    cycles,
    cycles_per_second,
    exchange,
    fence,
    fetch_add,
    load,
    load_acquire,
    pause,
    sleep_us,
    store,
    store_release,
    yield_cpu,
)

pytestmark = pytest.mark.usefixtures("no_leaks")

FORK = multiprocessing.get_context("fork")

#: Updates per process in the exactness tests: at least this many, and on
#: for at least the window, so that the processes overlap for a while even
#: when the scheduler starts them on one core and moves one later.
MIN_UPDATES = 200_000
ATOMIC_WINDOW_S = 0.03
#: At most this many per process: three processes' worth stays below
#: 2**24, where float32 would stop counting whole numbers exactly.
MAX_UPDATES = 1_000_000
#: How long each of two processes updates without atomics when looking for
#: a lost update: long enough to span several scheduler time slices, so
#: that the two meet through preemption even on one core.
LOSSY_WINDOW_S = 0.05
#: Most updates per process in that window: two processes' worth stays
#: below 2**24, where float32 would stop counting whole numbers exactly.
LOSSY_MAX_UPDATES = 8_000_000
#: Rounds of looking for a lost update before giving up on seeing one.
LOSSY_ROUNDS = 5
#: Seconds a group of children may take before it is killed as hung.
JOIN_TIMEOUT_S = 30.0
#: Spins between sched_yield calls in the waits: short, because more
#: spinning processes than cores only delays whoever they wait for.
SPINS_PER_YIELD = 64


def run_children(target, args_per_child, timeout_s=JOIN_TIMEOUT_S):
    """Fork one child per argument tuple, wait for all, kill any that hang."""
    children = [FORK.Process(target=target, args=args) for args in args_per_child]
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


# --- single process ---------------------------------------------------------


@functools.cache
def _load_kernel(ordering):
    @nb.njit
    def kernel(array, index):
        return load(array, index, ordering)

    return kernel


@functools.cache
def _store_kernel(ordering):
    @nb.njit
    def kernel(array, index, value):
        store(array, index, value, ordering)

    return kernel


@nb.njit(cache=True)
def _compare_exchange(array, index, expected, desired):
    return compare_exchange(array, index, expected, desired)


@nb.njit(cache=True)
def _compare_exchange_f32(array, index, expected, desired):
    return compare_exchange_f32(array, index, expected, desired)


@nb.njit(cache=True)
def _fetch_add(array, index, value):
    return fetch_add(array, index, value)


@nb.njit(cache=True)
def _exchange(array, index, value):
    return exchange(array, index, value)


@nb.njit(cache=True)
def _add_f32(array, index, value):
    return add_f32(array, index, value)


@nb.njit(cache=True)
def _acquire_release(array, index, value):
    store_release(array, index, value)
    return load_acquire(array, index)


@pytest.mark.parametrize("ordering", ["relaxed", "release", "seq_cst"])
@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.float32, np.float64])
def test_store_then_load(ordering, dtype):
    array = np.zeros(5, dtype)
    _store_kernel(ordering)(array, 3, dtype(7))
    assert array.tolist() == [0, 0, 0, 7, 0]
    read_ordering = {"release": "acquire"}.get(ordering, ordering)
    assert _load_kernel(read_ordering)(array, 3) == 7


def test_store_release_load_acquire():
    array = np.zeros(3, np.int64)
    assert _acquire_release(array, 1, -5) == -5
    assert array.tolist() == [0, -5, 0]


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8])
def test_compare_exchange(dtype):
    array = np.array([5, 6], dtype)
    old, swapped = _compare_exchange(array, 1, 6, 9)
    assert (old, swapped) == (6, True)
    assert array.tolist() == [5, 9]

    old, swapped = _compare_exchange(array, 1, 6, 1)
    assert (old, swapped) == (9, False)
    assert array.tolist() == [5, 9]


def test_atomics_honour_strides():
    base = np.zeros(64, np.int64)
    view = base[::8]
    assert _compare_exchange(view, 3, 0, 11) == (0, True)
    assert _fetch_add(view, 5, 4) == 0
    assert _exchange(view, 7, 13) == 0
    _store_kernel("seq_cst")(view, 1, 2)
    assert _load_kernel("acquire")(view, 3) == 11

    expected = np.zeros(64, np.int64)
    expected[[8, 24, 40, 56]] = [2, 11, 4, 13]
    np.testing.assert_array_equal(base, expected)


def test_atomics_on_a_strided_float32_view():
    base = np.zeros(32, np.float32)
    view = base[1::4]
    assert _add_f32(view, 2, 1.5) == (0.0, 0)
    assert _compare_exchange_f32(view, 2, 1.5, 2.5) == (1.5, True)
    assert base[9] == 2.5
    assert np.count_nonzero(base) == 1


def test_compare_exchange_f32_compares_bits():
    array = np.zeros(1, np.float32)

    # 0.0 == -0.0 as numbers, but not as bit patterns.
    old, swapped = _compare_exchange_f32(array, 0, np.float32(-0.0), 1.0)
    assert not swapped
    assert old == 0.0 and not math.copysign(1.0, old) < 0
    assert array[0] == 0.0

    array[0] = -0.0
    old, swapped = _compare_exchange_f32(array, 0, np.float32(0.0), 1.0)
    assert not swapped and math.copysign(1.0, old) < 0
    old, swapped = _compare_exchange_f32(array, 0, np.float32(-0.0), 3.0)
    assert swapped and math.copysign(1.0, old) < 0
    assert array[0] == 3.0


def test_compare_exchange_f32_matches_a_nan_read_back():
    array = np.array([np.nan], np.float32)
    old, swapped = _compare_exchange_f32(array, 0, array[0], 2.0)
    assert swapped and math.isnan(old)
    assert array[0] == 2.0

    # A NaN with other bits (a different payload) does not match.
    array.view(np.uint32)[0] = 0x7FC00001
    old, swapped = _compare_exchange_f32(array, 0, np.float32(np.nan), 2.0)
    assert not swapped and math.isnan(old)
    assert array.view(np.uint32)[0] == 0x7FC00001


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_fetch_add_and_exchange_return_the_old_value(dtype):
    array = np.array([10, 20], dtype)
    assert _fetch_add(array, 0, 5) == 10
    assert _fetch_add(array, 0, -20) == 15
    assert _exchange(array, 1, 7) == 20
    assert array.tolist() == [-5, 7]


def test_fetch_add_wraps_like_the_array_type():
    array = np.array([np.iinfo(np.int32).max], np.int32)
    assert _fetch_add(array, 0, 1) == np.iinfo(np.int32).max
    assert array[0] == np.iinfo(np.int32).min


def test_add_f32_alone_never_retries():
    array = np.array([0.0, 1.25], np.float32)
    assert _add_f32(array, 1, 0.5) == (1.25, 0)
    assert _add_f32(array, 1, -2.0) == (1.75, 0)
    assert array.tolist() == [0.0, -0.25]


@nb.njit(cache=True)
def _timing_primitives(microseconds):
    fence("seq_cst")
    fence("acquire")
    fence("release")
    fence("acq_rel")
    pause()
    yield_cpu()
    start = cycles()
    sleep_us(microseconds)
    return cycles() - start


def test_timing_primitives():
    _timing_primitives(0)
    started = time.perf_counter()
    elapsed_cycles = _timing_primitives(2000)
    elapsed_s = time.perf_counter() - started
    assert elapsed_s >= 0.002
    assert elapsed_cycles > 0
    rate = cycles_per_second()
    assert rate > 1e6
    # The cycle counter agrees with the wall clock to within a factor of 10.
    assert 0.1 < elapsed_cycles / rate / elapsed_s < 10


# --- typing errors ------------------------------------------------------------


def test_load_refuses_a_release_ordering():
    with pytest.raises(
        nb.errors.TypingError,
        match="memory ordering 'release' is not one of relaxed, acquire, seq_cst",
    ):
        _load_kernel("release")(np.zeros(2, np.int64), 0)


def test_store_refuses_an_acquire_ordering():
    with pytest.raises(
        nb.errors.TypingError,
        match="memory ordering 'acquire' is not one of relaxed, release, seq_cst",
    ):
        _store_kernel("acquire")(np.zeros(2, np.int64), 0, 1)


def test_fence_refuses_a_relaxed_ordering():
    @nb.njit
    def kernel():
        fence("relaxed")

    with pytest.raises(nb.errors.TypingError, match="memory ordering 'relaxed'"):
        kernel()


def test_ordering_must_be_a_literal():
    @nb.njit
    def kernel(array, ordering):
        return load(array, 0, ordering)

    with pytest.raises(nb.errors.TypingError, match="must be a literal string"):
        kernel(np.zeros(2, np.int64), "relaxed")


def test_load_refuses_a_two_dimensional_array():
    with pytest.raises(nb.errors.TypingError, match="needs a one-dimensional array"):
        _load_kernel("relaxed")(np.zeros((2, 2), np.int64), 0)


@pytest.mark.parametrize(
    "call",
    [
        lambda array: _compare_exchange(array, 0, 0, 1),
        lambda array: _fetch_add(array, 0, 1),
        lambda array: _exchange(array, 0, 1),
    ],
    ids=["compare_exchange", "fetch_add", "exchange"],
)
def test_integer_atomics_refuse_float_arrays(call):
    with pytest.raises(nb.errors.TypingError, match="needs an integer array"):
        call(np.zeros(2, np.float32))


def test_compare_exchange_f32_refuses_float64():
    with pytest.raises(nb.errors.TypingError, match="needs a float32 array"):
        _compare_exchange_f32(np.zeros(2, np.float64), 0, 0.0, 1.0)


def test_add_f32_refuses_int_arrays():
    with pytest.raises(nb.errors.TypingError, match="needs a float32 array"):
        _add_f32(np.zeros(2, np.int32), 0, 1)


# --- across processes -------------------------------------------------------
#
# Segment layout, one 64-byte line per word so that only the words that are
# meant to be contended are: int64 gate at byte 0, int64 counter at 64,
# float32 slot at 128; then three int64 per process (integer updates, float
# updates, add_f32 retries), and a uint8 mark per old value of each slot.

_GATE_BYTE = 0
_COUNTER_BYTE = 64
_FLOAT_BYTE = 128
_STATS_BYTE = 192


@nb.njit(cache=True, nogil=True)
def _wait_at_gate(gate, count):
    """Count in, then wait until the gate has counted ``count`` arrivals."""
    fetch_add(gate, 0, 1)
    spins = 0
    while load(gate, 0, "acquire") < count:
        pause()
        spins += 1
        if spins % SPINS_PER_YIELD == 0:
            yield_cpu()


@nb.njit(cache=True, nogil=True)
def _keep_going(updates, start, min_updates, max_updates, cycles_to_run):
    if updates < min_updates:
        return True
    if updates >= max_updates:
        return False
    # Read the clock only now and then; it costs as much as an update.
    return updates % 1024 != 0 or cycles() - start < cycles_to_run


@nb.njit(cache=True, nogil=True)
def _atomic_updates(gate, parties, counter, slot, limits, seen, stats, rank):
    """Atomic increments of both slots, each loop started at the gate.

    ``limits`` holds the least and most updates and the cycles to run. The
    loops are tight, so that a non-atomic update would lose some; every old
    value is marked in ``seen`` and must come back exactly once among all
    processes. Writes this process's counts to its row of ``stats``.
    """
    min_updates, max_updates, cycles_to_run = limits[0], limits[1], limits[2]
    seen_counts = seen[: seen.size // 2]
    seen_floats = seen[seen.size // 2 :]

    _wait_at_gate(gate, parties)
    start = cycles()
    updates = 0
    while _keep_going(updates, start, min_updates, max_updates, cycles_to_run):
        seen_counts[fetch_add(counter, 0, 1)] += 1
        updates += 1
    stats[3 * rank] = updates

    _wait_at_gate(gate, 2 * parties)
    start = cycles()
    updates = 0
    retries = 0
    while _keep_going(updates, start, min_updates, max_updates, cycles_to_run):
        old, tries = add_f32(slot, 0, 1.0)
        seen_floats[np.int64(old)] += 1
        retries += tries
        updates += 1
    stats[3 * rank + 1] = updates
    stats[3 * rank + 2] = retries


@nb.njit(cache=True, nogil=True)
def _racy_updates(gate, parties, counter, slot, limits, stats, rank):
    """The read, add, write that ``+=`` compiles to, with no atomicity.

    Runs like :func:`_atomic_updates`, both slots in one loop. A literal
    ``counter[0] += 1`` loop would not do: LLVM folds it into one add.
    Relaxed loads and stores are each indivisible and never merged, but
    nothing keeps another process out between the load and the store.
    """
    min_updates, max_updates, cycles_to_run = limits[0], limits[1], limits[2]
    _wait_at_gate(gate, parties)
    start = cycles()
    updates = 0
    while _keep_going(updates, start, min_updates, max_updates, cycles_to_run):
        store(counter, 0, load(counter, 0, "relaxed") + 1, "relaxed")
        store(slot, 0, load(slot, 0, "relaxed") + np.float32(1.0), "relaxed")
        updates += 1
    stats[3 * rank] = updates
    stats[3 * rank + 1] = updates


def _limits(min_updates, max_updates, seconds):
    cycles_to_run = int(cycles_per_second() * seconds)
    return np.array([min_updates, max_updates, cycles_to_run], np.int64)


def _views(shared, parties, max_updates):
    """Gate, counter, float slot, marks of old values, per-process stats."""
    buffer = shared.buf
    gate = np.ndarray(1, np.int64, buffer, _GATE_BYTE)
    counter = np.ndarray(1, np.int64, buffer, _COUNTER_BYTE)
    slot = np.ndarray(1, np.float32, buffer, _FLOAT_BYTE)
    stats = np.ndarray(3 * parties, np.int64, buffer, _STATS_BYTE)
    seen_byte = _STATS_BYTE + stats.nbytes
    seen = np.ndarray(2 * parties * max_updates, np.uint8, buffer, seen_byte)
    return gate, counter, slot, seen, stats


def _segment_bytes(parties, max_updates):
    return _STATS_BYTE + 8 * 3 * parties + 2 * parties * max_updates


def pin_to_a_cpu(rank):
    """Put process ``rank`` on a CPU of its own while there are enough.

    Left to itself the scheduler may keep two fresh processes on one core
    for the whole of a short test, and then nothing runs concurrently.
    """
    cpus = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpus[rank % len(cpus)]})


def _atomic_child(shared, parties, limits, rank):
    pin_to_a_cpu(rank)
    gate, counter, slot, seen, stats = _views(shared, parties, limits[1])
    _atomic_updates(gate, parties, counter, slot, limits, seen, stats, rank)


def _racy_child(shared, parties, limits, rank):
    pin_to_a_cpu(rank)
    gate, counter, slot, _, stats = _views(shared, parties, 0)
    _racy_updates(gate, parties, counter, slot, limits, stats, rank)


def _compile_cross_process_kernels():
    gate = np.full(1, 1, np.int64)
    counter = np.zeros(1, np.int64)
    slot = np.zeros(1, np.float32)
    stats = np.zeros(3, np.int64)
    limits = np.zeros(3, np.int64)
    _atomic_updates(gate, 1, counter, slot, limits, np.zeros(2, np.uint8), stats, 0)
    _racy_updates(gate, 1, counter, slot, limits, stats, 0)


@pytest.mark.parametrize("parties", [2, 3])
def test_atomic_updates_are_exact_across_processes(parties, record_property):
    _compile_cross_process_kernels()
    limits = _limits(MIN_UPDATES, MAX_UPDATES, ATOMIC_WINDOW_S)
    with shared_segment(_segment_bytes(parties, MAX_UPDATES)) as shared:
        run_children(
            _atomic_child, [(shared, parties, limits, rank) for rank in range(parties)]
        )
        gate, counter, slot, seen, stats = _views(shared, parties, MAX_UPDATES)
        int_updates, float_updates, retries = stats.reshape(parties, 3).T.copy()
        seen_counts, seen_floats = seen.reshape(2, -1).copy()
        arrivals, counted, added = int(gate[0]), int(counter[0]), float(slot[0])
        del gate, counter, slot, seen, stats

    assert arrivals == 2 * parties
    assert np.all(int_updates >= MIN_UPDATES)
    assert np.all(float_updates >= MIN_UPDATES)
    assert counted == int_updates.sum()
    assert added == float_updates.sum()
    # Every old value came back to exactly one process, exactly once.
    assert np.all(seen_counts[: int_updates.sum()] == 1)
    assert not seen_counts[int_updates.sum() :].any()
    assert np.all(seen_floats[: float_updates.sum()] == 1)
    assert not seen_floats[float_updates.sum() :].any()

    assert np.all(retries >= 0)
    retry_total = int(retries.sum())
    record_property("add_f32_retries", retry_total)
    print(f"{parties} processes: {float_updates.sum()} add_f32, {retry_total} retries")


def test_plain_updates_lose_some_across_processes():
    """The counterpart that shows the exact test could have failed."""
    _compile_cross_process_kernels()
    parties = 2
    limits = _limits(0, LOSSY_MAX_UPDATES, LOSSY_WINDOW_S)
    for _ in range(LOSSY_ROUNDS):
        with shared_segment(_segment_bytes(parties, 0)) as shared:
            run_children(
                _racy_child,
                [(shared, parties, limits, rank) for rank in range(parties)],
            )
            _, counter, slot, _, stats = _views(shared, parties, 0)
            counted, added = int(counter[0]), float(slot[0])
            expected = int(stats[::3].sum())
            del counter, slot, stats
        assert 0 < counted <= expected and 0 < added <= expected
        # One lost update in either slot shows that the read-add-write is
        # not atomic; on one core only preemption loses any, and it may hit
        # between one slot's load and store but not the other's.
        if counted < expected or added < expected:
            return
    pytest.skip(
        f"no lost update in {LOSSY_ROUNDS} rounds: the two processes never "
        "ran at the same time"
    )


@nb.njit(cache=True, nogil=True)
def _wait_for(flag, value, deadline):
    """Spin with acquire loads until ``flag`` holds ``value``; False if the
    cycle counter passes ``deadline`` first (the other side died)."""
    spins = 0
    while load(flag, 0, "acquire") != value:
        pause()
        spins += 1
        if spins % SPINS_PER_YIELD == 0:
            if cycles() > deadline:
                return False
            yield_cpu()
    return True


@nb.njit(cache=True, nogil=True)
def _publish_rounds(flag, ack, payload, rounds, deadline):
    """Fill the payload, release the round number, wait for the ack.

    Returns the rounds acknowledged.
    """
    for round_ in range(1, rounds + 1):
        for i in range(payload.size):
            payload[i] = round_ * payload.size + i
        store_release(flag, 0, round_)
        if not _wait_for(ack, round_, deadline):
            return round_ - 1
    return rounds


@nb.njit(cache=True, nogil=True)
def _check_rounds(flag, ack, payload, rounds, deadline):
    """Wait for each round with acquire loads, then check its payload.

    Returns the payload words that did not hold the round's values, or -1
    if a round never came.
    """
    stale = 0
    for round_ in range(1, rounds + 1):
        if not _wait_for(flag, round_, deadline):
            return -1
        for i in range(payload.size):
            if payload[i] != round_ * payload.size + i:
                stale += 1
        store_release(ack, 0, round_)
    return stale


#: Handshakes in the spin-wait test, and payload words published in each.
HANDSHAKES = 2000
PAYLOAD_WORDS = 256


def _spin_views(shared):
    buffer = shared.buf
    flag = np.ndarray(1, np.int64, buffer, 0)
    ack = np.ndarray(1, np.int64, buffer, 64)
    stale = np.ndarray(1, np.int64, buffer, 128)
    payload = np.ndarray(PAYLOAD_WORDS, np.int64, buffer, 192)
    return flag, ack, stale, payload


def _deadline(seconds):
    """The cycle count ``seconds`` from now, for the kernels' waits."""
    return cycles_per_second() * seconds + _cycles_now()


@nb.njit(cache=True)
def _cycles_now():
    return cycles()


def _checking_child(shared, deadline):
    pin_to_a_cpu(1)
    flag, ack, stale, payload = _spin_views(shared)
    stale[0] = _check_rounds(flag, ack, payload, HANDSHAKES, deadline)


def test_acquire_spin_sees_what_was_written_before_the_release():
    scratch = np.zeros(PAYLOAD_WORDS, np.int64)
    one = np.ones(1, np.int64)
    _publish_rounds(one, one, scratch, 1, 0)
    _check_rounds(one, one, scratch, 1, 0)

    with shared_segment(192 + 8 * PAYLOAD_WORDS) as shared:
        flag, ack, stale, payload = _spin_views(shared)
        stale[0] = -2
        # Both sides give up at the deadline, so that neither the child nor
        # this process, spinning where no signal reaches it, can hang.
        deadline = int(_deadline(JOIN_TIMEOUT_S / 2))
        child = FORK.Process(target=_checking_child, args=(shared, deadline))
        try:
            child.start()
            # The child is waiting (or about to) before round 1 is published.
            acknowledged = _publish_rounds(flag, ack, payload, HANDSHAKES, deadline)
            child.join(JOIN_TIMEOUT_S)
            assert not child.is_alive(), "the waiting child hung"
            assert child.exitcode == 0
        finally:
            if child.is_alive():
                child.kill()
            child.join()
        assert acknowledged == HANDSHAKES
        assert stale[0] == 0, "payload words written before the flag not seen"
        del flag, ack, stale, payload


def test_futex_wait_times_out_returns_on_mismatch_and_is_woken():
    segment = SharedMemory(create=True, size=64)
    try:
        outcome = _futex_round(np.ndarray(8, np.int64, buffer=segment.buf))
    finally:
        segment.close()
        segment.unlink()
    timed_out, waited, mismatch, mismatch_s, woken_s = outcome
    assert timed_out == -1 and waited >= 0.015
    assert mismatch == -1 and mismatch_s < 1.0
    assert woken_s < 4.0  # woken by the child, not by the 5 s timeout


def _futex_round(words):
    """Wait on a word three ways; returns plain numbers, so that no view of
    the segment outlives it."""
    words[:] = 0
    atomics.futex_wait(words, 0, 1, 10)  # compile
    started = time.perf_counter()
    timed_out = atomics.futex_wait(words, 0, 0, 20_000)
    waited = time.perf_counter() - started
    started = time.perf_counter()
    mismatch = atomics.futex_wait(words, 0, 7, 2_000_000)
    mismatch_s = time.perf_counter() - started
    pid = os.fork()
    if pid == 0:  # child: change the word, then wake the parent
        try:
            time.sleep(0.05)
            words[0] = 1
            atomics.futex_wake(words, 0, 1)
        finally:
            os._exit(0)
    try:
        started = time.perf_counter()
        while words[0] == 0:
            atomics.futex_wait(words, 0, 0, 5_000_000)
        woken_s = time.perf_counter() - started
    finally:
        os.waitpid(pid, 0)
    return int(timed_out), waited, int(mismatch), mismatch_s, woken_s
