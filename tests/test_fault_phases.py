"""Faults injected at each phase of an engine's life.

::

    phase                 fault                           what must follow
    -------------------   ------------------------------  ---------------------
    start-up              actor killed / fails while it   ActorDiedError from
                          copies its shard                Engine(); nothing left
    pull wave             actor killed while chunks run,  ActorDiedError; after
                          or once chunks are stolen       restart() the reference
    gamma-cycle barrier   actor killed once one arrived   the same
    graph change,         actor killed while it writes    the same; nothing
    consolidation         the change into its shard       half-applied served
    every phase above,    the driver (the coordinator)    actors gone in 5 s;
    and idle              killed                          segments gone or swept
    driver                SIGTERM with a sys.exit handler the interpreter's exit
                                                          closes the engine
    driver spread,        Ctrl-C                          KeyboardInterrupt; the
    hand-over, gather                                     next spreads bit-exact
    set-up                64 actors on 2 cores; 5000;     works; ValueError /
                          more nodes than 32-bit ids      GraphError first

Every kill is sent both as SIGKILL and as SIGTERM. Every test runs under
the fixture that fails it if a segment of this process or a child process
outlives it, and every wait has a bound.
"""

import multiprocessing
import os
import re
import select
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
from leaks import assert_all_gone, assert_same, exited, segments_of, wait_until

import engram_actors.actor as actor_module
import engram_actors.engine as engine_module
from engram_actors import (
    ActorDiedError,
    Engine,
    EngineClosedError,
    Graph,
    GraphError,
    SpreadConfig,
    generators,
    reference,
)
from engram_actors.config import NeuralConfig
from engram_actors.graph import MAX_NODES
from engram_actors.models import pulse_parallel
from scheduler import control
from shm import segments
from shm.segments import SHM_DIR

pytestmark = [
    pytest.mark.usefixtures("leaves_nothing_behind"),
    pytest.mark.skipif(
        not os.path.isdir(SHM_DIR), reason="needs POSIX shared memory in /dev/shm"
    ),
    pytest.mark.timeout(120),
]

REPO = Path(__file__).resolve().parent.parent

#: Seconds from a kill to the ActorDiedError: a bound that proves there is
#: no hang, loose enough for a loaded CI machine (measured on 2 cores: 1.0
#: to 1.1 s before survivors were told to abort, milliseconds since).
DETECT_S = 10.0

#: Seconds from Ctrl-C to the KeyboardInterrupt; measured under 0.05 s.
INTERRUPT_S = 4.0

CHECK = SpreadConfig(threshold=0.0, max_hops=4)
LONG = SpreadConfig(threshold=0.0, max_hops=200)


# -- helpers -------------------------------------------------------------------


def _press_ctrl_c():
    signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)


class _Trigger(threading.Thread):
    """Acts once, from a thread, as soon as ``ready()`` holds (then waits
    ``delay_s``); gives up after ``timeout_s`` or on :meth:`cancel`.

    ``cancel`` and the action exclude each other, so that once ``cancel``
    returns no action (a Ctrl-C above all) can land later."""

    def __init__(self, ready, action, delay_s=0.0, timeout_s=10.0):
        super().__init__(daemon=True)
        self.ready, self.action = ready, action
        self.delay_s, self.timeout_s = delay_s, timeout_s
        self._lock = threading.Lock()
        self._cancelled = threading.Event()
        self.acted_at = None  # time.monotonic() of the action, once it ran
        self.returned = None  # what the action returned

    def run(self):
        deadline = time.monotonic() + self.timeout_s
        while not self.ready():
            if self._cancelled.is_set() or time.monotonic() > deadline:
                return
            time.sleep(0)
        if self.delay_s and self._cancelled.wait(self.delay_s):
            return
        with self._lock:
            if self._cancelled.is_set():
                return
            self.returned = self.action()
            self.acted_at = time.monotonic()

    def cancel(self):
        with self._lock:
            self._cancelled.set()
        self.join(timeout=30)
        assert not self.is_alive()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc_info):
        self.cancel()


def _command_out(engine, command):
    """A spread's command is out (a later one than ``command``) and not every
    actor is done with it."""
    return (
        engine.ctl[control.COMMAND] > command
        and engine.ctl[control.DONE] < engine.actors
    )


def _actor_words(engine, word):
    return [int(engine.ctl[control.actor_word(k, word)]) for k in range(engine.actors)]


# -- graphs -----------------------------------------------------------------


@pytest.fixture(scope="module")
def small_graph():
    return generators.generate("random", 3_000, seed=11)


@pytest.fixture(scope="module")
def mid_graph():
    """1e5 nodes: a 1,000-cue spread of 6 waves takes about 50 ms."""
    return generators.generate("random", 100_000, seed=5)


@pytest.fixture(scope="module")
def big_graph():
    """2e5 nodes, 2e6 edges, about 135 chunks: a spread of 200 waves with
    threshold 0 runs for seconds on the actors."""
    return generators.generate("random", 200_000, seed=3)


# -- start-up: an actor dies while it copies its shard -----------------------


