"""Control words in shared memory, the gamma-cycle barrier, and waits.

The driver and the actors share one int64 array of control words. Every
word that two processes write sits in its own 64-byte cache line, so that
one process's write never invalidates the line another is spinning on::

    line  word            written by                  read by
    0     COMMAND         driver (release)            actors
          MESSAGE_BYTES   driver                      actors
    1     ARRIVALS        every actor (fetch-add)     every actor
    2     GENERATION      the cycle's last arrival    every actor (acquire)
          MODE, FIRED,    the cycle's last arrival    every actor
          FIRE_EDGES,
          TOUCHED, LAST_WAVE
    3     DONE            every actor (fetch-add)     driver (acquire)
    4     ABORT           driver                      actors, while waiting
    5+    actor k: three lines: counters, then        the closer, the driver
          status and pid, then A_CLAIMED alone
          (every actor fetch-adds it in a shared
          push; the owner reads and clears it)

One gamma cycle is one wave. An actor that has finished its part of a
wave arrives at the barrier by adding one to ``ARRIVALS``; the arrival
that completes the cycle *closes* it: it adds up what every actor reported
in its own lines (nodes that will fire, their out-edges), decides the next
wave (push, pull, or stop), publishes the decision, and opens the next
cycle by storing the cycle number in ``GENERATION`` with release ordering.
The others wait for that store with acquire loads, so they see the
decision and everything written before it.

Barrier waits spin briefly with the CPU's pause hint, then yield the CPU
at every turn: there may be more actors than cores, and a process spinning
on a core another needs only delays what it waits for (with three
processes on two cores, pure spinning waits out a scheduler time slice,
4 ms). Longer waits (an idle actor waiting for a command, the driver
waiting for a spread to finish) end on a futex: the waiter sleeps in the
kernel on the word itself and whoever changes the word wakes it, so an
idle engine and a waiting driver cost no CPU.
"""

import numba as nb

from shm import atomics

__all__ = ["Control"]

LINE = 8  # int64 words in a 64-byte cache line

COMMAND = 0 * LINE
MESSAGE_BYTES = COMMAND + 1
ARRIVALS = 1 * LINE
GENERATION = 2 * LINE
MODE = GENERATION + 1
FIRED = GENERATION + 2
FIRE_EDGES = GENERATION + 3
TOUCHED = GENERATION + 4
LAST_WAVE = GENERATION + 5
DONE = 3 * LINE
ABORT = 4 * LINE
FIRST_ACTOR_LINE = 5
ACTOR_LINES = 3  # counters; status and pid; the claim counter alone

# An actor's words, from the start of its first line.
A_FIRED = 0  # nodes that fire in the next wave, from this actor's part
A_FIRE_EDGES = 1  # their out-edges
A_EDGES = 2  # edges followed or read, this spread
A_CAS_RETRIES = 3  # compare-and-swap retries, this spread
A_STEALS = 4  # chunks stolen from other actors, this spread
A_WAIT_CYCLES = 5  # CPU cycles spent waiting at barriers, this spread
A_CHUNKS = 6  # pull chunks processed, this spread
A_BUSY_CYCLES = 7  # CPU cycles spent in this spread
A_PUSH_WAVES = 9
A_PULL_WAVES = 10
A_STATUS = 11  # STATUS_* of the last spread
A_PID = 12
A_POSITION = 13  # where this actor's results start
A_PULL_CYCLES = 14  # CPU cycles in pull waves, this spread
A_CLAIMED = 16  # nodes of this shard first reached in a shared push (own line)

COUNTER_NAMES = (
    ("edges", A_EDGES),
    ("cas_retries", A_CAS_RETRIES),
    ("chunks_stolen", A_STEALS),
    ("barrier_wait_s", A_WAIT_CYCLES),
    ("pull_chunks", A_CHUNKS),
    ("busy_s", A_BUSY_CYCLES),
    ("pull_s", A_PULL_CYCLES),
    ("push_waves", A_PUSH_WAVES),
    ("pull_waves", A_PULL_WAVES),
)

# Wave decisions.
STOP = 0
PUSH = 1  # every actor pushes the whole frontier into its own shard
PULL = 2  # chunks sum their in-edges; idle actors steal chunks
SHARED_PUSH = 3  # actors split the frontier, atomic adds into any shard

STATUS_OK = 0
STATUS_ABORTED = 1

#: Pause-hinted spins before a waiter starts yielding the CPU. A barrier
#: between two actors on two cores completes in about 0.3 us, a few hundred
#: turns of this loop; past that the awaited actor is probably not running.
SPIN_TURNS = 256

#: Yields before a waiter goes to sleep on the word's futex (about 0.5 us
#: each when no other process wants the CPU, a time slice when one does).
#: Sleeping costs a wake-up of 5 to 50 us but frees the core: with as
#: many actors as cores, a driver that kept yielding would take CPU time
#: from the actors it waits for.
YIELD_TURNS = 64


