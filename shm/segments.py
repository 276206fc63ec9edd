"""The life of the shared-memory segments one engine maps: name, size, owner, end.

An engine keeps its graph shards, activation state and control words in POSIX
shared memory, one segment per part, so that every actor process reads the
same pages without copying. This module decides what the segments are called,
checks that they fit before it creates them, and makes sure each one has
exactly one owner who removes its name::

    driver (owner, pid P)                          /dev/shm
    ---------------------                          --------
    SegmentSet(token T)
      .reserve({"graph": n, "state": m})  -->  free space checked, nothing made
      .create("graph", n)                 -->  engram-P-T-graph   (mode 0600)
      .create("state", m)                 -->  engram-P-T-state
          |
          | fork: actors inherit the mappings, or attach(name) by name
          v
    actor processes                            read and write the same pages;
      Segment.close()                          unmap only, never unlink
          |
    SegmentSet.close()                    -->  unmap, then unlink every name
                                               the set created (owner pid only)

    if the driver dies without closing:
      resource tracker (still alive)      -->  unlinks the names registered
      engram-actors cleanup               -->  sweep_stale() unlinks names whose
                                               owner pid P no longer exists

Names
    Every segment is called ``engram-<pid>-<token>-<part>``. ``pid`` is the
    process that created it and owns it; ``token`` is 16 random hex digits
    from :func:`secrets.token_hex`, shared by all segments of one engine, so
    that no other process can guess a name and attach to it; ``part`` says
    what the segment holds (``graph``, ``state``, ``ctl``, ``shard3``).
    The owner pid in the name is what lets :func:`sweep_stale` tell a leak
    from a segment in use without any registry on disk.

Permissions
    :class:`multiprocessing.shared_memory.SharedMemory` opens new segments
    with mode 0600, and the umask can only take bits away, so a segment is
    readable and writable by its owner's user alone. :meth:`SegmentSet.create`
    checks the mode after creation and tightens it should a platform differ.

Space
    ``/dev/shm`` is a tmpfs. Creating a segment only sets its length; pages
    are taken when first written, and a write that finds the tmpfs full kills
    the process with SIGBUS instead of raising. So the owner checks the free
    space before it creates anything, counting the pages its earlier segments
    were promised but have not yet touched, and refuses with
    :class:`ShmSpaceError` while refusing is still cheap.

The resource tracker
    On Python 3.11 every :class:`~multiprocessing.shared_memory.SharedMemory`
    object, created or attached, registers its name with the
    multiprocessing resource tracker, a helper process that outlives the
    processes sharing it. When the last of them exits, the tracker unlinks
    every name still registered and warns about the leak. Processes started
    by :mod:`multiprocessing` inherit the driver's tracker, so the driver and
    its actors share one registry: registering a name twice is harmless, and
    :meth:`SegmentSet.close` unregisters it when it unlinks. We keep this
    registration on purpose: if the driver is killed, the tracker lives on
    and removes the segments once the actors have gone too. It cannot help
    when the tracker dies with the driver (``kill -9`` of the whole process
    group, the OOM killer, a container stop); that is what
    :func:`sweep_stale` and ``engram-actors cleanup`` are for.

    The registration has one trap: a process that was *not* started by
    :mod:`multiprocessing` from the driver has a tracker of its own, and that
    tracker unlinks an attached segment when the process exits, pulling the
    name from under the owner. Such a process should call
    ``attach(name, track=False)``.

Known shortcomings
    The names are longer than the 31 characters macOS allows for a POSIX
    shared-memory name; the engine targets Linux, where the limit is 255.
    The owner pid is only meaningful inside one pid namespace: where
    ``/dev/shm`` is shared between containers (``docker --ipc=host``), run
    the cleanup from the namespace that owns the segments, or it may take a
    live engine's names for stale ones. Unlinking a name never unmaps it, so
    a mistaken sweep stops new attaches but does not corrupt a running engine.
"""

import errno
import logging
import os
import re
import secrets
import weakref
from multiprocessing import resource_tracker
from multiprocessing.shared_memory import SharedMemory
from typing import NamedTuple