def _failing_fill_shard(victim, what, pid_file):
    """``fill_shard`` that misbehaves in actor ``victim`` only: it leaves
    its pid in ``pid_file`` and then sleeps 2 s before copying ("sleep"),
    kills itself ("kill") or raises ("raise")."""
    real = actor_module.fill_shard

    def fill_shard(*args, **kwargs):
        if multiprocessing.current_process().name == f"engram-actor-{victim}":
            partial = f"{pid_file}.partial"
            with open(partial, "w") as out:
                out.write(str(os.getpid()))
            os.replace(partial, pid_file)
            if what == "sleep":
                time.sleep(8.0)
            elif what == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            else:
                raise MemoryError("injected while copying the shard")
        return real(*args, **kwargs)

    return fill_shard


def _kill_pid_in(pid_file, signum=signal.SIGKILL):
    pid = int(Path(pid_file).read_text())
    assert pid in [child.pid for child in psutil.Process().children()]
    os.kill(pid, signum)
    return pid


#: The two ways an actor or the driver is killed from outside: ``kill -9``
#: and a plain ``kill`` (as a batch system or systemd stops a job).
KILL_SIGNALS = pytest.mark.parametrize(
    "signum", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"]
)


@KILL_SIGNALS
@pytest.mark.parametrize("victim", [0, 2], ids=["first", "last"])
def test_actor_killed_while_copying_its_shard_fails_the_start(
    small_graph, monkeypatch, tmp_path, victim, signum
):
    Engine(small_graph, actors=1).close()  # kernels loaded outside the patch
    pid_file = tmp_path / "victim.pid"
    monkeypatch.setattr(
        actor_module,
        "fill_shard",
        _failing_fill_shard(victim, "sleep", pid_file),
    )
    with _Trigger(pid_file.exists, lambda: _kill_pid_in(pid_file, signum)) as killer:
        with pytest.raises(ActorDiedError) as died:
            Engine(small_graph, actors=3)
        failed_at = time.monotonic()
    pid = killer.returned
    assert pid is not None, "the victim never started copying its shard"
    assert re.match(
        rf"actor {victim} \(pid {pid}\) was killed by {signum.name}", str(died.value)
    )
    # Reported before the victim would even have finished sleeping.
    assert failed_at - killer.acted_at < min(DETECT_S, 8.0)


def test_actor_failing_while_copying_its_shard_is_reported_with_its_traceback(
    small_graph, monkeypatch, tmp_path, caplog
):
    Engine(small_graph, actors=1).close()
    monkeypatch.setattr(
        actor_module,
        "fill_shard",
        _failing_fill_shard(1, "raise", tmp_path / "victim.pid"),
    )
    started = time.monotonic()
    with pytest.raises(
        ActorDiedError, match=r"^actor 1 \(pid \d+\) exited with status 1"
    ):
        Engine(small_graph, actors=2)
    assert time.monotonic() - started < DETECT_S
    failures = [
        record.getMessage()
        for record in caplog.records
        if record.levelname == "CRITICAL" and "[actor 1]" in record.getMessage()
    ]
    assert failures and "MemoryError: injected while copying the shard" in failures[0]


def test_start_failure_does_not_ask_to_restart_an_engine_never_returned(
    small_graph, monkeypatch, tmp_path
):
    Engine(small_graph, actors=1).close()
    monkeypatch.setattr(
        actor_module,
        "fill_shard",
        _failing_fill_shard(1, "kill", tmp_path / "victim.pid"),
    )
    with pytest.raises(ActorDiedError, match=r"^actor 1 .*SIGKILL") as died:
        Engine(small_graph, actors=2)
    assert "restart()" not in str(died.value)


# -- an actor killed part-way through a spread ---------------------------------


def _kill_during_spread(
    engine, ready, pick_victim, timeout_s=10.0, config=None, signum=signal.SIGKILL
):
    """Start a long spread (``config``, LONG by default) and send ``signum``
    to ``pick_victim()`` once ``ready()``. Returns (victim index or None,
    seconds from kill to error)."""
    processes = list(engine._processes)

    def kill():
        victim = pick_victim()
        os.kill(processes[victim].pid, signum)
        return victim

    with _Trigger(ready, kill, timeout_s=timeout_s) as killer:
        try:
            engine.spread({0: 1.0}, config or LONG)
        except ActorDiedError as error:
            failed_at = time.monotonic()
            died = error
        else:
            killer.cancel()
            assert killer.returned is None, "an actor was killed without an error"
            return None, None
    victim = killer.returned
    assert victim is not None
    pid = processes[victim].pid
    assert re.match(
        rf"actor {victim} \(pid {pid}\) was killed by {signum.name}; the engine has "
        r"stopped: call restart\(\) or close\(\)$",
        str(died),
    ), died
    assert engine._processes == []
    assert all(process.exitcode is not None for process in processes)
    return victim, failed_at - killer.acted_at


def _restart_and_check(engine, graph, mode_counter, signum=signal.SIGKILL):
    """After a lost actor: refused until restarted, then the reference."""
    with pytest.raises(
        EngineClosedError, match=rf"killed by {signum.name}\): call restart"
    ):
        engine.spread({0: 1.0}, CHECK)
    engine.restart()
    result = engine.spread({0: 1.0}, CHECK)
    assert result.stats.runner == f"engine ({engine.actors} actors)"
    assert all(c[mode_counter] > 0 for c in result.stats.counters.values())
    assert_same(result, reference.spread(graph, {0: 1.0}, CHECK))
    cues = {7: 1.0, 99_999: 0.5}
    assert_same(engine.spread(cues, CHECK), reference.spread(graph, cues, CHECK))


