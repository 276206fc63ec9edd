"""How an engine ends: closed, dropped, an actor killed, Ctrl-C, its driver
killed, too little shared memory. Every case checks that no segment and no
process outlives it."""

import gc
import json
import os
import re
import select
import signal
import subprocess
import sys
import textwrap
import threading
import time
import weakref
from pathlib import Path

import numpy as np
import pytest
from leaks import assert_all_gone, assert_same, exited, segments_of, wait_until

import engram_actors.engine as engine_module
from engram_actors import (
    ActorDiedError,
    Engine,
    EngineClosedError,
    EngramError,
    SpreadConfig,
    generators,
    reference,
)
from scheduler import control
from shm import segments
from shm.segments import SHM_DIR, ShmSpaceError

pytestmark = [
    pytest.mark.usefixtures("leaves_nothing_behind"),
    pytest.mark.skipif(
        not os.path.isdir(SHM_DIR), reason="needs POSIX shared memory in /dev/shm"
    ),
    # A hang dumps every thread's stack (faulthandler) long before this.
    pytest.mark.timeout(120),
]

REPO = Path(__file__).resolve().parent.parent

#: Seconds within which a dead actor must be reported.
DETECT_S = 10.0


# -- graphs -----------------------------------------------------------------


@pytest.fixture(scope="module")
def small_graph():
    return generators.generate("random", 5_000, seed=1)


@pytest.fixture(scope="module")
def big_graph():
    """Large enough that a spread of 200 waves with threshold 0 takes
    seconds on the actors: long enough to be interrupted half-way."""
    return generators.generate("random", 200_000, seed=3)


CHECK = SpreadConfig(threshold=0.0, max_hops=3)
LONG = SpreadConfig(threshold=0.0, max_hops=200)


# -- orderly ends -------------------------------------------------------------


def test_close_removes_segments_and_stops_actors(small_graph):
    engine = Engine(small_graph, actors=3)
    names = engine._segments.names
    processes = list(engine._processes)
    assert sorted(part.rsplit("-", 1)[1] for part in names) == [
        "ctl",
        "delta",
        "graph",
        "state",
    ]
    assert all(os.path.exists(f"{SHM_DIR}/{name}") for name in names)
    assert all(process.is_alive() for process in processes)
    engine.close()
    assert_all_gone(names, processes)
    assert all(process.exitcode == 0 for process in processes)  # asked, not killed
    engine.close()


def test_leaving_the_with_block_on_an_error_cleans_up(small_graph):
    with pytest.raises(RuntimeError, match="raised inside the block"):
        with Engine(small_graph, actors=2) as engine:
            names = engine._segments.names
            processes = list(engine._processes)
            raise RuntimeError("raised inside the block")
    assert_all_gone(names, processes)
    assert repr(engine).endswith("closed)")


def test_dropping_the_last_reference_cleans_up(small_graph):
    engine = Engine(small_graph, actors=2)
    names = engine._segments.names
    processes = list(engine._processes)
    alive = weakref.ref(engine)
    del engine
    gc.collect()
    assert alive() is None
    assert_all_gone(names, processes)


# -- a dead actor -------------------------------------------------------------


@pytest.mark.parametrize(
    "signum", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"]
)
def test_actor_killed_while_idle_is_reported_then_restarted(
    small_graph, monkeypatch, signum
):
    monkeypatch.setattr(engine_module, "HAND_OVER_CUES", 1)
    cues = {0: 1.0, 7: 0.5}
    expected = reference.spread(small_graph, cues, CHECK)
    with Engine(small_graph, actors=3) as engine:
        assert_same(engine.spread(cues, CHECK), expected)
        victim = engine._processes[1]
        os.kill(victim.pid, signum)

        started = time.monotonic()
        message = (
            rf"actor 1 \(pid {victim.pid}\) was killed by {signum.name}; "
            r"the engine has stopped: call restart\(\) or close\(\)"
        )
        with pytest.raises(ActorDiedError, match=message):
            engine.spread(cues, CHECK)
        assert time.monotonic() - started < DETECT_S
        assert repr(engine).endswith("stopped)")
        # The other actors were stopped with it.
        assert engine._processes == []
        with pytest.raises(
            EngineClosedError,
            match=rf"the engine has stopped \(actor 1 .*{signum.name}\): call restart",
        ):
            engine.spread(cues, CHECK)

        engine.restart()
        assert repr(engine).endswith("running)")
        processes = list(engine._processes)
        assert len(processes) == 3 and victim.pid not in [p.pid for p in processes]
        result = engine.spread(cues, CHECK)
        assert result.stats.runner == "engine (3 actors)"
        assert_same(result, expected)
        names = engine._segments.names
    assert_all_gone(names, processes)


