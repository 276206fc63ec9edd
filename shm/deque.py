"""A fixed-capacity work-stealing deque of int64 items in one shared array.

One process, the owner, pushes and pops work items at the bottom end; any
number of other processes, the thieves, take items from the top end. This
is the deque of Chase and Lev, without the growable buffer, with the memory
orderings that Lê et al. proved sufficient for C11. The whole deque is one
int64 NumPy array, in practice a view of a shared-memory segment that every
process maps::

    word  0  top       thieves claim the item at top by CAS top -> top + 1
    word  8  bottom    the owner's next free slot; only the owner writes it
    word 16  capacity  written by init, read-only afterwards
    word 24  buffer    item i sits in buffer[i & (capacity - 1)]

                 steal (thieves)                 push, pop (owner)
                       |                                |
                       v                                v
    buffer   ... | top | top+1 | ... | bottom-1 | bottom (free) | ...

Who writes what: the owner writes ``bottom`` and the buffer slots at and
above it; thieves write only ``top``, and only by compare-and-swap. The
owner also moves ``top`` by CAS when it takes the last item, because a
thief may want that same item. ``top`` and ``bottom`` are indices that only
grow (``bottom`` dips by one inside a pop); at 64 bits they never wrap.

Why every item is taken exactly once: the items at ``top`` and above are
claimed by a CAS that moves ``top`` past them, and ``top`` moves one step
per successful CAS, so no index is claimed twice that way. The owner pops
index ``b`` without a CAS only after it has lowered ``bottom`` to ``b`` and
then seen ``top < b``. A thief reads ``top`` before ``bottom``; both sides
put a sequentially consistent fence between their two accesses, so at
least one of them sees the other's write: either the thief sees the
lowered ``bottom`` and leaves index ``b`` alone, or the owner sees the
thief's ``top``, finds ``b`` is the last item, and the two race for it with
CAS on ``top``, which exactly one wins. A push never overwrites a slot a
thief could still claim, because it checks ``bottom - top < capacity`` with
a value of ``top`` that can only be older, hence smaller, than the real one.

Items are non-negative int64 (node ids, batch numbers); the negative values
:data:`EMPTY` and :data:`ABORT` are the deque's answers.

References
----------
.. [1] D. Chase and Y. Lev, "Dynamic circular work-stealing deque",
   SPAA 2005.
.. [2] N. M. Lê, A. Pop, A. Cohen and F. Zappa Nardelli, "Correct and
   efficient work-stealing for weak memory models", PPoPP 2013.

Examples
--------
>>> from shm import deque
>>> d = deque.new_deque(4)
>>> [bool(deque.push(d, item)) for item in (10, 11, 12)]
[True, True, True]
>>> int(deque.pop(d)), int(deque.steal(d)), int(deque.size(d))
(12, 10, 1)
"""

import numba as nb
import numpy as np

from shm.atomics import compare_exchange, fence, load, store

__all__ = [
    "ABORT",
    "CACHE_LINE_WORDS",
    "EMPTY",
    "capacity",
    "deque_words",
    "fill",
    "init",
    "new_deque",
    "pop",
    "push",
    "size",
    "steal",
]

#: int64 words in a 64-byte cache line: ``top``, ``bottom`` and the
#: read-only header each get a line of their own, so that a thief's CAS on
#: ``top`` does not evict the owner's ``bottom`` and neither evicts the
#: capacity that both read on every call.
CACHE_LINE_WORDS = 8

#: What :func:`pop` and :func:`steal` return when the deque is empty.
EMPTY = -1
#: What :func:`steal` returns when another process took the item first; the
#: deque may still hold items, so the caller may try again at once.
ABORT = -2

_TOP = 0
_BOTTOM = CACHE_LINE_WORDS
_CAPACITY = 2 * CACHE_LINE_WORDS
_BUFFER = 3 * CACHE_LINE_WORDS


def deque_words(capacity):
    """Number of int64 words a deque of ``capacity`` items needs.

    Parameters
    ----------
    capacity : int
        Most items the deque holds at once; a power of two, at least 2.

    Returns
    -------
    int
        Three cache lines of indices and header, then the item buffer,
        rounded up to whole cache lines: deques laid side by side in one
        array (one row each) then each start on a line of their own.

    Raises
    ------
    ValueError
        If ``capacity`` is not a power of two of at least 2.

    Examples
    --------
    >>> deque_words(1024), deque_words(2)
    (1048, 32)
    """
    is_integer = isinstance(capacity, int | np.integer)
    if not is_integer or capacity < 2 or capacity & (capacity - 1):
        raise ValueError(
            f"capacity must be a power of two of at least 2, not {capacity!r}"
        )
    return _BUFFER + max(int(capacity), CACHE_LINE_WORDS)