def words(actors):
    """Control words an engine of ``actors`` needs."""
    return (FIRST_ACTOR_LINE + ACTOR_LINES * actors) * LINE


def actor_word(actor, word):
    return (FIRST_ACTOR_LINE + ACTOR_LINES * actor) * LINE + word


@nb.njit(cache=True, nogil=True, inline="always")
def actor_base(actor):
    return (FIRST_ACTOR_LINE + ACTOR_LINES * actor) * LINE


@nb.njit(cache=True, nogil=True)
def arrive(ctl, cycle, actors):
    """Arrive at the barrier that closes gamma cycle ``cycle`` (1, 2, ...
    within a spread). Returns True for the arrival that closes it, which
    must then call :func:`release`; the others call :func:`wait_release`."""
    before = atomics.fetch_add(ctl, ARRIVALS, 1)
    return before == cycle * actors - 1


@nb.njit(cache=True, nogil=True)
def release(ctl, cycle):
    """Open the next cycle: everything written before is seen by waiters."""
    atomics.store(ctl, GENERATION, cycle, "release")


@nb.njit(cache=True, nogil=True)
def wait_release(ctl, cycle):
    """Wait until cycle ``cycle`` is closed. Returns False if the driver
    aborted the spread meanwhile."""
    turns = 0
    while atomics.load(ctl, GENERATION, "acquire") < cycle:
        if atomics.load(ctl, ABORT, "relaxed") != 0:
            return False
        turns += 1
        if turns < SPIN_TURNS:
            atomics.pause()
        else:
            atomics.yield_cpu()
    return True


@nb.njit(cache=True, nogil=True)
def _spin_or_yield(turn):
    """One turn of a short wait: pause-hinted spins first, then yields.
    Returns False once the short wait is over and the caller should sleep."""
    if turn < SPIN_TURNS:
        atomics.pause()
        return True
    if turn < SPIN_TURNS + YIELD_TURNS:
        atomics.yield_cpu()
        return True
    return False


@nb.njit(cache=True, nogil=True)
def wait_change(ctl, index, seen, timeout_us):
    """Wait until ``ctl[index]`` differs from ``seen``: spin, yield, then
    sleep on the word's futex for up to ``timeout_us`` (whoever changes the
    word wakes it). Returns the value last read, which equals ``seen`` if
    the wait timed out."""
    turn = 0
    while True:
        value = atomics.load(ctl, index, "acquire")
        if value != seen:
            return value
        if not _spin_or_yield(turn):
            atomics.futex_wait(ctl, index, seen, timeout_us)
            return atomics.load(ctl, index, "acquire")
        turn += 1


@nb.njit(cache=True, nogil=True)
def wait_at_least(ctl, index, target, timeout_us):
    """Wait until ``ctl[index] >= target``: spin, yield, then sleep on the
    word's futex for up to ``timeout_us`` or until the word changes.
    Returns the value last read; the caller loops, and between turns can
    check that the processes it waits for are alive."""
    turn = 0
    while True:
        value = atomics.load(ctl, index, "acquire")
        if value >= target:
            return value
        if not _spin_or_yield(turn):
            atomics.futex_wait(ctl, index, value, timeout_us)
            return atomics.load(ctl, index, "acquire")
        turn += 1


@nb.njit(cache=True, nogil=True)
def wake(ctl, index, count):
    """Wake up to ``count`` processes sleeping in a wait on ``ctl[index]``
    (call after changing it)."""
    atomics.futex_wake(ctl, index, count)


@nb.njit(cache=True, nogil=True)
def publish(ctl, index, value):
    """``ctl[index] = value`` with release ordering."""
    atomics.store(ctl, index, value, "release")


@nb.njit(cache=True, nogil=True)
def add(ctl, index, value):
    """Atomically add ``value`` to ``ctl[index]``; returns the old value."""
    return atomics.fetch_add(ctl, index, value)


class Control:
    """The control words of one engine, as seen from Python."""

    def __init__(self, words_array, actors):
        # int64 view of the control segment; see the table above.
        self.words = words_array
        self.actors = actors

    def actor(self, actor, word):
        return int(self.words[actor_word(actor, word)])

    def counters(self, actor, cycles_per_second):
        """This spread's counters of one actor, times in seconds."""
        values = {}
        for name, word in COUNTER_NAMES:
            value = self.actor(actor, word)
            if name.endswith("_s"):
                value = value / cycles_per_second
            values[name] = value
        return values

    def reset_counters(self):
        """Zero every actor's per-spread counters (actors must be idle)."""
        for actor in range(self.actors):
            base = actor_word(actor, 0)
            for _, word in COUNTER_NAMES:
                self.words[base + word] = 0
