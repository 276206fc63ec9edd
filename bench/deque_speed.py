"""Speed of the shared-memory work-stealing deque (shm.deque).

Three figures, each the median of a few runs:

- owner alone: one process pushes an item and pops it back, again and
  again; reported per push-and-pop pair;
- thief takes all: the owner only pushes (waiting while the deque is full)
  and a forked thief steals every item: the rate at which work crosses
  from one process to another;
- owner pops too: the same, but the owner pops an item itself whenever the
  deque is full, as an actor works on its own frontier. Items taken by
  either, per second, and the thief's share::

      this process (owner, CPU a) -- push, pop --> deque <-- steal -- thief
                                                    (shared segment)  (CPU b)

Each process is pinned to a CPU of its own where there are two, so that
the thief really runs beside the owner.

Usage::

    python bench/deque_speed.py                    # 2,000,000 items
    python bench/deque_speed.py --items 10000000 --repeats 5
"""

import argparse
import multiprocessing
import os
import statistics
import time
from multiprocessing.shared_memory import SharedMemory

import numba as nb
import numpy as np

from shm import deque as dq
from shm.atomics import fetch_add, load, pause, store, yield_cpu

#: Capacity of the deque: large enough that a thief a little behind does
#: not make the owner find it full; what the engine would give one actor.
CAPACITY = 4096
#: Pause instructions an owner that only pushes waits before it tries a
#: full deque again (a few microseconds): retrying at once keeps pulling
#: the line of ``top`` away from the thief, which then stole 2 to 3 M items
#: a second instead of 20 to 60 M on a 2-core machine.
FULL_BACKOFF_PAUSES = 64
#: Waits on a full deque after which the owner gives up: some seconds, far
#: longer than a live thief takes to make room.
MAX_FULL_WAITS = 1_000_000
#: Control words, each in its own cache line: the thief's arrival, the
#: owner's go, the owner's done flag, and the items the thief took.
_ARRIVED, _GO, _DONE, _STOLEN = (line * dq.CACHE_LINE_WORDS for line in range(4))
_CONTROL_WORDS = 4 * dq.CACHE_LINE_WORDS


@nb.njit(cache=True, nogil=True)
def _owner_alone(deque, items):
    checksum = 0
    for item in range(items):
        dq.push(deque, item)
        checksum += dq.pop(deque)
    return checksum


@nb.njit(cache=True, nogil=True)
def _owner_beside_thief(deque, control, items, owner_pops):
    """Push every item; when full, pop one if ``owner_pops``, else wait.

    Returns False if the deque stayed full for good (the thief is gone).
    """
    store(control, _GO, 1, "release")
    for item in range(items):
        waits = 0
        while not dq.push(deque, item):
            if owner_pops:
                dq.pop(deque)
            elif waits == MAX_FULL_WAITS:
                store(control, _DONE, 1, "release")
                return False
            else:
                waits += 1
                for _ in range(FULL_BACKOFF_PAUSES):
                    pause()
    if owner_pops:
        while dq.pop(deque) >= 0:
            pass
    store(control, _DONE, 1, "release")
    return True


@nb.njit(cache=True, nogil=True)
def _thief(deque, control):
    """Steal until the deque is empty and the owner is done."""
    fetch_add(control, _ARRIVED, 1)
    while load(control, _GO, "acquire") == 0:
        pause()
    stolen = 0
    spins = 0
    while True:
        item = dq.steal(deque)
        if item >= 0:
            stolen += 1
        elif item == dq.EMPTY:
            if load(control, _DONE, "acquire") != 0:
                break
            spins += 1
            if spins % 64 == 0:
                yield_cpu()
    store(control, _STOLEN, stolen, "release")


#: The CPUs this script may use, read before the owner pins itself (a
#: forked thief inherits the owner's pinning).
_CPUS = sorted(os.sched_getaffinity(0))


def _pin(rank):
    os.sched_setaffinity(0, {_CPUS[rank % len(_CPUS)]})


def _thief_process(shared):
    _pin(1)
    deque, control = _views(shared)
    _thief(deque, control)


def _views(shared):
    words = dq.deque_words(CAPACITY)
    deque = np.ndarray(words, np.int64, shared.buf, 0)
    control = np.ndarray(_CONTROL_WORDS, np.int64, shared.buf, 8 * words)
    return deque, control


def owner_alone(items):
    """Seconds for ``items`` push-and-pop pairs in one process."""
    deque = dq.new_deque(CAPACITY)
    _owner_alone(deque, 10)
    started = time.perf_counter()
    _owner_alone(deque, items)
    return time.perf_counter() - started, 0


def owner_and_thief(items, owner_pops):
    """Seconds for ``items`` through the deque with one thief; items stolen."""
    nbytes = 8 * (dq.deque_words(CAPACITY) + _CONTROL_WORDS)
    shared = SharedMemory(create=True, size=nbytes)
    thief = None
    try:
        deque, control = _views(shared)
        dq.init(deque, CAPACITY)
        control[:] = 0
        thief = multiprocessing.get_context("fork").Process(
            target=_thief_process, args=(shared,)
        )
        thief.start()
        while control[_ARRIVED] == 0:
            if not thief.is_alive():
                raise RuntimeError(f"the thief died, exit code {thief.exitcode}")
            time.sleep(0.001)

        started = time.perf_counter()
        finished = _owner_beside_thief(deque, control, items, owner_pops)
        thief.join(60)
        elapsed = time.perf_counter() - started
        if not finished or thief.exitcode != 0:
            raise RuntimeError(f"the thief failed, exit code {thief.exitcode}")
        stolen = int(control[_STOLEN])
        del deque, control
        return elapsed, stolen
    finally:
        if thief is not None and thief.is_alive():
            thief.kill()
            thief.join()
        shared.unlink()
        shared.close()


def _compile():
    deque = dq.new_deque(CAPACITY)
    control = np.zeros(_CONTROL_WORDS, np.int64)
    control[_GO] = 1
    _owner_beside_thief(deque, control, 10, True)
    _thief(deque, control)
    _owner_alone(deque, 10)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    _compile()
    _pin(0)
    try:
        rows = []
        cases = [
            ("owner alone", owner_alone),
            ("thief takes all", lambda items: owner_and_thief(items, False)),
            ("owner pops too", lambda items: owner_and_thief(items, True)),
        ]
        for name, run in cases:
            runs = [run(args.items) for _ in range(args.repeats)]
            seconds = statistics.median(elapsed for elapsed, _ in runs)
            stolen = statistics.median(stolen for _, stolen in runs)
            rows.append((name, seconds, stolen))
    finally:
        os.sched_setaffinity(0, _CPUS)

    print(f"{args.items:,} items, median of {args.repeats}, {len(_CPUS)} CPUs")
    print(f"{'case':<17} {'items/s':>12} {'ns/item':>9} {'stolen':>8}")
    for name, seconds, stolen in rows:
        rate = args.items / seconds
        share = f"{stolen / args.items:.0%}"
        print(f"{name:<17} {rate:>12,.0f} {1e9 / rate:>9.1f} {share:>8}")


if __name__ == "__main__":
    main()
