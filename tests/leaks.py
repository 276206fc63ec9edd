"""What the process-starting tests share: checks that nothing outlives a
test, and the comparisons the engine's tests make.

Two fixtures, registered in ``conftest.py``:

- ``leaves_nothing_behind`` for engine tests: no ``engram-`` segment of
  this process and no child process may outlive the test;
- ``no_leaks`` for tests that make their own anonymous segments with
  :func:`shared_segment`: those segments are gone, and no child is alive.
  It looks only at the segments the test made, because other runs on the
  machine may create and remove their own meanwhile.
"""

import contextlib
import gc
import os
import time
from multiprocessing import resource_tracker
from multiprocessing.shared_memory import SharedMemory

import numpy as np
import psutil
import pytest

from shm.segments import PREFIX, SHM_DIR, parse_name


def own_segments():
    """Engram segments in /dev/shm owned by this process (or unparseable)."""
    names = set()
    for name in os.listdir(SHM_DIR):
        if not name.startswith(PREFIX):
            continue
        parsed = parse_name(name)
        if parsed is None or parsed[0] == os.getpid():
            names.add(name)
    return names


def segments_of(pid):
    """Engram segments of the driver ``pid``, sorted."""
    return sorted(
        name
        for name in os.listdir(SHM_DIR)
        if (parsed := parse_name(name)) is not None and parsed[0] == pid
    )


def new_children(before):
    """Child processes not among the pids ``before``."""
    return [
        child
        for child in psutil.Process().children(recursive=True)
        if child.pid not in before
    ]


def live_children():
    """Pids of the children that are alive (not zombies)."""
    pids = set()
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            if child.status() != psutil.STATUS_ZOMBIE:
                pids.add(child.pid)
    return pids


@pytest.fixture
def leaves_nothing_behind():
    """No segment and no child process may outlive a test."""
    # The resource tracker is a child that lives as long as this process;
    # start it now so that it counts as already there.
    resource_tracker.ensure_running()
    children = {child.pid for child in psutil.Process().children(recursive=True)}
    segments = own_segments()
    yield
    gc.collect()
    deadline = time.monotonic() + 2.0
    while new_children(children) and time.monotonic() < deadline:
        time.sleep(0.02)
    left = new_children(children)
    for child in left:
        with contextlib.suppress(psutil.Error):
            child.kill()
    leaked = own_segments() - segments
    for name in leaked:
        os.unlink(os.path.join(SHM_DIR, name))
    assert not left, f"test left child processes behind: {left}"
    assert not leaked, f"test left segments behind: {sorted(leaked)}"


# Names of the segments the running test made with shared_segment.
_created_segments = []


@pytest.fixture
def no_leaks():
    """No segment this test made left in /dev/shm, no child left running."""
    resource_tracker.ensure_running()
    children_before = live_children()
    _created_segments.clear()
    yield
    live = live_children() - children_before
    assert not live, f"child processes left running: {sorted(live)}"
    shm_entries = set(os.listdir("/dev/shm"))
    leaked = [name for name in _created_segments if name in shm_entries]
    assert not leaked, f"segments left in /dev/shm: {leaked}"


@contextlib.contextmanager
def shared_segment(nbytes):
    """A fresh shared-memory segment, unlinked and closed on the way out."""
    shared = SharedMemory(create=True, size=nbytes)
    _created_segments.append(shared.name)
    try:
        yield shared
    finally:
        shared.unlink()
        with contextlib.suppress(BufferError):
            # A view kept alive by a failing test's traceback pins the
            # mapping; it goes when the view does. The name is gone already.
            shared.close()


def exited(pid):
    """Whether process ``pid`` is gone (or a zombie nobody reaps yet)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_until(predicate, timeout_s):
    """Poll ``predicate`` until it holds; False if ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def assert_same(result, expected):
    """Bit-identical results and equal stats."""
    np.testing.assert_array_equal(result.nodes, expected.nodes)
    np.testing.assert_array_equal(
        result.activation.view(np.uint32), expected.activation.view(np.uint32)
    )
    np.testing.assert_array_equal(result.first_hop, expected.first_hop)
    for field in ("waves", "fired_per_wave", "edges_traversed", "nodes_fired"):
        assert getattr(result.stats, field) == getattr(expected.stats, field), field
    if hasattr(expected, "spikes"):
        assert_same_neural(result, expected)


NEURAL_FIELDS = (
    "spikes",
    "first_spike_ms",
    "last_spike_ms",
    "potential",
    "resources",
)


def assert_same_neural(result, expected):
    """The neural model's fields, bit for bit, working memory and trace."""
    for field in NEURAL_FIELDS:
        got, want = getattr(result, field), getattr(expected, field)
        assert got.dtype == want.dtype, field
        np.testing.assert_array_equal(
            got.view(np.uint32), want.view(np.uint32), err_msg=field
        )
    assert result.working_memory.items(ids=True) == expected.working_memory.items(
        ids=True
    )
    np.testing.assert_array_equal(
        result.working_memory.entered, expected.working_memory.entered
    )
    assert sorted(result.trace) == sorted(expected.trace)
    for name, values in expected.trace.items():
        np.testing.assert_array_equal(result.trace[name], values, err_msg=name)


def assert_all_gone(names, processes):
    """The engine's segments are unlinked and its actors have exited."""
    assert not [name for name in names if os.path.exists(f"{SHM_DIR}/{name}")]
    assert all(process.exitcode is not None for process in processes)