def _when_actors_busy(engine, action, stop, delay_s=0.05, timeout_s=30.0):
    """Run ``action`` once the actors are working on a spread (a command
    is out and not every actor is done), ``delay_s`` into it; give up
    if ``stop`` is set first. Returns whether it ran."""
    command = engine.ctl[control.COMMAND]
    deadline = time.monotonic() + timeout_s
    while not (
        engine.ctl[control.COMMAND] > command
        and engine.ctl[control.DONE] < engine.actors
    ):
        if stop.is_set() or time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    time.sleep(delay_s)
    if stop.is_set():
        return False
    action()
    return True


class _Background(threading.Thread):
    """Runs a function in a thread and keeps what it returned."""

    def __init__(self, function, *args):
        super().__init__(daemon=True)
        self.function, self.args, self.returned = function, args, None

    def run(self):
        self.returned = self.function(*self.args)


@pytest.mark.slow
@pytest.mark.parametrize(
    "signum", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"]
)
def test_actor_killed_during_a_spread_is_reported_without_a_hang(
    big_graph, monkeypatch, signum
):
    monkeypatch.setattr(engine_module, "HAND_OVER_EDGES", 0)
    cues = {0: 1.0}
    with Engine(big_graph, actors=2) as engine:
        victim = engine._processes[1]
        stop = threading.Event()
        killer = _Background(
            _when_actors_busy, engine, lambda: os.kill(victim.pid, signum), stop
        )
        killer.start()
        started = time.monotonic()
        try:
            with pytest.raises(
                ActorDiedError,
                match=rf"actor 1 \(pid {victim.pid}\) was killed by {signum.name}",
            ):
                engine.spread(cues, LONG)
        finally:
            stop.set()
            killer.join(timeout=30)
        assert killer.returned is True, "the spread ended before the kill"
        assert time.monotonic() - started < DETECT_S
        assert engine._processes == []

        engine.restart()
        result = engine.spread(cues, CHECK)
        assert result.stats.runner == "engine (2 actors)"
        assert_same(result, reference.spread(big_graph, cues, CHECK))
        names = engine._segments.names
        processes = list(engine._processes)
    assert_all_gone(names, processes)


def _interrupt_a_long_spread(engine, cues):
    """Press Ctrl-C (SIGINT to the main thread) while the actors run a long
    spread; the spread must raise KeyboardInterrupt in bounded time."""
    main_thread = threading.main_thread().ident
    stop = threading.Event()
    presser = _Background(
        _when_actors_busy,
        engine,
        lambda: signal.pthread_kill(main_thread, signal.SIGINT),
        stop,
        0.2,
    )
    presser.start()
    started = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            engine.spread(cues, LONG)
    finally:
        stop.set()
        presser.join(timeout=30)
    assert presser.returned is True, "the spread ended before Ctrl-C"
    assert time.monotonic() - started < engine_module.ABORT_TIMEOUT_S + DETECT_S


