"""Shared-memory segments: names, permissions, space, ownership and sweeping."""

import gc
import multiprocessing
import os
import subprocess
import sys
import textwrap

import numpy as np
import psutil
import pytest

from engram_actors.errors import EngramError
from shm import segments
from shm.segments import (
    MIN_SEGMENT_BYTES,
    PREFIX,
    SHM_DIR,
    SegmentSet,
    ShmSpaceError,
    align,
    attach,
    list_segments,
    parse_name,
    segment_name,
    sweep_stale,
)

pytestmark = pytest.mark.skipif(
    not os.path.isdir(SHM_DIR), reason="needs POSIX shared memory in /dev/shm"
)

TOKEN = "0123456789abcdef"


def _ours_on_disk():
    """Engram names in /dev/shm this test could have made: ours or ownerless."""
    names = set()
    for name in os.listdir(SHM_DIR):
        parsed = parse_name(name)
        if name.startswith(PREFIX) and (
            parsed is None
            or parsed[0] == os.getpid()
            or not psutil.pid_exists(parsed[0])
        ):
            names.add(name)
    return names


@pytest.fixture(autouse=True)
def no_leaked_segments():
    before = _ours_on_disk()
    yield
    gc.collect()
    leaked = _ours_on_disk() - before
    for name in leaked:
        os.unlink(os.path.join(SHM_DIR, name))
    assert not leaked, f"test left segments behind: {sorted(leaked)}"


def _exists(name):
    return os.path.exists(os.path.join(SHM_DIR, name))


def _dead_pid():
    """The pid of a process that has exited and been reaped."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait(timeout=30)
    if psutil.pid_exists(process.pid):
        pytest.skip("the dead child's pid was reused at once")
    return process.pid


def _orphan(name, nbytes=4096):
    """Make segment `name` as a crashed owner would leave it: no tracker."""
    code = textwrap.dedent(
        f"""
        from multiprocessing import resource_tracker
        from multiprocessing.shared_memory import SharedMemory
        shm = SharedMemory(name={name!r}, create=True, size={nbytes})
        shm.buf[:4] = b"lost"
        resource_tracker.unregister("/" + shm.name, "shared_memory")
        shm.close()
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    assert _exists(name)


# --- names -----------------------------------------------------------------


def test_names_round_trip():
    name = segment_name(TOKEN, "shard3", pid=321)
    assert name == f"engram-321-{TOKEN}-shard3"
    assert parse_name(name) == (321, TOKEN, "shard3")
    assert parse_name("/" + name) == (321, TOKEN, "shard3")
    assert segment_name(TOKEN, "ctl").startswith(f"engram-{os.getpid()}-")


@pytest.mark.parametrize(
    "name",
    [
        "psm_12345",
        f"engram-0-{TOKEN}-graph",
        f"engram-x1-{TOKEN}-graph",
        "engram-12-0123456789abcde-graph",
        f"engram-12-{TOKEN.upper()}-graph",
        f"engram-12-{TOKEN}-",
        f"engram-12-{TOKEN}-Graph",
        f"engram-12-{TOKEN}-graph-2",
        f"engram-12-{TOKEN}-" + "p" * 33,
    ],
)
def test_parse_name_rejects_foreign_and_malformed_names(name):
    assert parse_name(name) is None


@pytest.mark.parametrize(
    "token, part, pid, message",
    [
        ("abc", "graph", 1, "token must be 16 lowercase hex digits"),
        (TOKEN, "shard-3", 1, "part must be 1 to 32"),
        (TOKEN, "", 1, "part must be 1 to 32"),
        (TOKEN, "graph", 0, "owner pid must be a positive integer"),
        (TOKEN, "graph", True, "owner pid must be a positive integer"),
    ],
)
def test_segment_name_refuses_bad_parts(token, part, pid, message):
    with pytest.raises(ValueError, match=message):
        segment_name(token, part, pid=pid)


def test_align():
    assert [align(n) for n in (0, 1, 63, 64, 65)] == [0, 64, 64, 64, 128]
    assert align(3, to=4) == 4
    with pytest.raises(ValueError, match="negative byte count -1"):
        align(-1)
    with pytest.raises(ValueError, match="alignment must be positive"):
        align(1, to=0)


# --- create, attach, close ---------------------------------------------------


def test_create_attach_and_close_unlinks():
    with SegmentSet() as owner:
        state = owner.create("state", 1000)
        assert parse_name(state.name) == (os.getpid(), owner.token, "state")
        assert state.size == 1000 and "state" in owner and len(owner) == 1
        potential = state.array(np.float64, 100)
        potential[:] = np.arange(100)

        other = attach(state.name)
        seen = other.array(np.float64, 100)
        assert seen[99] == 99.0
        seen[0] = -1.0
        assert potential[0] == -1.0
        del seen
        other.close()
        other.close()
        assert other.closed and other.buf is None
        assert _exists(state.name), "closing an attached segment must not unlink"
        del potential
    assert owner.closed
    assert not _exists(state.name)
    with pytest.raises(FileNotFoundError):
        attach(state.name)