@pytest.mark.slow
@KILL_SIGNALS
@pytest.mark.parametrize("when", ["pulling", "stealing"])
def test_actor_killed_in_a_pull_wave(big_graph, monkeypatch, when, signum):
    monkeypatch.setattr(engine_module, "HAND_OVER_CUES", 1)
    # Four actors on two cores: a descheduled actor's chunks get stolen.
    with Engine(big_graph, actors=4) as engine:
        engine.pull_edges = 1  # every wave pulls
        command = engine.ctl[control.COMMAND]
        counter = control.A_CHUNKS if when == "pulling" else control.A_STEALS

        def ready():
            return _command_out(engine, command) and any(_actor_words(engine, counter))

        def pick_victim():
            if when == "pulling":
                return 1
            return int(np.argmax(_actor_words(engine, control.A_STEALS)))

        victim, detect_s = _kill_during_spread(
            engine, ready, pick_victim, 5.0, signum=signum
        )
        if victim is None:
            pytest.skip(f"no chunk was {when[:-3]}ed within 5 s")
        assert detect_s < DETECT_S
        _restart_and_check(engine, big_graph, "pull_waves", signum)
        names = engine._segments.names
        processes = list(engine._processes)
    assert_all_gone(names, processes)


@pytest.mark.slow
@KILL_SIGNALS
def test_actor_killed_at_the_barrier(big_graph, monkeypatch, signum):
    monkeypatch.setattr(engine_module, "HAND_OVER_EDGES", 0)
    with Engine(big_graph, actors=2) as engine:
        engine.pull_edges = 2**62  # every wave pushes
        command = engine.ctl[control.COMMAND]

        def ready():
            # An odd count: one actor has arrived and waits for the other.
            value = int(engine.ctl[control.ARRIVALS])
            return _command_out(engine, command) and value % 2 == 1

        victim, detect_s = _kill_during_spread(engine, ready, lambda: 1, signum=signum)
        assert victim == 1, "the spread ended before the kill"
        assert detect_s < DETECT_S
        _restart_and_check(engine, big_graph, "push_waves", signum)


#: A neural spread that keeps a 2e5-node graph firing for 300 gamma
#: cycles (several seconds on the actors).
NEURAL_LONG = NeuralConfig(max_cycles=300, theta_depth=0.0, synaptic_gain=5.0)
NEURAL_CHECK = NeuralConfig(max_cycles=5)


@pytest.mark.slow
@KILL_SIGNALS
@pytest.mark.parametrize("mode", ["pull", "push"])
def test_actor_killed_in_a_neural_spread(big_graph, monkeypatch, mode, signum):
    monkeypatch.setattr(engine_module, "HAND_OVER_EDGES", 0)
    with Engine(big_graph, actors=2) as engine:
        engine.pull_edges = 1 if mode == "pull" else 2**62
        command = engine.ctl[control.COMMAND]
        counter = control.A_CHUNKS if mode == "pull" else control.A_PUSH_WAVES

        def ready():
            return _command_out(engine, command) and min(_actor_words(engine, counter))

        victim, detect_s = _kill_during_spread(
            engine, ready, lambda: 1, config=NEURAL_LONG, signum=signum
        )
        assert victim == 1, "the neural spread ended before the kill"
        assert detect_s < DETECT_S
        with pytest.raises(EngineClosedError, match="call restart"):
            engine.spread({0: 1.0}, NEURAL_CHECK)
        engine.restart()
        cues = {0: 1.0, 5: 2.0}
        assert_same(
            engine.spread(cues, NEURAL_CHECK),
            reference.spread_neural(big_graph, cues, NEURAL_CHECK),
        )
        assert_same(
            engine.spread(cues, CHECK), reference.spread(big_graph, cues, CHECK)
        )


@pytest.mark.slow
def test_ctrl_c_during_a_neural_spread_on_the_actors(big_graph, monkeypatch):
    monkeypatch.setattr(engine_module, "HAND_OVER_EDGES", 0)
    with Engine(big_graph, actors=2) as engine:
        command = engine.ctl[control.COMMAND]
        config = NEURAL_LONG.replace(max_cycles=40)
        latency, _ = _interrupt_spreads(
            engine, {0: 1.0}, config, ready=lambda: _command_out(engine, command)
        )
        assert latency < INTERRUPT_S
        cues = {0: 1.0, 5: 2.0}
        assert_same(
            engine.spread(cues, NEURAL_CHECK),
            reference.spread_neural(big_graph, cues, NEURAL_CHECK),
        )


def _slow_updates(monkeypatch):
    """Make every actor take 3 s over an ``associate`` command, so that a
    fault lands while the shards are changing."""
    real = actor_module.apply_updates

    def apply_updates(*args, **kwargs):
        time.sleep(3.0)
        return real(*args, **kwargs)

    monkeypatch.setattr(actor_module, "apply_updates", apply_updates)