import numpy as np
import psutil

from engram_actors.errors import EngramError

__all__ = [
    "ALIGNMENT",
    "MIN_SEGMENT_BYTES",
    "PREFIX",
    "SHM_DIR",
    "Segment",
    "SegmentInfo",
    "SegmentSet",
    "ShmSpaceError",
    "align",
    "attach",
    "free_bytes",
    "list_segments",
    "parse_name",
    "segment_name",
    "stale_segments",
    "sweep_stale",
]

log = logging.getLogger(__name__)

#: Every segment name of ours starts with this; nothing else is ever touched.
PREFIX = "engram-"

#: Where Linux keeps POSIX shared memory, as files of a tmpfs.
SHM_DIR = "/dev/shm"

# One cache line on x86-64 and most ARM64 parts. Arrays that start on a line
# of their own never share it with the array before them, so actors writing
# neighbouring arrays do not invalidate each other's caches; 64 is also more
# than any numpy dtype needs (16 bytes at most).
ALIGNMENT = 64

# SharedMemory refuses a length of zero, yet an engine may well ask for an
# empty part (a shard with no edges). One cache line keeps offset 0 valid;
# the kernel maps a whole page in any case.
MIN_SEGMENT_BYTES = 64

# secrets.token_hex(8): 64 random bits, far beyond guessing by trial attaches.
TOKEN_HEX_DIGITS = 16

# A part name stays short so that a name fits comfortably within NAME_MAX.
_PART_MAX = 32

_NAME_RE = re.compile(
    rf"^{re.escape(PREFIX)}([1-9][0-9]*)-([0-9a-f]{{{TOKEN_HEX_DIGITS}}})"
    rf"-([a-z0-9_]{{1,{_PART_MAX}}})$"
)
_TOKEN_RE = re.compile(rf"^[0-9a-f]{{{TOKEN_HEX_DIGITS}}}$")
_PART_RE = re.compile(rf"^[a-z0-9_]{{1,{_PART_MAX}}}$")


class ShmSpaceError(EngramError, MemoryError):
    """``/dev/shm`` has too little free space for the segments asked for.

    Attributes
    ----------
    parts : tuple of str
        The parts that were to be created.
    requested : int
        Bytes they need together, including pages promised to earlier
        segments of the same set that are not yet backed.
    free : int
        Bytes free in `path` when checked.
    path : str
        The file system checked.
    """

    def __init__(self, parts, requested, free, path, promised=0):
        self.parts = tuple(parts)
        self.requested = requested
        self.free = free
        self.path = path
        what = ", ".join(self.parts)
        noun = "segment" if len(self.parts) == 1 else "segments"
        earlier = ""
        if promised:
            earlier = f" (of which {promised:,} for earlier segments, not yet written)"
        super().__init__(
            f"shared memory {noun} {what}: {_bytes(requested)} requested{earlier} "
            f"but only {_bytes(free)} free in {path}; make {path} larger (docker "
            f"run --shm-size=..., or remount the tmpfs with a bigger size=) or use "
            f"a smaller graph"
        )