def test_segments_are_owner_only_even_under_an_open_umask():
    previous = os.umask(0)
    try:
        with SegmentSet() as owner:
            segment = owner.create("graph", 4096)
            mode = os.stat(os.path.join(SHM_DIR, segment.name)).st_mode
    finally:
        os.umask(previous)
    assert mode & 0o077 == 0
    assert mode & 0o600 == 0o600


def test_zero_size_segment_and_empty_array():
    with SegmentSet() as owner:
        empty = owner.create("shard0", 0)
        assert empty.size == MIN_SEGMENT_BYTES
        assert empty.array("int64", 0).shape == (0,)
        assert empty.array("int64", 8).shape == (8,)


def test_array_layout_checks():
    with SegmentSet() as owner:
        segment = owner.create("ctl", 256)
        assert segment.array("int32", 16, offset=align(10)).shape == (16,)
        with pytest.raises(ValueError, match="multiple of 64, got 8"):
            segment.array("int32", 1, offset=8)
        with pytest.raises(ValueError, match="multiple of 64, got -64"):
            segment.array("int32", 1, offset=-64)
        with pytest.raises(ValueError, match="end at byte 264, which exceeds"):
            segment.array("int64", 25, offset=64)
        with pytest.raises(ValueError, match="count must be >= 0"):
            segment.array("int64", -1)
        with pytest.raises(ValueError, match="Python object pointers"):
            segment.array(object, 1)
        segment.close()
        with pytest.raises(ValueError, match="is closed"):
            segment.array("int64", 1)


def test_set_refuses_duplicates_bad_sizes_and_use_after_close():
    owner = SegmentSet()
    owner.create("graph", 64)
    with pytest.raises(ValueError, match="'graph' already exists"):
        owner.create("graph", 64)
    with pytest.raises(ValueError, match="size must be >= 0, got -5"):
        owner.create("state", -5)
    with pytest.raises(ValueError, match="token must be 16"):
        SegmentSet(token="not-hex")
    owner.close()
    with pytest.raises(ValueError, match="is closed"):
        owner.create("state", 64)
    assert "closed" in repr(owner)


def test_close_with_live_views_unlinks_and_keeps_views_readable(recwarn):
    owner = SegmentSet()
    segment = owner.create("state", 4096)
    view = segment.array(np.int64, 4)
    view[:] = 7
    piece = segment.buf[64:128]
    owner.close()
    owner.close()
    assert not _exists(segment.name)
    assert view.sum() == 28, "the mapping lives while a view does"
    del piece
    del view
    gc.collect()
    if os.path.exists("/proc/self/maps"):
        with open("/proc/self/maps") as maps:
            assert segment.name not in maps.read(), "unmapped with the last view"
    assert not [w for w in recwarn if "BufferError" in str(w.message)]


def test_close_tolerates_a_segment_unlinked_by_someone_else():
    owner = SegmentSet()
    segment = owner.create("graph", 128)
    os.unlink(os.path.join(SHM_DIR, segment.name))
    owner.close()
    assert owner.closed


def test_garbage_collection_unlinks():
    owner = SegmentSet()
    name = owner.create("graph", 128).name
    del owner
    gc.collect()
    assert not _exists(name)


def _close_in_child(owner, name, results):
    owner.close()
    results.put(os.path.exists(os.path.join(SHM_DIR, name)))


def test_forked_child_closing_only_unmaps():
    context = multiprocessing.get_context("fork")
    with SegmentSet() as owner:
        segment = owner.create("state", 4096)
        results = context.Queue()
        child = context.Process(
            target=_close_in_child, args=(owner, segment.name, results)
        )
        child.start()
        still_there_in_child = results.get(timeout=30)
        child.join(timeout=30)
        assert child.exitcode == 0
        assert still_there_in_child
        assert _exists(segment.name)
        assert segment.array("int64", 1) is not None, "the owner still maps it"
    assert not _exists(segment.name)


# --- free space --------------------------------------------------------------


def test_create_refuses_when_dev_shm_is_too_small(monkeypatch):
    monkeypatch.setattr(segments, "free_bytes", lambda path=SHM_DIR: 1000)
    owner = SegmentSet()
    try:
        with pytest.raises(ShmSpaceError) as caught:
            owner.create("graph", 5000)
        message = str(caught.value)
        assert "segment graph: 5,000 bytes (4.9 KiB) requested" in message
        assert "only 1,000 bytes free in /dev/shm" in message
        assert "--shm-size" in message
        assert isinstance(caught.value, EngramError)
        assert isinstance(caught.value, MemoryError)
        assert caught.value.free == 1000 and caught.value.parts == ("graph",)
        assert len(owner) == 0
        assert not _exists(segment_name(owner.token, "graph"))
    finally:
        owner.close()