def _assert_matches(result, expected, exact):
    if exact:
        assert_same(result, expected)
        return
    # Shared push sums in no fixed order; with threshold 0 the same nodes
    # are reached in the same waves.
    np.testing.assert_array_equal(result.nodes, expected.nodes)
    np.testing.assert_array_equal(result.first_hop, expected.first_hop)
    np.testing.assert_allclose(result.activation, expected.activation, rtol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize(
    "push",
    ["owner", "shared"],
)
def test_ctrl_c_during_a_spread_leaves_the_engine_usable_or_closed(
    big_graph, monkeypatch, push
):
    monkeypatch.setattr(engine_module, "HAND_OVER_EDGES", 0)
    cues = {0: 1.0}
    expected = reference.spread(big_graph, cues, CHECK)
    deeper = reference.spread(big_graph, cues, threshold=0.0, max_hops=8)
    with Engine(big_graph, actors=2, push=push) as engine:
        for _attempt in range(2):
            if push == "shared":
                engine.pull_edges = 2**62  # every wave a (shared) push
            _interrupt_a_long_spread(engine, cues)

            # Either the actors gave the spread up and the engine goes on,
            # or it says why it stopped.
            try:
                result = engine.spread(cues, CHECK)
            except EngineClosedError as error:
                assert re.search(
                    r"the engine has stopped \(actors did not give up an aborted "
                    r"spread in time\): call restart\(\) or close\(\)",
                    str(error),
                ), error
                engine.restart()
                continue
            assert result.stats.runner == "engine (2 actors)"
            _assert_matches(result, expected, exact=push == "owner")
            # Nor is anything left behind for a longer spread.
            again = engine.spread(cues, threshold=0.0, max_hops=8)
            _assert_matches(again, deeper, exact=push == "owner")
        names = engine._segments.names
        processes = list(engine._processes)
    assert_all_gone(names, processes)


def test_actors_ignore_sigint_sent_to_them(small_graph, monkeypatch):
    """Ctrl-C in a terminal reaches the whole process group; the actors
    leave it to the driver."""
    monkeypatch.setattr(engine_module, "HAND_OVER_CUES", 1)
    cues = {3: 1.0}
    with Engine(small_graph, actors=2) as engine:
        for process in engine._processes:
            os.kill(process.pid, signal.SIGINT)
        time.sleep(0.2)
        assert all(process.is_alive() for process in engine._processes)
        assert_same(
            engine.spread(cues, CHECK), reference.spread(small_graph, cues, CHECK)
        )


# -- a dead driver ------------------------------------------------------------

DRIVER = textwrap.dedent(
    """
    import time
    from engram_actors import Engine, generators

    engine = Engine(generators.generate("random", 2_000, seed=1), actors=2)
    print("ready", *[process.pid for process in engine._processes], flush=True)
    time.sleep(120)
    """
)


def _start_driver(stderr):
    driver = subprocess.Popen(
        [sys.executable, "-c", DRIVER],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        start_new_session=True,  # its own process group, as a shell job
    )
    ready, _, _ = select.select([driver.stdout], [], [], 60)
    line = driver.stdout.readline() if ready else ""
    if not line.startswith("ready"):
        driver.kill()
        driver.wait()
        pytest.fail(f"the driver did not start: {line!r}")
    return driver, [int(pid) for pid in line.split()[1:]]


@pytest.mark.parametrize("whole_group", [False, True], ids=["driver", "group"])
def test_killed_driver_takes_its_actors_and_leaves_segments_to_cleanup(
    tmp_path, whole_group
):
    with open(tmp_path / "driver.err", "w") as stderr:
        driver, actor_pids = _start_driver(stderr)
        try:
            names = segments_of(driver.pid)
            assert len(names) == 4 and len(actor_pids) == 2
            assert not any(exited(pid) for pid in actor_pids)
            if whole_group:
                # kill -9 of the job: the resource tracker dies too, so
                # nothing but a sweep can remove the segments.
                os.killpg(driver.pid, signal.SIGKILL)
            else:
                os.kill(driver.pid, signal.SIGKILL)
            driver.wait(timeout=10)
        finally:
            if driver.poll() is None:
                driver.kill()
                driver.wait()
            driver.stdout.close()

    assert wait_until(lambda: all(exited(pid) for pid in actor_pids), 5.0), (
        "the actors outlived their driver"
    )
    if not whole_group:
        # The driver's resource tracker may unlink them once the actors,
        # which share it, have gone.
        wait_until(lambda: not segments_of(driver.pid), 3.0)
    left = segments_of(driver.pid)
    assert set(left) <= set(names)

    cleanup = subprocess.run(
        [str(REPO / ".venv" / "bin" / "engram-actors"), "cleanup"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert cleanup.returncode == 0, cleanup.stderr
    for name in left:
        assert f"removed {name} (owner pid {driver.pid} gone" in cleanup.stdout
    assert segments_of(driver.pid) == []


def test_sweep_stale_removes_what_a_killed_driver_left(tmp_path):
    with open(tmp_path / "driver.err", "w") as stderr:
        driver, actor_pids = _start_driver(stderr)
        names = segments_of(driver.pid)
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait(timeout=10)
        driver.stdout.close()
    assert wait_until(lambda: all(exited(pid) for pid in actor_pids), 5.0)
    left = segments_of(driver.pid)
    assert len(names) == 4 and set(left) <= set(names)
    removed = segments.sweep_stale()
    assert set(left) <= set(removed)
    assert segments_of(driver.pid) == []


# -- too little shared memory -------------------------------------------------


def test_too_little_shared_memory_is_refused_before_anything_exists(
    small_graph, monkeypatch
):
    Engine(small_graph, actors=1).close()  # kernels loaded outside the patch
    monkeypatch.setattr(segments, "free_bytes", lambda path=SHM_DIR: 4096)
    with pytest.raises(
        ShmSpaceError,
        match=r"shared memory segments graph, delta, state, ctl: [\d,]+ bytes \([\d.]+ "
        r"MiB\) requested but only 4,096 bytes \(4\.0 KiB\) free in /dev/shm",
    ) as refused:
        Engine(small_graph, actors=2)
    assert refused.value.parts == ("graph", "delta", "state", "ctl")
    assert refused.value.free == 4096
    assert refused.value.requested > 4096
    assert segments_of(os.getpid()) == []


def test_shared_memory_filling_up_part_way_leaves_nothing(small_graph, monkeypatch):
    """Another process takes the space after the first segment exists: the
    second is refused and the first unlinked."""
    Engine(small_graph, actors=1).close()

    def free_bytes(path=SHM_DIR):
        return 100 if segments_of(os.getpid()) else 2**40

    monkeypatch.setattr(segments, "free_bytes", free_bytes)
    with pytest.raises(
        ShmSpaceError,
        match=r"shared memory segment delta: [\d,]+ bytes .*requested \(of which "
        r"[\d,]+ for earlier segments, not yet written\) but only 100 bytes free",
    ):
        Engine(small_graph, actors=2)
    assert segments_of(os.getpid()) == []


SMALL_TMPFS = textwrap.dedent(
    """
    import json, os, psutil
    from multiprocessing import resource_tracker
    from engram_actors import Engine, generators, reference
    from shm.segments import ShmSpaceError

    def children():
        # The resource tracker lives as long as this process; not a leak.
        tracker = resource_tracker._resource_tracker._pid
        kids = psutil.Process().children(recursive=True)
        return [c.pid for c in kids if c.pid != tracker and c.is_running()
                and c.status() != psutil.STATUS_ZOMBIE]

    out = {"mounted": os.statvfs("/dev/shm").f_blocks * os.statvfs("/dev/shm").f_frsize}
    big = generators.generate("random", 300_000, seed=1)
    try:
        Engine(big, actors=2).close()
        out["big"] = "started"
    except ShmSpaceError as error:
        out["big"] = str(error)
    out["after_big"] = sorted(os.listdir("/dev/shm"))
    out["children_after_big"] = children()
    small = generators.generate("random", 2_000, seed=1)
    with Engine(small, actors=2) as engine:
        got = engine.spread({3: 1.0})
    out["small_matches"] = (
        got.activation.tolist() == reference.spread(small, {3: 1.0}).activation.tolist()
    )
    out["after_small"] = sorted(os.listdir("/dev/shm"))
    out["children_after_small"] = children()
    print(json.dumps(out))
    """
)


def _can_mount_private_tmpfs():
    try:
        probe = subprocess.run(
            ["unshare", "-m", "--propagation", "private", "sh", "-c",
             "mount -t tmpfs -o size=1m tmpfs /dev/shm"],
            capture_output=True, timeout=10,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


@pytest.mark.skipif(
    not _can_mount_private_tmpfs(),
    reason="needs unshare and mount rights to put a small tmpfs on /dev/shm",
)
def test_a_real_small_tmpfs_refuses_a_big_graph_and_serves_a_small_one():
    """/dev/shm is an 8 MiB tmpfs in a private mount namespace: a graph
    that needs more is refused before anything exists, and one that fits
    is served; nothing is left in that tmpfs either way."""
    command = (
        "mount -t tmpfs -o size=8m,mode=1777 tmpfs /dev/shm && "
        f'exec "{sys.executable}" -c "$0"'
    )
    run = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", command,
         SMALL_TMPFS],
        capture_output=True, text=True, timeout=120, cwd=Path(__file__).parent.parent,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["mounted"] == 8 * 2**20
    assert re.search(
        r"shared memory segments graph, delta, state, ctl: [\d,]+ bytes .* "
        r"requested but only [\d,]+ bytes \([\d.]+ MiB\) free in /dev/shm",
        out["big"],
    ), out["big"]
    assert out["after_big"] == [] and out["children_after_big"] == []
    assert out["small_matches"] is True
    assert out["after_small"] == [] and out["children_after_small"] == []


def test_a_forked_child_cannot_spread_and_its_close_leaves_the_owner_running():
    graph = generators.generate("random", 2_000, seed=31)
    with Engine(graph, actors=2) as engine:
        expected = reference.spread(graph, {3: 1.0})
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: refused, then closes its copy
            code = 1
            try:
                try:
                    engine.spread({3: 1.0})
                except EngramError as error:
                    code = 0 if "belongs to process" in str(error) else 2
                engine.close()
            finally:
                os.write(write, bytes([code]))
                os._exit(0)
        os.close(write)
        _, status = os.waitpid(pid, 0)
        code = os.read(read, 1)
        os.close(read)
        assert status == 0 and code == bytes([0])
        # The owner's actors and segments are untouched by the child's close.
        assert all(p.exitcode is None for p in engine._processes)
        result = engine.spread({3: 1.0})
        np.testing.assert_array_equal(result.activation, expected.activation)