def _some_updates(graph, count=5000, seed=9):
    rng = np.random.default_rng(seed)
    n = graph.num_nodes
    keys = np.unique(rng.integers(0, n * n, count))
    return keys // n, keys % n, rng.random(keys.size)


def _check_unchanged_then_change(engine, graph, updates):
    """After a restart the engine serves the graph as it was; a new
    change then lands whole."""
    assert engine.graph is graph
    assert_same(
        engine.spread({0: 1.0}, CHECK), reference.spread(graph, {0: 1.0}, CHECK)
    )
    engine.associate(*updates)
    changed = engine.graph
    assert changed.num_edges > graph.num_edges
    cues = {0: 1.0, 9: 2.0}
    assert_same(engine.spread(cues, CHECK), reference.spread(changed, cues, CHECK))
    neural_cfg = NEURAL_CHECK
    assert_same(
        engine.spread(cues, neural_cfg),
        reference.spread_neural(changed, cues, neural_cfg),
    )


@pytest.mark.slow
@KILL_SIGNALS
def test_actor_killed_while_the_graph_changes(mid_graph, monkeypatch, signum):
    """Consolidation's write into the shards (Engine.associate) loses an
    actor: a clear error, nothing half-applied served, and a restart
    rebuilds the shards from the graph as it was."""
    _slow_updates(monkeypatch)
    updates = _some_updates(mid_graph)
    with Engine(mid_graph, actors=2) as engine:
        command = engine.ctl[control.COMMAND]
        processes = list(engine._processes)

        def kill():
            os.kill(processes[1].pid, signum)

        with _Trigger(lambda: _command_out(engine, command), kill) as killer:
            with pytest.raises(
                ActorDiedError,
                match=rf"actor 1 \(pid \d+\) was killed by {signum.name}",
            ):
                engine.associate(*updates)
        assert time.monotonic() - killer.acted_at < DETECT_S
        with pytest.raises(EngineClosedError, match="call restart"):
            engine.spread({0: 1.0}, CHECK)
        monkeypatch.undo()
        engine.restart()
        _check_unchanged_then_change(engine, mid_graph, updates)
        names = engine._segments.names
        processes = list(engine._processes)
    assert_all_gone(names, processes)


@pytest.mark.slow
def test_ctrl_c_while_the_graph_changes(mid_graph, monkeypatch):
    _slow_updates(monkeypatch)
    updates = _some_updates(mid_graph)
    with Engine(mid_graph, actors=2) as engine:
        command = engine.ctl[control.COMMAND]
        with _Trigger(lambda: _command_out(engine, command), _press_ctrl_c) as press:
            with pytest.raises(KeyboardInterrupt):
                engine.associate(*updates)
        assert time.monotonic() - press.acted_at < INTERRUPT_S + 3.0
        with pytest.raises(EngineClosedError, match="interrupted while changing"):
            engine.spread({0: 1.0}, CHECK)
        monkeypatch.undo()
        engine.restart()
        _check_unchanged_then_change(engine, mid_graph, updates)


@pytest.mark.slow
@KILL_SIGNALS
def test_actor_killed_during_consolidation(mid_graph, monkeypatch, signum):
    from engram_actors.memory import ConsolidationConfig, Memory

    _slow_updates(monkeypatch)
    with Memory(mid_graph, 2, consolidation=ConsolidationConfig()) as memory:
        for first in range(0, 60, 6):
            memory.encode({v: 1.0 for v in range(first, first + 6)})
        engine = memory.engine
        command = engine.ctl[control.COMMAND]
        processes = list(engine._processes)
        with _Trigger(
            lambda: _command_out(engine, command),
            lambda: os.kill(processes[0].pid, signum),
        ):
            with pytest.raises(ActorDiedError, match=f"killed by {signum.name}"):
                memory.consolidate(200)
        assert memory.graph is mid_graph  # nothing of it was taken
        monkeypatch.undo()
        engine.restart()
        report = memory.consolidate(200)
        assert report["created"] > 0
        cues = {0: 1.0}
        assert_same(
            memory.recall(cues).result,
            reference.spread(
                memory.graph, memory.recall(cues).cues, memory.spread_config
            ),
        )


@pytest.mark.slow
def test_ctrl_c_while_the_survivors_are_stopped(big_graph, monkeypatch):
    """Ctrl-C while the engine stops its actors (after one died) keeps the
    handles of those still running: close() then stops them, and a restart
    never runs beside an orphan."""
    import multiprocessing.process as mp_process

    monkeypatch.setattr(engine_module, "HAND_OVER_EDGES", 0)
    expected = reference.spread(big_graph, {0: 1.0}, CHECK)
    with Engine(big_graph, actors=2) as engine:
        processes = list(engine._processes)
        os.kill(processes[1].pid, signal.SIGKILL)
        processes[1].join(5)
        join = mp_process.BaseProcess.join
        pressed = []

        def join_then_press(self, timeout=None):
            if not pressed:  # Ctrl-C lands in the first wait for a survivor
                pressed.append(self.pid)
                raise KeyboardInterrupt
            return join(self, timeout)

        monkeypatch.setattr(mp_process.BaseProcess, "join", join_then_press)
        with pytest.raises(KeyboardInterrupt):
            engine.spread({0: 1.0}, CHECK)
        monkeypatch.setattr(mp_process.BaseProcess, "join", join)
        assert pressed, "the stop never waited for a survivor"
        # The survivor is still known to the engine, not orphaned.
        assert [p.pid for p in engine._processes if p.exitcode is None] == [
            processes[0].pid
        ] or processes[0].exitcode is not None
        engine.restart()
        assert processes[0].exitcode is not None  # stopped before the restart
        for _ in range(2):
            result = engine.spread({0: 1.0}, CHECK)
            np.testing.assert_array_equal(result.nodes, expected.nodes)
            np.testing.assert_array_equal(
                result.activation.view(np.uint32), expected.activation.view(np.uint32)
            )