def _bytes(n):
    """``1,048,576 bytes (1.0 MiB)``: exact for logs, readable for people."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n:,} bytes ({n / scale:.1f} {unit})"
    return f"{n:,} bytes"


def align(n, to=ALIGNMENT):
    """Round `n` up to the next multiple of `to`.

    Examples
    --------
    >>> align(0), align(1), align(64), align(100)
    (0, 64, 64, 128)
    >>> align(5, to=8)
    8
    """
    if n < 0:
        raise ValueError(f"cannot align a negative byte count {n}")
    if to <= 0:
        raise ValueError(f"alignment must be positive, got {to}")
    return -(-n // to) * to


def segment_name(token, part, pid=None):
    """The name of segment `part` of the engine with `token`, owned by `pid`.

    Parameters
    ----------
    token : str
        16 lowercase hex digits shared by all segments of one engine.
    part : str
        What the segment holds: 1 to 32 of ``a-z``, ``0-9`` and ``_``.
    pid : int, optional
        The owner; this process when not given.

    Returns
    -------
    str
        ``engram-<pid>-<token>-<part>``, without a leading slash.

    Raises
    ------
    ValueError
        If the token, part or pid does not have the form above.

    Examples
    --------
    >>> segment_name("0123456789abcdef", "graph", pid=4242)
    'engram-4242-0123456789abcdef-graph'
    """
    if pid is None:
        pid = os.getpid()
    if not isinstance(token, str) or not _TOKEN_RE.match(token):
        raise ValueError(
            f"segment token must be {TOKEN_HEX_DIGITS} lowercase hex digits, "
            f"got {token!r}"
        )
    if not isinstance(part, str) or not _PART_RE.match(part):
        raise ValueError(
            f"segment part must be 1 to {_PART_MAX} of a-z, 0-9 and _, got {part!r}"
        )
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
        raise ValueError(f"owner pid must be a positive integer, got {pid!r}")
    return f"{PREFIX}{pid}-{token}-{part}"


def parse_name(name):
    """Split a segment name into ``(pid, token, part)``, or None if not ours.

    Examples
    --------
    >>> parse_name("engram-4242-0123456789abcdef-shard3")
    (4242, '0123456789abcdef', 'shard3')
    >>> parse_name("psm_1a2b3c") is None
    True
    """
    match = _NAME_RE.match(name.lstrip("/"))
    if match is None:
        return None
    pid, token, part = match.groups()
    return int(pid), token, part


def free_bytes(path=SHM_DIR):
    """Bytes an unprivileged process may still allocate in the file system at `path`."""
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


def _backed_bytes(name):
    """Bytes of pages the tmpfs has allocated to segment `name` so far."""
    try:
        return os.stat(os.path.join(SHM_DIR, name)).st_blocks * 512
    except OSError:
        return 0


def _ensure_owner_only(name):
    """Take group and other permissions off a segment that somehow has them."""
    path = os.path.join(SHM_DIR, name)
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # no file system view of the segment on this platform
    if mode & 0o077:
        log.warning("segment %s was created with mode %o; setting 0600", name, mode)
        os.chmod(path, 0o600)


def _unregister(name):
    # The tracker knows POSIX names with their leading slash.
    resource_tracker.unregister("/" + name, "shared_memory")


#: madvise(2) advice that fills a mapping's page tables (Linux >= 5.14;
#: Python 3.11's mmap module does not name them).
MADV_POPULATE_READ = 22
MADV_POPULATE_WRITE = 23


class Segment:
    """One mapped shared-memory segment.

    A segment unmaps with :meth:`close` but never removes its name; the
    :class:`SegmentSet` that created it does that. Numpy views made by
    :meth:`array` keep the mapping alive: closing while views exist drops
    this object's hold, and the pages are unmapped when the last view goes.

    Attributes
    ----------
    name : str
        The segment's name, without a leading slash.
    size : int
        Bytes mapped; at least :data:`MIN_SEGMENT_BYTES`.
    """

    def __init__(self, shared_memory):
        # The SharedMemory this wraps; None once closed.
        self._shm = shared_memory
        self.name = shared_memory.name
        self.size = shared_memory.size

    def __repr__(self):
        state = " closed" if self.closed else ""
        return f"<Segment {self.name} {self.size} bytes{state}>"

    @property
    def closed(self):
        """True once :meth:`close` has run."""
        return self._shm is None

    @property
    def buf(self):
        """A memoryview of the whole segment (None once closed)."""
        return None if self._shm is None else self._shm.buf

    def array(self, dtype, count, offset=0):
        """A 1-d numpy view of `count` items of `dtype` at byte `offset`.

        Parameters
        ----------
        dtype : numpy dtype or str
            Item type; must not hold Python objects.
        count : int
            Number of items, >= 0.
        offset : int, optional
            Byte offset into the segment, a multiple of :data:`ALIGNMENT`
            (use :func:`align` to lay out several arrays).

        Returns
        -------
        numpy.ndarray
            A writable view; writes are seen by every process mapping the
            segment.

        Raises
        ------
        ValueError
            If the segment is closed, the offset is misaligned or negative,
            the count is negative, the dtype holds objects, or the view would
            run past the end of the segment.
        """
        if self._shm is None:
            raise ValueError(f"segment {self.name} is closed")
        dtype = np.dtype(dtype)
        if dtype.hasobject:
            raise ValueError(
                f"dtype {dtype} holds Python object pointers, which mean nothing "
                f"in another process"
            )
        if count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        if offset < 0 or offset % ALIGNMENT:
            raise ValueError(
                f"offset must be a non-negative multiple of {ALIGNMENT}, got {offset}"
            )
        end = offset + count * dtype.itemsize
        if end > self.size:
            raise ValueError(
                f"{count} items of {dtype} at offset {offset} end at byte {end}, "
                f"which exceeds segment {self.name} of {self.size} bytes"
            )
        return np.ndarray((count,), dtype=dtype, buffer=self._shm.buf, offset=offset)

    def prefault(self, write=True):
        """Map every page of the segment into this process now.

        A process that maps a segment other processes filled gets a page
        fault the first time it touches each 4 KiB page; a spread that
        lands on a thousand random nodes of a large graph would pay
        thousands of them. ``MADV_POPULATE_WRITE`` (or ``_READ``; Linux
        5.14 and later) fills the page tables in one call. Returns False
        where the kernel does not offer it (nothing is done then).
        """
        if self._shm is None:
            raise ValueError(f"segment {self.name} is closed")
        advice = MADV_POPULATE_WRITE if write else MADV_POPULATE_READ
        try:
            self._shm._mmap.madvise(advice)
        except OSError as error:
            if error.errno in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                log.debug("cannot prefault segment %s: %s", self.name, error)
                return False
            # ENOMEM or EFAULT: a page could not be backed, because the
            # file system filled up after the segment was created. Say so
            # now rather than let the first write to that page be SIGBUS.
            parsed = parse_name(self.name)
            part = parsed[2] if parsed else self.name
            raise ShmSpaceError([part], self.size, free_bytes(), SHM_DIR) from error
        except (ValueError, AttributeError) as error:
            log.debug("cannot prefault segment %s: %s", self.name, error)
            return False
        return True

    def close(self):
        """Unmap this process's view of the segment; never raises BufferError.

        Idempotent. The name stays; other processes keep their mappings.
        """
        shm, self._shm = self._shm, None
        if shm is None:
            return
        try:
            shm.close()
        except BufferError:
            # Numpy views (or memoryview slices) still export the buffer, so
            # the mmap cannot close now. Let go of it instead: the views keep
            # the memoryview and mmap alive as their base, and the pages are
            # unmapped when the last view is collected. These are CPython's
            # own attributes; clearing them keeps SharedMemory.__del__ from
            # retrying the close and printing the same error.
            log.debug("segment %s still has views; unmapped with the last", self.name)
            fd = shm._fd
            shm._buf = None
            shm._mmap = None
            shm._fd = -1
            if fd >= 0:
                os.close(fd)


def attach(name, track=True):
    """Map the existing segment `name` of some engine.

    Parameters
    ----------
    name : str
        A name made by :func:`segment_name`, with or without a leading slash.
    track : bool, optional
        Keep the resource tracker's registration. Leave it True in processes
        started by :mod:`multiprocessing` from the owner (they share its
        tracker); pass False in an unrelated process, whose own tracker
        would otherwise unlink the segment when that process exits.

    Returns
    -------
    Segment
        Close it when done; it never unlinks the name.

    Raises
    ------
    ValueError
        If `name` is not an engram segment name.
    FileNotFoundError
        If no segment of that name exists.
    """
    bare = name.lstrip("/")
    if parse_name(bare) is None:
        raise ValueError(
            f"{name!r} is not an engram segment name; expected "
            f"{PREFIX}<pid>-<{TOKEN_HEX_DIGITS} hex digits>-<part>"
        )
    segment = Segment(SharedMemory(name=bare, create=False))
    if not track:
        _unregister(bare)
    return segment


def _release(segments, creator_pid):
    """Unmap every segment; unlink them too when run by the creator.

    The finaliser of a :class:`SegmentSet`. It holds no reference to the set,
    so it can run from garbage collection or at interpreter exit, and it
    never raises.
    """
    owner = os.getpid() == creator_pid
    for segment in list(segments.values()):
        shm = segment._shm
        segment.close()
        if not owner:
            continue
        try:
            if shm is not None:
                shm.unlink()
            else:
                os.unlink(os.path.join(SHM_DIR, segment.name))
                _unregister(segment.name)
        except FileNotFoundError:
            # Someone (a sweep, the tracker) removed it first; still drop our
            # registration so the tracker does not report it at exit.
            _unregister(segment.name)
        except OSError as error:
            log.warning("could not unlink segment %s: %s", segment.name, error)
        else:
            log.debug("unlinked segment %s", segment.name)


class SegmentSet:
    """Creates, and solely owns, the shared-memory segments of one engine.

    The process that makes the set is the owner: :meth:`close` unmaps and
    unlinks every segment the set created. A forked child that inherits the
    set and closes it only unmaps, so an actor cannot remove the engine's
    memory from under the others. The set also closes itself when it is
    garbage-collected or the interpreter exits. It reads as a mapping from
    part name to :class:`Segment`.

    Parameters
    ----------
    token : str, optional
        16 lowercase hex digits naming the engine; a fresh
        ``secrets.token_hex(8)`` when not given.

    Examples
    --------
    >>> with SegmentSet() as segments:
    ...     state = segments.create("state", 1024)
    ...     potential = state.array("float32", 256)
    ...     potential[:] = 0.5
    ...     float(potential.sum())
    128.0
    """

    def __init__(self, token=None):
        if token is None:
            token = secrets.token_hex(TOKEN_HEX_DIGITS // 2)
        segment_name(token, "probe")  # validates the token

        # The engine's token, shared by all its segment names.
        self.token = token
        # The owner: only this pid unlinks.
        self.creator_pid = os.getpid()
        # part -> Segment, written by create() in the owner only.
        self._segments = {}
        # Runs _release once: from close(), garbage collection or exit.
        self._finalizer = weakref.finalize(
            self, _release, self._segments, self.creator_pid
        )

    def __repr__(self):
        state = "closed" if self.closed else f"{len(self._segments)} segments"
        return f"<SegmentSet {self.token} pid {self.creator_pid}, {state}>"

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __len__(self):
        return len(self._segments)

    def __contains__(self, part):
        return part in self._segments

    def __iter__(self):
        return iter(self._segments)

    def __getitem__(self, part):
        return self._segments[part]

    @property
    def closed(self):
        """True once :meth:`close` has run."""
        return not self._finalizer.alive

    @property
    def names(self):
        """The names of the segments created so far, in creation order."""
        return [segment.name for segment in self._segments.values()]

    def _unbacked_bytes(self):
        """Bytes promised to this set's segments that the tmpfs has not yet given."""
        return sum(
            max(0, segment.size - _backed_bytes(segment.name))
            for segment in self._segments.values()
        )

    def _check_space(self, sizes):
        try:
            free = free_bytes(SHM_DIR)
        except FileNotFoundError:
            log.debug("%s does not exist; free space not checked", SHM_DIR)
            return
        promised = self._unbacked_bytes()
        needed = sum(sizes.values()) + promised
        if needed > free:
            raise ShmSpaceError(sizes, needed, free, SHM_DIR, promised)

    def _check_open(self):
        if self.closed:
            raise ValueError(f"segment set {self.token} is closed")

    def reserve(self, sizes):
        """Check that segments of the given sizes fit, creating nothing.

        Parameters
        ----------
        sizes : dict of str to int
            Byte count of each part to be created.

        Returns
        -------
        int
            Bytes the parts will take, after the minimum size is applied.

        Raises
        ------
        ShmSpaceError
            If they do not fit in ``/dev/shm`` beside the pages already
            promised to this set's segments.
        ValueError
            If a part name is malformed or taken, or a size is negative.
        """
        self._check_open()
        planned = {}
        for part, nbytes in sizes.items():
            segment_name(self.token, part)
            if part in self._segments:
                raise ValueError(f"segment {part!r} already exists in this set")
            if nbytes < 0:
                raise ValueError(f"segment {part!r}: size must be >= 0, got {nbytes}")
            planned[part] = max(int(nbytes), MIN_SEGMENT_BYTES)
        self._check_space(planned)
        return sum(planned.values())

    def create(self, part, nbytes):
        """Create segment `part` of `nbytes` bytes, owned by this set.

        Parameters
        ----------
        part : str
            What the segment holds; unique within the set.
        nbytes : int
            Bytes wanted, >= 0; at least :data:`MIN_SEGMENT_BYTES` are mapped.

        Returns
        -------
        Segment

        Raises
        ------
        ShmSpaceError
            If ``/dev/shm`` has too little free space; nothing is created.
        ValueError
            If the set is closed, `part` is malformed or taken, or `nbytes`
            is negative.
        """
        if os.getpid() != self.creator_pid:
            raise ValueError(
                f"segment set {self.token} belongs to pid {self.creator_pid}; "
                f"a forked child cannot create segments in it"
            )
        self.reserve({part: nbytes})

        name = segment_name(self.token, part, self.creator_pid)
        size = max(int(nbytes), MIN_SEGMENT_BYTES)
        segment = Segment(SharedMemory(name=name, create=True, size=size))
        self._segments[part] = segment
        _ensure_owner_only(name)
        log.debug("created segment %s, %d bytes", name, size)
        return segment

    def close(self):
        """Unmap every segment, and unlink them when called by the owner.

        Idempotent and never raises: a segment already unlinked by someone
        else is skipped. In a forked child it only unmaps.
        """
        self._finalizer()