def test_reserve_checks_a_whole_plan(monkeypatch):
    monkeypatch.setattr(segments, "free_bytes", lambda path=SHM_DIR: 10_000)
    with SegmentSet() as owner:
        assert owner.reserve({"graph": 6000, "ctl": 0}) == 6000 + MIN_SEGMENT_BYTES
        with pytest.raises(ShmSpaceError, match="segments graph, state: 12,000"):
            owner.reserve({"graph": 6000, "state": 6000})
        assert len(owner) == 0


def test_unwritten_pages_of_earlier_segments_count(monkeypatch):
    monkeypatch.setattr(segments, "free_bytes", lambda path=SHM_DIR: 10_000)
    with SegmentSet() as owner:
        owner.create("graph", 6000)
        # Nothing of "graph" is written yet, so the tmpfs has not taken its
        # pages; they are still owed and leave 4,000 bytes for "state".
        with pytest.raises(ShmSpaceError) as caught:
            owner.create("state", 6000)
        assert "segment state: 12,000 bytes (11.7 KiB) requested (of which 6,000" in (
            str(caught.value)
        )


# --- listing and sweeping ----------------------------------------------------


def test_list_segments_parses_names(tmp_path):
    good = segment_name(TOKEN, "graph", pid=77)
    (tmp_path / good).write_bytes(b"x" * 100)
    (tmp_path / "engram-broken").write_bytes(b"")
    (tmp_path / "psm_other").write_bytes(b"")
    infos = list_segments(tmp_path)
    assert [info.name for info in infos] == [good, "engram-broken"]
    assert infos[0][1:5] == (77, TOKEN, "graph", 100)
    assert infos[1].pid is None and infos[1].part is None


def test_sweep_removes_dead_owners_and_keeps_live_ones():
    dead = segment_name(TOKEN, "graph", pid=_dead_pid())
    live_other = segment_name(TOKEN, "state", pid=1)
    _orphan(dead)
    _orphan(live_other)
    try:
        with SegmentSet() as owner:
            mine = owner.create("ctl", 64).name
            assert sweep_stale(dry_run=True).count(dead) == 1
            assert _exists(dead)
            removed = sweep_stale()
            assert dead in removed
            assert live_other not in removed and mine not in removed
            assert not _exists(dead)
            assert _exists(live_other) and _exists(mine)
            assert dead not in sweep_stale()
    finally:
        for name in (dead, live_other):
            if _exists(name):
                os.unlink(os.path.join(SHM_DIR, name))


def test_sweep_in_a_fake_directory_skips_malformed_names(tmp_path, caplog):
    stale = segment_name(TOKEN, "graph", pid=_dead_pid())
    (tmp_path / stale).write_bytes(b"x")
    (tmp_path / "engram-broken").write_bytes(b"")
    caplog.set_level("INFO", logger="shm.segments")
    assert sweep_stale(tmp_path) == [stale]
    assert sorted(os.listdir(tmp_path)) == ["engram-broken"]
    assert f"removed stale segment {stale}" in caplog.text


def test_attach_refuses_foreign_names():
    with pytest.raises(ValueError, match="'psm_1234' is not an engram segment"):
        attach("psm_1234")


def _kernel_at_least(major, minor):
    release = os.uname().release.split("-")[0].split(".")
    return tuple(int(part) for part in release[:2]) >= (major, minor)


def test_prefault_maps_a_segment_and_refuses_a_closed_one():
    supported = _kernel_at_least(5, 14)  # MADV_POPULATE_READ/WRITE
    with segments.SegmentSet() as owned:
        segment = owned.create("prefault", 1 << 20)
        assert segment.prefault(write=True) is supported
        assert segment.prefault(write=False) is supported
        segment.close()
        with pytest.raises(ValueError, match="is closed"):
            segment.prefault()


def test_prefault_reports_pages_that_cannot_be_backed():
    import errno

    class Full:
        def madvise(self, advice):
            raise OSError(errno.ENOMEM, "Cannot allocate memory")

    with segments.SegmentSet() as owned:
        segment = owned.create("state", 1 << 16)
        real, segment._shm._mmap = segment._shm._mmap, Full()
        try:
            with pytest.raises(segments.ShmSpaceError, match="segment state"):
                segment.prefault()
        finally:
            segment._shm._mmap = real


@pytest.mark.parametrize(
    "module", ["shm.segments", "shm.layout", "scheduler.control", "engram_actors"]
)
def test_each_module_imports_first_in_a_fresh_interpreter(module):
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