def init(deque, capacity):
    """Make ``deque`` an empty deque of ``capacity`` items.

    Call it once, in one process, before any other process uses the deque.

    Parameters
    ----------
    deque : numpy.ndarray
        One-dimensional int64 array of at least ``deque_words(capacity)``
        words; for the indices to sit in lines of their own it should start
        on a 64-byte boundary, as a shared-memory segment does.
    capacity : int
        A power of two, at least 2.

    Raises
    ------
    ValueError
        If ``capacity`` is not a power of two, or ``deque`` is not a
        one-dimensional int64 array long enough for it.
    """
    words = deque_words(capacity)
    if deque.dtype != np.int64 or deque.ndim != 1:
        raise ValueError(
            f"a deque is a one-dimensional int64 array, not {deque.ndim}-d "
            f"{deque.dtype}"
        )
    if len(deque) < words:
        raise ValueError(
            f"a deque of capacity {capacity} needs {words} words, "
            f"the array has {len(deque)}"
        )
    deque[:words] = 0
    deque[_CAPACITY] = capacity


def new_deque(capacity):
    """A private, empty deque of ``capacity`` items (for tests and one process).

    Examples
    --------
    >>> d = new_deque(8)
    >>> int(capacity(d)), int(size(d))
    (8, 0)
    """
    deque = np.zeros(deque_words(capacity), dtype=np.int64)
    init(deque, capacity)
    return deque


@nb.njit(cache=True, nogil=True)
def capacity(deque):
    """Most items ``deque`` holds at once."""
    return deque[_CAPACITY]


@nb.njit(cache=True, nogil=True)
def size(deque):
    """Items in ``deque``; only a snapshot while other processes use it."""
    bottom = load(deque, _BOTTOM, "relaxed")
    top = load(deque, _TOP, "relaxed")
    return max(bottom - top, 0)


@nb.njit(cache=True, nogil=True)
def push(deque, item):
    """Put ``item`` (>= 0) at the bottom end; the owner only.

    Returns False, and leaves the deque as it was, when it is full.
    """
    if item < 0:
        raise ValueError("deque items must be non-negative")
    mask = deque[_CAPACITY] - 1
    bottom = load(deque, _BOTTOM, "relaxed")
    top = load(deque, _TOP, "acquire")
    if bottom - top > mask:
        return False

    store(deque, _BUFFER + (bottom & mask), item, "relaxed")
    # Release: a thief that sees the new bottom also sees the item.
    store(deque, _BOTTOM, bottom + 1, "release")
    return True


@nb.njit(cache=True, nogil=True)
def pop(deque):
    """Take the item at the bottom end (the newest); the owner only.

    Returns :data:`EMPTY` when there is none.
    """
    mask = deque[_CAPACITY] - 1
    bottom = load(deque, _BOTTOM, "relaxed") - 1
    store(deque, _BOTTOM, bottom, "relaxed")
    # The lowered bottom must be visible before top is read: the store-load
    # order that only a full fence gives, and that steal mirrors.
    fence("seq_cst")
    top = load(deque, _TOP, "relaxed")

    if top > bottom:
        store(deque, _BOTTOM, bottom + 1, "relaxed")
        return EMPTY

    item = load(deque, _BUFFER + (bottom & mask), "relaxed")
    if top == bottom:
        # The last item: thieves may be after it too, so claim it by CAS.
        if not compare_exchange(deque, _TOP, top, top + 1)[1]:
            item = EMPTY
        store(deque, _BOTTOM, bottom + 1, "relaxed")
    return item


@nb.njit(cache=True, nogil=True)
def steal(deque):
    """Take the item at the top end (the oldest); any process but the owner.

    Returns the item, :data:`EMPTY` when there is none, or :data:`ABORT`
    when another process took it first.
    """
    mask = deque[_CAPACITY] - 1
    top = load(deque, _TOP, "acquire")
    fence("seq_cst")
    bottom = load(deque, _BOTTOM, "acquire")
    if top >= bottom:
        return EMPTY

    # Read before the claim: once top moves on, the owner may reuse the slot.
    item = load(deque, _BUFFER + (top & mask), "relaxed")
    if not compare_exchange(deque, _TOP, top, top + 1)[1]:
        return ABORT
    return item


@nb.njit(cache=True, nogil=True)
def fill(deque, first, count):
    """Make ``deque`` hold exactly the items ``first .. first + count - 1``.

    Only while no other process uses the deque, between the barriers of a
    wave; then the owner, or a coordinator loading every deque, may call it.
    A thief still inside :func:`steal` could otherwise claim a slot that now
    holds a new item. The items come out as if pushed in increasing order:
    :func:`steal` yields ``first`` first.

    Raises ValueError if ``count`` is negative or above the capacity, or if
    ``first`` is negative.
    """
    slots = deque[_CAPACITY]
    if count < 0 or count > slots:
        raise ValueError("fill count must be between 0 and the capacity")
    if first < 0:
        raise ValueError("deque items must be non-negative")

    # Start at the current top rather than at 0: no write to the thieves'
    # line, and the indices keep growing as they do everywhere else.
    top = load(deque, _TOP, "relaxed")
    mask = slots - 1
    for offset in range(count):
        store(deque, _BUFFER + ((top + offset) & mask), first + offset, "relaxed")
    store(deque, _BOTTOM, top + count, "release")