class SegmentInfo(NamedTuple):
    """What :func:`list_segments` knows about one segment from its file."""

    #: File name in the shared-memory directory.
    name: str
    #: Owner pid from the name; None when the rest of the name is malformed.
    pid: int | None
    token: str | None
    part: str | None
    #: Length in bytes.
    size: int
    #: Bytes of memory its pages take now.
    allocated: int


def list_segments(path=SHM_DIR):
    """The segments in `path` whose names start with :data:`PREFIX`.

    Names that start with the prefix but do not parse are listed with
    ``pid``, ``token`` and ``part`` set to None.

    Returns
    -------
    list of SegmentInfo
        Sorted by name.
    """
    infos = []
    for name in sorted(os.listdir(path)):
        if not name.startswith(PREFIX):
            continue
        try:
            stats = os.stat(os.path.join(path, name))
        except FileNotFoundError:
            continue  # removed while we looked
        parsed = parse_name(name) or (None, None, None)
        infos.append(SegmentInfo(name, *parsed, stats.st_size, stats.st_blocks * 512))
    return infos


def stale_segments(path=SHM_DIR):
    """The listed segments whose owner process no longer exists.

    A pid that exists counts as alive even if it now belongs to another
    program: pids are reused, and a name with a reused pid is left alone
    rather than risk removing a live engine's memory. Such a leak stays
    until the reused pid exits too. Malformed names are never stale.
    """
    return [
        info
        for info in list_segments(path)
        if info.pid is not None and not psutil.pid_exists(info.pid)
    ]


def sweep_stale(path=SHM_DIR, dry_run=False):
    """Unlink the segments whose owner process is gone.

    Segments of live processes are never touched (see
    :func:`stale_segments` for what counts as live). Unlinking removes only
    the name; a process that still maps a segment keeps its pages.

    Parameters
    ----------
    path : str, optional
        The shared-memory directory.
    dry_run : bool, optional
        Only report what would be removed.

    Returns
    -------
    list of str
        The names removed, or that would be removed.
    """
    removed = []
    for info in stale_segments(path):
        if not dry_run:
            try:
                os.unlink(os.path.join(path, info.name))
            except FileNotFoundError:
                continue  # someone else removed it meanwhile
            except PermissionError as error:
                log.warning("cannot remove stale segment %s: %s", info.name, error)
                continue
            log.info(
                "removed stale segment %s (owner pid %d is gone, %d bytes)",
                info.name,
                info.pid,
                info.size,
            )
        removed.append(info.name)
    return removed