# -- the driver gets SIGTERM ---------------------------------------------------

DRIVER = textwrap.dedent(
    """
    import signal, sys, time
    import engram_actors.engine as engine_module
    from engram_actors import Engine, generators

    if {exit_on_sigterm}:
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    engine_module.HAND_OVER_EDGES = 0
    engine = Engine(generators.generate("random", 30_000, seed=1), actors=2)
    engine.spread({{0: 1.0}}, threshold=0.0, max_hops=2)
    print("ready", *[process.pid for process in engine._processes], flush=True)
    if {spreading}:
        while True:
            engine.spread({{0: 1.0}}, threshold=0.0, max_hops=200)
    time.sleep(120)
    """
)


def _start_driver(stderr, spreading, exit_on_sigterm):
    script = DRIVER.format(spreading=spreading, exit_on_sigterm=exit_on_sigterm)
    driver = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        start_new_session=True,
    )
    ready, _, _ = select.select([driver.stdout], [], [], 60)
    line = driver.stdout.readline() if ready else ""
    if not line.startswith("ready"):
        driver.kill()
        driver.wait()
        pytest.fail(f"the driver did not start: {line!r}")
    return driver, [int(pid) for pid in line.split()[1:]]


def _cleanup():
    return subprocess.run(
        [str(REPO / ".venv" / "bin" / "engram-actors"), "cleanup"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "spreading, exit_on_sigterm",
    [(False, False), (True, False), (True, True)],
    ids=["idle", "spreading", "spreading-sys.exit-handler"],
)
def test_sigterm_to_the_driver(tmp_path, spreading, exit_on_sigterm):
    with open(tmp_path / "driver.err", "w") as stderr:
        driver, actor_pids = _start_driver(stderr, spreading, exit_on_sigterm)
        try:
            names = segments_of(driver.pid)
            assert len(names) == 4 and len(actor_pids) == 2
            if spreading:
                time.sleep(0.2)
            os.kill(driver.pid, signal.SIGTERM)
            code = driver.wait(timeout=10)
        finally:
            if driver.poll() is None:
                driver.kill()
                driver.wait()
            driver.stdout.close()
    killed_at = time.monotonic()

    assert wait_until(lambda: all(exited(pid) for pid in actor_pids), 5.0), (
        "the actors outlived their driver"
    )
    assert time.monotonic() - killed_at < 5.0
    if exit_on_sigterm:
        # SystemExit unwinds the spread and the interpreter closes the engine.
        assert code == 128 + signal.SIGTERM
        assert segments_of(driver.pid) == []
        assert "Traceback" not in (tmp_path / "driver.err").read_text()
        return
    assert code == -signal.SIGTERM
    # The resource tracker may unlink them once no actor holds its pipe.
    wait_until(lambda: not segments_of(driver.pid), 3.0)
    left = segments_of(driver.pid)
    assert set(left) <= set(names)
    cleanup = _cleanup()
    assert cleanup.returncode == 0, cleanup.stderr
    for name in left:
        assert f"removed {name} (owner pid {driver.pid} gone" in cleanup.stdout
    assert segments_of(driver.pid) == []


# -- the driver (the coordinator) killed at each phase --------------------------

#: A driver that runs until it reaches ``PHASE`` and then says so on stdout
#: with the pids of its actors ("phase" pid...), so that the test can kill
#: it right there. The coordinator lives in the driver: its waves, barriers
#: and hand-overs run in this process.
PHASE_DRIVER = textwrap.dedent(
    """
    import os, sys, threading, time
    import multiprocessing
    import engram_actors.actor as actor_module
    import engram_actors.engine as engine_module
    from engram_actors import Engine, SpreadConfig, generators
    from scheduler import control

    PHASE = sys.argv[1]
    LONG = SpreadConfig(threshold=0.0, max_hops=200)
    graph = generators.generate("random", 200_000, seed=3)

    def say(*pids):
        print("phase", *pids, flush=True)

    def watch(engine, ready):
        # Reports once ready() holds while a command is out, then idles.
        command = engine.ctl[control.COMMAND]
        pids = [process.pid for process in engine._processes]

        def run():
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                out = (
                    engine.ctl[control.COMMAND] > command
                    and engine.ctl[control.DONE] < engine.actors
                )
                if out and ready():
                    say(*pids)
                    return
                time.sleep(0)
            print("missed", flush=True)

        threading.Thread(target=run, daemon=True).start()

    def words(engine, word):
        return [
            int(engine.ctl[control.actor_word(k, word)])
            for k in range(engine.actors)
        ]

    if PHASE == "start":
        real = actor_module.fill_shard

        def fill_shard(*args, **kwargs):
            # Every actor holds here (the driver's own warm-up does not).
            name = multiprocessing.current_process().name
            if name == "engram-actor-1":
                say(os.getppid())
            if name.startswith("engram-actor-"):
                time.sleep(30)
            return real(*args, **kwargs)

        actor_module.fill_shard = fill_shard
        Engine(graph, actors=2)
        sys.exit("the engine started")

    if PHASE == "consolidation":
        from engram_actors.memory import ConsolidationConfig, Memory

        real = actor_module.apply_updates

        def apply_updates(*args, **kwargs):
            if multiprocessing.current_process().name.startswith("engram-actor-"):
                time.sleep(30)
            return real(*args, **kwargs)

        actor_module.apply_updates = apply_updates
        memory = Memory(graph, 2, consolidation=ConsolidationConfig())
        for first in range(0, 60, 6):
            memory.encode({v: 1.0 for v in range(first, first + 6)})
        watch(memory.engine, lambda: True)
        memory.consolidate(200)
        sys.exit("consolidation ended")

    actors = 4 if PHASE == "stealing" else 2
    engine = Engine(graph, actors=actors)
    engine.spread({0: 1.0}, threshold=0.0, max_hops=2)
    if PHASE == "idle":
        say(*[process.pid for process in engine._processes])
        time.sleep(60)
        sys.exit("not killed")
    if PHASE in ("mid-wave", "stealing"):
        engine_module.HAND_OVER_CUES = 1
        engine.pull_edges = 1  # every wave pulls chunks
        counter = control.A_CHUNKS if PHASE == "mid-wave" else control.A_STEALS
        watch(engine, lambda: any(words(engine, counter)))
    elif PHASE == "barrier":
        engine_module.HAND_OVER_EDGES = 0
        engine.pull_edges = 2**62  # every wave pushes
        # An odd count: one actor has arrived and waits for the other.
        watch(engine, lambda: int(engine.ctl[control.ARRIVALS]) % 2 == 1)
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        engine.spread({0: 1.0}, LONG)
    sys.exit("not killed")
    """
)

DRIVER_PHASES = ["start", "idle", "mid-wave", "barrier", "stealing", "consolidation"]


def _descendants(pid):
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


@pytest.mark.slow
@KILL_SIGNALS
@pytest.mark.parametrize("phase", DRIVER_PHASES)
def test_driver_killed_at_each_phase(tmp_path, phase, signum):
    """Kill the driver with the coordinator in it, at each phase of a spread
    and of consolidation: its actors and its resource tracker are gone
    within 5 s, and every segment is removed then, or by the cleanup
    command (a killed process runs no code of its own)."""
    with open(tmp_path / "driver.err", "w") as stderr:
        driver = subprocess.Popen(
            [sys.executable, "-c", PHASE_DRIVER, phase],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            start_new_session=True,
        )
        try:
            ready, _, _ = select.select([driver.stdout], [], [], 90)
            line = driver.stdout.readline() if ready else ""
            if line.startswith("missed") and phase == "stealing":
                pytest.skip("no chunk was stolen within 30 s")
            assert line.startswith("phase"), (
                f"the driver never reached {phase}: {line!r}\n"
                + (tmp_path / "driver.err").read_text()[-2000:]
            )
            descendants = _descendants(driver.pid)
            pids = {process.pid for process in descendants}
            # The actors the driver named are among them (for "start", the
            # actors are still copying their shards and the line names the
            # driver itself).
            named = {int(pid) for pid in line.split()[1:]}
            assert named <= pids | {driver.pid}
            assert len(pids) >= 2
            names = segments_of(driver.pid)
            assert names, "the driver had no segment to leave behind"
            os.kill(driver.pid, signum)
            code = driver.wait(timeout=10)
            killed_at = time.monotonic()
        finally:
            if driver.poll() is None:
                driver.kill()
                driver.wait()
            driver.stdout.close()
    assert code == -signum

    assert wait_until(lambda: all(exited(pid) for pid in pids), 5.0), (
        f"processes of the driver outlived it: "
        f"{[pid for pid in pids if not exited(pid)]}"
    )
    assert time.monotonic() - killed_at < 5.0
    # The resource tracker unlinks what it knows of once no process holds
    # its pipe; what it missed, cleanup removes.
    wait_until(lambda: not segments_of(driver.pid), 3.0)
    left = segments_of(driver.pid)
    assert set(left) <= set(names)
    cleanup = _cleanup()
    assert cleanup.returncode == 0, cleanup.stderr
    for name in left:
        assert f"removed {name} (owner pid {driver.pid} gone" in cleanup.stdout
    assert segments_of(driver.pid) == []


# -- Ctrl-C at other points ------------------------------------------------------

MANY_CUES = {node: 1.0 for node in range(0, 100_000, 100)}  # 1,000
DEEP = SpreadConfig(threshold=0.0, max_hops=6)


def _run_actors_once(engine):
    """One spread on the actors (16,384 cues or more start there)."""
    cues = {node: 0.5 for node in range(0, engine.graph.num_nodes, 5)}
    assert len(cues) >= engine_module.HAND_OVER_CUES
    result = engine.spread(cues, threshold=0.0, max_hops=1)
    assert result.stats.runner == f"engine ({engine.actors} actors)"


def _interrupt_spreads(engine, cues, config, ready=lambda: True, delay_s=0.0):
    """Spread again and again until Ctrl-C, pressed once ``ready()`` holds
    and ``delay_s`` later, interrupts. Returns seconds from press to
    KeyboardInterrupt and how many spreads completed first."""
    completed = 0
    # Made outside the block: a press that lands while ``with`` binds its
    # name would skip the cancel.
    press = _Trigger(ready, _press_ctrl_c, delay_s)
    with pytest.raises(KeyboardInterrupt):
        try:
            press.start()
            for _ in range(200):
                engine.spread(cues, config)
                completed += 1
        finally:
            press.cancel()
    interrupted_at = time.monotonic()
    assert press.acted_at is not None
    return interrupted_at - press.acted_at, completed


def _check_after_interrupt(engine, graph, usable_only):
    """The next spreads match the reference bit for bit; or, unless
    ``usable_only``, the engine says why it stopped and a restart works."""
    expected = reference.spread(graph, MANY_CUES, DEEP)
    try:
        result = engine.spread(MANY_CUES, DEEP)
    except EngineClosedError as error:
        if usable_only:
            raise
        assert re.search(
            r"the engine has stopped \(actors did not give up an aborted spread "
            r"in time\): call restart\(\) or close\(\)",
            str(error),
        ), error
        engine.restart()
        result = engine.spread(MANY_CUES, DEEP)
    assert_same(result, expected)
    assert_same(
        engine.spread({3: 1.0}, CHECK), reference.spread(graph, {3: 1.0}, CHECK)
    )


def test_ctrl_c_during_a_spread_in_the_driver(mid_graph, monkeypatch):
    """After a spread on the actors, an interrupted driver-only spread
    leaves the engine usable (see below for a fresh engine)."""
    monkeypatch.setattr(engine_module, "HAND_OVER_EDGES", 2**62)
    with Engine(mid_graph, actors=2) as engine:
        _run_actors_once(engine)
        result = engine.spread(MANY_CUES, DEEP)
        assert result.stats.runner == "engine (driver)"
        assert result.stats.edges_traversed > 1_000_000
        for delay_s in (0.005, 0.01, 0.03, 0.07):
            latency, _ = _interrupt_spreads(engine, MANY_CUES, DEEP, delay_s=delay_s)
            assert latency < INTERRUPT_S
            assert engine._broken is None
            _check_after_interrupt(engine, mid_graph, usable_only=True)


def _ctrl_c_after(function):
    """``function`` that presses Ctrl-C once, after its first call."""
    calls = []

    def pressed(*args, **kwargs):
        returned = function(*args, **kwargs)
        if not calls:
            calls.append(1)
            _press_ctrl_c()
        return returned

    return pressed


def _ctrl_c_before(function):
    """``function`` that presses Ctrl-C once, before its first call."""
    calls = []

    def pressed(*args, **kwargs):
        if not calls:
            calls.append(1)
            _press_ctrl_c()
        return function(*args, **kwargs)

    return pressed


HAND_OVER_POINTS = {
    # The driver has moved its frontier into the actors' lists.
    "after hand_over": (pulse_parallel, "hand_over", _ctrl_c_after),
    # ... and is filling the deques for a pull wave.
    "loading deques": (engine_module.Engine, "_load_deques", _ctrl_c_before),
    # The command is out; the actors run the spread.
    "command sent": (engine_module.Engine, "_send", _ctrl_c_after),
}


@pytest.mark.parametrize("point", sorted(HAND_OVER_POINTS))
def test_ctrl_c_during_the_hand_over(mid_graph, monkeypatch, point):
    with Engine(mid_graph, actors=2) as engine:
        engine.pull_edges = 1  # the handed-over wave pulls: deques are loaded
        _run_actors_once(engine)
        owner, name, wrap = HAND_OVER_POINTS[point]
        monkeypatch.setattr(owner, name, wrap(getattr(owner, name)))
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            engine.spread(MANY_CUES, DEEP)
        assert time.monotonic() - started < INTERRUPT_S
        monkeypatch.undo()
        assert engine._broken is None
        _check_after_interrupt(engine, mid_graph, usable_only=True)


@pytest.mark.slow
def test_ctrl_c_at_random_points_of_a_handed_over_spread(mid_graph):
    with Engine(mid_graph, actors=2) as engine:
        result = engine.spread(MANY_CUES, DEEP)
        assert result.stats.runner == "engine (2 actors)"  # after inline waves
        for delay_s in (0.002, 0.005, 0.01, 0.02, 0.04):
            latency, _ = _interrupt_spreads(engine, MANY_CUES, DEEP, delay_s=delay_s)
            assert latency < engine_module.ABORT_TIMEOUT_S + INTERRUPT_S
            _check_after_interrupt(engine, mid_graph, usable_only=False)


@pytest.mark.slow
def test_ctrl_c_during_the_final_gather(big_graph, monkeypatch):
    monkeypatch.setattr(engine_module, "HAND_OVER_EDGES", 0)
    config = SpreadConfig(threshold=0.0, max_hops=8)  # gathers ~2e5 nodes
    expected = reference.spread(big_graph, {0: 1.0}, config)
    in_gather = 0
    with Engine(big_graph, actors=2) as engine:
        for delay_s in (0.0, 0.0, 0.0, 0.0, 0.0005, 0.001):
            command = engine.ctl[control.COMMAND]
            seen = []

            def stopped(command=command, seen=seen):
                # The last cycle closed with STOP: the actors gather.
                if (
                    engine.ctl[control.COMMAND] > command
                    and engine.ctl[control.LAST_WAVE]
                ):
                    seen.append(int(engine.ctl[control.DONE]))
                    return True
                return False

            latency, completed = _interrupt_spreads(
                engine, {0: 1.0}, config, stopped, delay_s
            )
            assert latency < INTERRUPT_S
            in_gather += completed == 0 and seen[0] < engine.actors
            assert engine._broken is None
            assert_same(engine.spread({0: 1.0}, config), expected)
    assert in_gather, "Ctrl-C never landed while the actors gathered"


@pytest.mark.parametrize(
    "point", ["driver spread, fresh engine", "hand-over, fresh engine", "before send"]
)
def test_ctrl_c_before_the_actors_have_the_command(mid_graph, monkeypatch, point):
    # A shorter stall: the test fails on it all the same.
    monkeypatch.setattr(engine_module, "ABORT_TIMEOUT_S", 1.0)
    with Engine(mid_graph, actors=2) as engine:
        if point == "driver spread, fresh engine":
            monkeypatch.setattr(engine_module, "HAND_OVER_EDGES", 2**62)
            assert engine.spread(MANY_CUES, DEEP).stats.runner == "engine (driver)"
            latency, _ = _interrupt_spreads(engine, MANY_CUES, DEEP, delay_s=0.01)
        else:
            if point == "hand-over, fresh engine":
                wrapped = _ctrl_c_after(pulse_parallel.hand_over)
                monkeypatch.setattr(pulse_parallel, "hand_over", wrapped)
            else:
                _run_actors_once(engine)
                wrapped = _ctrl_c_before(engine_module.Engine._send)
                monkeypatch.setattr(engine_module.Engine, "_send", wrapped)
            started = time.monotonic()
            with pytest.raises(KeyboardInterrupt):
                engine.spread(MANY_CUES, DEEP)
            latency = time.monotonic() - started
        monkeypatch.undo()
        assert latency < 0.5, f"Ctrl-C took {latency:.2f} s"
        assert engine._broken is None, engine._broken


# -- sizes out of range ------------------------------------------------------------


def test_more_actors_than_cores_give_the_reference(small_graph, monkeypatch):
    monkeypatch.setattr(engine_module, "HAND_OVER_CUES", 1)
    assert os.cpu_count() < 64
    with Engine(small_graph, actors=64) as engine:
        processes = list(engine._processes)
        assert len({process.pid for process in processes}) == 64
        assert all(process.is_alive() for process in processes)
        # Three chunks: most actors own none, and still meet at each barrier.
        assert engine.partition.num_chunks < 64
        for cues in ({0: 1.0}, {5: 1.0, 2_999: 0.25}):
            result = engine.spread(cues, CHECK)
            assert result.stats.runner == "engine (64 actors)"
            assert_same(result, reference.spread(small_graph, cues, CHECK))
        names = engine._segments.names
    assert_all_gone(names, processes)


@pytest.mark.parametrize("actors", [0, 5_000, engine_module.MAX_ACTORS + 1])
def test_too_many_actors_are_refused_before_anything_exists(
    small_graph, monkeypatch, actors
):
    def must_not_run(*args, **kwargs):
        raise AssertionError("the engine started building")

    monkeypatch.setattr(engine_module, "_warm_up", must_not_run)
    monkeypatch.setattr(segments.SegmentSet, "create", must_not_run)
    children = psutil.Process().children(recursive=True)
    with pytest.raises(
        ValueError, match=rf"^actors is {actors}; allowed range is \[1, 1024\]$"
    ):
        Engine(small_graph, actors=actors)
    assert psutil.Process().children(recursive=True) == children
    assert segments_of(os.getpid()) == []


def test_a_graph_beyond_32_bit_ids_is_refused():
    too_many = MAX_NODES + 1
    assert MAX_NODES == 2**31 - 1
    for num_nodes in (too_many, np.int64(too_many)):
        with pytest.raises(
            GraphError,
            match=rf"^num_nodes is {too_many}; node ids are 32-bit, at most "
            rf"{MAX_NODES} nodes$",
        ):
            Graph.from_edges([0], [1], num_nodes=num_nodes)
    # CSR arrays of 2**31 + 1 rows, as a zero-stride view of one word.
    indptr = np.lib.stride_tricks.as_strided(
        np.zeros(1, np.int64), shape=(too_many + 1,), strides=(0,)
    )
    with pytest.raises(
        GraphError, match=rf"^{too_many} nodes exceed the limit of {MAX_NODES}$"
    ):
        Graph(indptr, np.zeros(0, np.int32), np.zeros(0, np.float32))
    assert segments_of(os.getpid()) == []
