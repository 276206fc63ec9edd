"""The parallel engine: actor processes spreading over a graph in shared memory.

::

    Engine (driver process)                     actors 0 .. P-1 (forked)
    -----------------------                     ------------------------
    sweep stale segments; cut the graph
    into chunks and shards (by edges);
    create the segments: graph, state, ctl
    fork the actors  ------------------------>  pin to a CPU; copy own shard
                                                into the graph segment (first
                                                touch); clear own node state
                     <------------------------  ready (pid in own line)
    map every page of state and ctl (prefault)
    spread(cues):
      waves run here while they push (inline_waves, the reference's
      kernels); from the first dense enough to pull, or many cues:
      msgpack command -> mailbox,
      COMMAND += 1, futex wake  ------------->  waves, each closed by the
                                                gamma-cycle barrier; results
                                                of each shard written in place
                     <------------------------  DONE += 1, futex wake
      copy the results out of shared memory
    close(): "shutdown"; join; unlink segments

Segments (names ``engram-<driver pid>-<random token>-<part>``, owner-only):

- ``graph``: forward CSR (for push waves) and in-edge CSR (for pull waves
  and the shards), written once by the actors at start-up;
- ``state``: per-node state, activation slots, the frontier and touched
  lists, the results, the cue area (see :mod:`.models.pulse_waves`);
- ``ctl``: control words (:mod:`scheduler.control`), one work-stealing
  deque per actor (:mod:`shm.deque`), the per-wave log and the mailbox.

Only the driver creates and unlinks them. A driver killed outright leaves
them behind; the next engine started on the machine, and ``engram-actors
cleanup``, remove segments whose owner process is gone.
"""

import atexit
import logging
import multiprocessing
import os
import threading
import time
import weakref

import msgpack
import numpy as np

from scheduler import control, placement
from scheduler.partition import partition
from shm import atomics, deque, layout, segments

from . import actor as actor_process
from . import neural_model, reference
from .config import MAX_CYCLES, MAX_WAVES, NeuralConfig, SpreadConfig
from .cues import resolve_cues
from .errors import EngramError
from .graph import Graph
from .models import graph_updates, neural, pulse, pulse_parallel
from .result import SpreadResult, SpreadStats

__all__ = ["ActorDiedError", "Engine", "EngineClosedError"]

log = logging.getLogger(__name__)

#: Largest number of actors an engine takes (the placement plan's limit).
MAX_ACTORS = placement.MAX_ACTORS

#: Least frontier out-edges for a wave to run on the actors instead of in
#: the driver; 0 hands every wave over (for tests and measurements).
#: Beyond this floor a wave goes to the actors only once it is dense enough
#: to pull (``Engine.pull_edges``). Measured with two actors on the 1M-node
#: random graph: a push wave of 920k edges from 92k nodes costs 15 ms on
#: each actor, which reads every frontier row to find its own edges, and
#: 19 ms in the driver; with the hand-over, barriers and chunk lists on
#: top, spreads whose biggest wave pushed on the actors took 1.5 to 2
#: times as long as the same spread in the driver alone. Pull waves split
#: cleanly (see docs/design.md).
HAND_OVER_EDGES = 32_768

#: Cues from which a spread starts on the actors at once.
HAND_OVER_CUES = 16_384

#: A wave pulls (every chunk sums its in-edges) instead of pushing when its
#: frontier has at least this share of the graph's edges. Measured with two
#: actors on 1M-node graphs (one wave from random frontiers): on the random
#: graph owner push and pull cost the same near 10% of the edges (32 and
#: 30 ms) and push is 20% faster at 5%; on the scale-free graph pull wins
#: from 20%. See docs/design.md.
PULL_SHARE = 0.1

#: Ways a sparse wave can push on the actors (see ``Engine``).
PUSH_MODES = ("owner", "shared")

#: The push of a non-deterministic engine, chosen by measurement: see
#: docs/design.md.
DEFAULT_PUSH = "owner"

#: Seconds to wait for actors to start (fork, pin, copy their shard).
START_TIMEOUT_S = 120.0

#: Seconds the driver waits for live actors to give up an aborted spread.
ABORT_TIMEOUT_S = 5.0

#: Seconds between checks that every actor is alive, while a spread runs.
#: The driver sleeps meanwhile; the last actor to finish wakes it.
LIVENESS_CHECK_S = 0.002

MAILBOX_BYTES = 4096

#: New associations the delta holds, as a share of the graph's edges, before
#: the engine merges it into the CSR (at least 1,024 per shard). An eighth
#: keeps the delta rows short beside the base rows they follow, so that
#: spreads slow down little before a merge, while a consolidation adds many
#: thousands of associations before it pays for one.
DELTA_SHARE = 1 / 8

#: Association updates sent to the actors in one command.
UPDATE_BATCH = 1 << 16

#: The delta arrays a spread reads, in the order the kernels take them.
DELTA_FIELDS = ("start", "count", "other", "weight")


def delta_capacity(num_edges, actors):
    """Delta entries an engine reserves in each direction."""
    return max(int(num_edges * DELTA_SHARE), 1024 * actors)


#: The neural model's per-node results, beside nodes, activation, first_hop.
NEURAL_RESULTS = (
    ("spikes", np.int32),
    ("first_spike", np.int32),
    ("last_spike", np.int32),
    ("potential", np.float32),
    ("resources", np.float32),
)

#: Strongest firers each runner keeps a cycle: the largest working memory.
WM_MAX = 9


class EngineClosedError(EngramError, RuntimeError):
    """The engine was closed, or lost an actor and was not restarted."""


class ActorDiedError(EngramError, RuntimeError):
    """An actor process died; the message names it and how it ended."""


def _describe_exit(exitcode):
    if exitcode is None:
        return "is still running"
    if exitcode < 0:
        try:
            import signal

            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"was killed by {name}"
    return f"exited with status {exitcode}"


_warm = False


def _warm_up():
    """Compile (or load from cache) every kernel the engine runs, once per
    process, before forking: the actors inherit them and never compile."""
    global _warm
    if _warm:
        return
    from .graph import Graph

    # A three-node cycle, built without the graph-building kernels (which
    # take longer to load than the engine's).
    graph = Graph(
        np.array([0, 1, 2, 3], np.int64),
        np.array([1, 2, 0], np.int32),
        np.array([1.0, 0.5, 0.25], np.float32),
        validate=False,
    )
    with Engine(graph, actors=1, _fork=False) as engine:
        engine._spread_local(np.array([0], np.int32), np.ones(1, np.float32))
        engine._actor_spread_here(np.array([0], np.uint32), np.ones(1, np.float32))
        cues = (np.array([0], np.int32), np.ones(1, np.float32))
        engine.spread(cues, NeuralConfig(max_cycles=2))
        engine._actor_spread_here(
            np.array([0], np.uint32), np.ones(1, np.float32), NeuralConfig()
        )
        # Changing the graph: an update and a new association.
        engine.associate([0, 1], [1, 1], [0.5, 0.25])
        pulse_parallel.hand_over(
            np.int64(1), engine._shards, engine._work, engine._lists,
            np.int64(0), np.int64(0),
        )  # fmt: skip
        # The kernels the actors call from Python, so that they never load
        # or compile one on their first command.
        words = np.zeros(control.words(1), np.int64)
        control.wait_change(words, control.COMMAND, 0, 0)
        control.wait_at_least(words, control.DONE, 1, 0)
        control.publish(words, control.COMMAND, 0)
        control.add(words, control.DONE, 0)
        control.wake(words, control.DONE, 1)
    _warm = True


def _coerce_config(default, config, **overrides):
    """The config a spread runs with: a NeuralConfig runs the neural
    model, anything else the pulse model (see ``SpreadConfig.coerce``)."""
    if config is None:
        config = default
    if isinstance(config, NeuralConfig):
        return config.replace(**overrides) if overrides else config
    return SpreadConfig.coerce(config, **overrides)


# The neural kernels record no spikes on the engine.
_NO_SPIKE_IDS = np.empty(0, np.uint32)
_NO_SPIKE_STEPS = np.empty(0, np.int64)


_live_engines = weakref.WeakSet()


@atexit.register
def _close_live_engines():
    for engine in list(_live_engines):
        engine.close()


class Engine:
    """Spreads activation over a graph with one actor process per core.

    Parameters
    ----------
    graph : Graph
    actors : int, optional
        Actor processes; by default one per CPU this process may use. More
        actors than cores still give correct results, only slower.
    config : SpreadConfig or dict, optional
        Default model parameters for :meth:`spread`.
    deterministic : bool
        Guarantee results bit-identical to ``reference.spread`` and across
        actor counts: refuses ``push="shared"``, whose atomic adds run in no
        fixed order. With the default push both modes keep the model's
        summation order and give the same bits.
    slot_layout : {"packed", "padded"}
        Per-node activation slots one after another, or one per 64-byte
        cache line (see ``docs/design.md``).
    push : {"owner", "shared"}, optional
        How sparse waves on the actors push. "owner": every actor reads the
        whole frontier and adds only into its own shard, with plain stores
        and in the model's order. "shared": the actors split the frontier
        between them (stealing from each other) and add into any shard
        with atomic float adds; sums then run in no fixed order, so it is
        refused with ``deterministic=True``.

    Raises
    ------
    ConfigError, ShmSpaceError, ValueError
        Before any process starts or segment is left behind.

    Examples
    --------
    >>> from engram_actors import Engine, Graph
    >>> g = Graph.from_edges([0, 1], [1, 2], [1.0, 0.5],
    ...                      labels=["coffee", "cafe", "first date"])
    >>> with Engine(g, actors=2) as engine:
    ...     engine.spread({"coffee": 1.0}, decay=0.5, threshold=0.0).top(3)
    [('coffee', 1.0), ('cafe', 0.5), ('first date', 0.125)]
    """

    def __init__(self, graph, actors=None, config=None, deterministic=False,
                 *, slot_layout="packed", push=None, _fork=True):  # fmt: skip
        self.graph = graph
        self.config = _coerce_config(None, config)
        self.deterministic = bool(deterministic)
        if actors is None:
            actors = placement.usable_cpus()
        if isinstance(actors, bool) or not isinstance(actors, (int, np.integer)):
            raise ValueError(f"actors must be an integer, got {actors!r}")
        if not 1 <= actors <= MAX_ACTORS:
            raise ValueError(f"actors is {actors}; allowed range is [1, {MAX_ACTORS}]")
        self.actors = int(actors)
        if slot_layout not in layout.SLOT_LAYOUTS:
            raise ValueError(
                f"slot_layout is {slot_layout!r}; expected one of "
                f"{', '.join(layout.SLOT_LAYOUTS)}"
            )
        self.slot_layout = slot_layout
        if push is None:
            push = DEFAULT_PUSH
        if push not in PUSH_MODES:
            raise ValueError(
                f"push is {push!r}; expected one of {', '.join(PUSH_MODES)}"
            )
        if push == "shared" and self.deterministic:
            raise ValueError(
                "push='shared' adds with atomics in no fixed order, so it "
                "cannot be deterministic; use push='owner'"
            )
        # How sparse waves on the actors push: "owner" (each actor adds
        # into its own shard only) or "shared" (actors split the frontier
        # and add into any shard with atomics).
        self.push = push
        # Serialises spreads: one spread at a time uses the shared state.
        self._lock = threading.Lock()
        self._processes = []
        self._starting = False
        self._segments = None
        self._broken = None  # why the engine cannot spread, or None
        # Whether the shards may differ from self.graph (an interrupted
        # associate): restart() then rebuilds them.
        self._graph_dirty = False
        self._closed = False
        self._spreads = 0  # spreads run; seeds the actors' victim choice
        self._owner_pid = os.getpid()  # the driver: the only process that spreads
        self._sequence = 0
        # Sequence number of the last command every actor finished: a
        # command is outstanding while the COMMAND word differs from it.
        self._completed = 0
        self._log_read = self._log_write = None
        self._liveness_us = int(LIVENESS_CHECK_S * 1e6)

        self._fork = _fork
        if _fork:
            _warm_up()
            removed = segments.sweep_stale()
            if removed:
                log.info("removed %d stale segment(s): %s", len(removed), removed)
        try:
            self._build()
            if _fork:
                self._start_actors()
            else:
                actor_process.fill_shard(
                    self.arrays, graph, graph.reverse(), 0, graph.num_nodes, True
                )
        except BaseException:
            self.close()
            raise
        _live_engines.add(self)

    # -- set-up ------------------------------------------------------------

    def _build(self):
        graph = self.graph
        reverse = graph.reverse()
        n, m = graph.num_nodes, graph.num_edges
        self.partition = partition(reverse.indptr, self.actors)
        chunks = self.partition.num_chunks
        self.pull_edges = max(int(m * PULL_SHARE), 1)

        graph_layout = layout.Layout()
        for prefix in ("", "in_"):
            graph_layout.add(prefix + "indptr", np.uint64, n + 1)
            graph_layout.add(
                prefix + ("sources" if prefix else "indices"), np.uint32, m
            )
            graph_layout.add(prefix + "weights", np.float32, m)

        # The associations made since the graph was built, one region per
        # shard in each direction (see models/graph_updates.py), and the
        # merged graph's offsets, which give every node's out-degree.
        capacity = delta_capacity(m, self.actors)
        delta_layout = layout.Layout()
        delta_layout.add("degree_ptr", np.uint64, n + 1)
        for prefix in ("d_out_", "d_in_"):
            delta_layout.add(prefix + "start", np.uint32, n)
            delta_layout.add(prefix + "count", np.uint32, n)
            delta_layout.add(prefix + "node", np.uint32, capacity)
            delta_layout.add(prefix + "other", np.uint32, capacity)
            delta_layout.add(prefix + "weight", np.float32, capacity)
        for prefix in ("upd_", "upd_in_"):
            delta_layout.add(prefix + "row", np.uint32, UPDATE_BATCH)
            delta_layout.add(prefix + "other", np.uint32, UPDATE_BATCH)
            delta_layout.add(prefix + "weight", np.float32, UPDATE_BATCH)
        # Region k of each direction: delta_bounds[k] .. delta_bounds[k + 1].
        self.delta_bounds = np.linspace(0, capacity, self.actors + 1).astype(np.int64)
        # Entries used in each region: [shard, 0 forward / 1 in-edge].
        self.delta_used = np.zeros((self.actors, 2), np.int64)

        state_layout = layout.Layout()
        state_layout.add("state", pulse.NODE_STATE, n)
        acc_view = layout.activation_slots(state_layout, "acc", n, self.slot_layout)
        state_layout.add("emit", np.float32, (2, n))
        state_layout.add("fids", np.uint32, (2, n))
        state_layout.add("fout", np.float32, (2, n))
        state_layout.add("touched", np.uint32, n)
        state_layout.add("reached", np.uint32, n)
        state_layout.add("scratch", np.uint32, n)
        state_layout.add("nodes", np.uint32, n)
        state_layout.add("activation", np.float32, n)
        state_layout.add("first_hop", np.int32, n)
        state_layout.add("cue_ids", np.uint32, n)
        state_layout.add("cue_x", np.float32, n)
        # The neural model's records and results (see models/neural_waves).
        state_layout.add("nstate", neural.NEURAL_STATE, n)
        state_layout.add("listed", np.uint8, n)
        for name, dtype in NEURAL_RESULTS:
            state_layout.add(name, dtype, n)

        deque_capacity = 1 << max(int(chunks - 1).bit_length(), 1)
        ctl_layout = layout.Layout()
        ctl_layout.add("ctl", np.int64, control.words(self.actors))
        ctl_layout.add("fcnt", np.int64, (2, chunks))
        ctl_layout.add("tcnt", np.int64, chunks)
        ctl_layout.add("chunk_bounds", np.int64, chunks + 1)
        ctl_layout.add("shard_chunks", np.int64, self.actors + 1)
        ctl_layout.add(
            "deques", np.int64, (self.actors, deque.deque_words(deque_capacity))
        )
        ctl_layout.add("wave_log", np.int64, (MAX_WAVES + 2, 2))
        rows = MAX_CYCLES + 2
        ctl_layout.add("gains", np.float32, rows)
        ctl_layout.add("cycle_log", np.int64, (self.actors, rows, 3))
        ctl_layout.add("wm_ids", np.uint32, (self.actors, rows, WM_MAX))
        ctl_layout.add("wm_out", np.float32, (self.actors, rows, WM_MAX))
        ctl_layout.add("wm_count", np.int64, (self.actors, rows))
        ctl_layout.add("mailbox", np.uint8, MAILBOX_BYTES)

        self._segments = segments.SegmentSet()
        sizes = {
            "graph": graph_layout.nbytes,
            "delta": delta_layout.nbytes,
            "state": state_layout.nbytes,
            "ctl": ctl_layout.nbytes,
        }
        self._segments.reserve(sizes)
        arrays = {}
        for part, part_layout in (
            ("graph", graph_layout),
            ("delta", delta_layout),
            ("state", state_layout),
            ("ctl", ctl_layout),
        ):
            segment = self._segments.create(part, sizes[part])
            arrays.update(part_layout.bind(segment.buf))
        arrays["acc_view"] = acc_view(arrays)
        self.arrays = arrays

        arrays["chunk_bounds"][:] = self.partition.chunk_bounds
        arrays["shard_chunks"][:] = self.partition.shard_chunks
        for k in range(self.actors):
            deque.init(arrays["deques"][k], deque_capacity)
        self.ctl = arrays["ctl"]
        self.control = control.Control(self.ctl, self.actors)

        a = arrays
        a["degree_ptr"][:] = graph.indptr
        self._graph_arrays = (
            a["indptr"], a["indices"], a["weights"],
            a["in_indptr"], a["in_sources"], a["in_weights"], a["degree_ptr"],
            tuple(a["d_out_" + name] for name in DELTA_FIELDS),
            tuple(a["d_in_" + name] for name in DELTA_FIELDS),
        )  # fmt: skip
        self._shards = (a["chunk_bounds"], a["shard_chunks"])
        self._work = (
            a["state"], a["acc_view"], a["emit"], a["fids"], a["fout"],
            a["fcnt"], a["touched"], a["tcnt"], a["reached"], a["scratch"],
        )  # fmt: skip
        self._result = (a["nodes"], a["activation"], a["first_hop"])
        # The graph as the driver reads it for the waves it runs itself: its
        # own arrays, already in its page tables (and on 2 MiB pages where
        # the kernel gives them), not the actors' copy in shared memory.
        self._driver_graph = graph.kernel_arrays()
        # The driver's own logs of the neural cycles it runs itself.
        self._neural_logs = neural_model.NeuralLogs(WM_MAX)
        self._block = neural.new_block()
        # The driver's own compact lists for the waves it runs itself:
        # touched nodes, frontier and what it emits, reached, sort scratch.
        self._lists = (
            np.empty(n, np.uint32),
            np.empty(n, np.uint32),
            np.empty(n, np.float32),
            np.empty(n, np.uint32),
            np.empty(n, np.uint32),
        )

    def _start_actors(self):
        self._starting = True
        try:
            self._start_actors_now()
        finally:
            self._starting = False

    def _start_actors_now(self):
        self.plan = placement.plan(self.actors)
        context = multiprocessing.get_context("fork")
        self._log_read, self._log_write = os.pipe()
        os.set_blocking(self._log_read, False)
        parent = os.getpid()
        a = self.arrays
        for k in range(self.actors):
            process = context.Process(
                target=actor_process.main,
                name=f"engram-actor-{k}",
                args=(
                    k, self.actors, self.plan, parent, a, self._work,
                    self._graph_arrays, self._shards, self._result, self.ctl,
                    a["deques"], a["wave_log"], a["mailbox"], self.graph,
                    self._log_write,
                ),
                daemon=True,
            )  # fmt: skip
            process.start()
            self._processes.append(process)
        deadline = time.monotonic() + START_TIMEOUT_S
        for k in range(self.actors):
            word = control.actor_word(k, control.A_PID)
            while self.ctl[word] == 0:
                self._check_actors()
                if time.monotonic() > deadline:
                    raise EngramError(
                        f"actor {k} did not start within {START_TIMEOUT_S:.0f} s"
                    )
                control.wait_at_least(self.ctl, word, 1, 10_000)
        # The actors filled the segments; map every page into the driver
        # too, so that its first spreads over a large graph do not stop at
        # a page fault for each node they touch.
        for part in ("delta", "state", "ctl"):
            self._segments[part].prefault(write=True)
        self._drain_logs()
        log.debug("engine started: %d actors, %d chunks", self.actors,
                  self.partition.num_chunks)  # fmt: skip

    # -- spreading ---------------------------------------------------------

    def spread(self, cues, config=None, **overrides):
        """Spread activation from cues; the same result as the reference.

        Parameters
        ----------
        cues : mapping or (ids, activation) pair
            Node id or label to initial activation.
        config : SpreadConfig, NeuralConfig or dict, optional
            Defaults to the engine's config; fields may also be given as
            keyword arguments. A NeuralConfig runs the neural model.

        Returns
        -------
        SpreadResult, or NeuralResult for the neural model
            ``stats.runner`` says where the waves ran; ``stats.counters``
            holds each actor's counters for this spread.

        Raises
        ------
        UnknownNodeError, CueError, ConfigError
            Before any state is touched.
        ActorDiedError
            An actor died during the spread; :meth:`restart` or
            :meth:`close` the engine.
        """
        started = time.perf_counter()
        config = _coerce_config(self.config, config, **overrides)
        cue_ids, cue_x = resolve_cues(self.graph, cues)
        with self._lock:
            self._check_open()
            if isinstance(config, NeuralConfig):
                return self._spread_neural(cue_ids, cue_x, config, started)
            reference.check_pulse_weights(self.graph)
            return self._spread_locked(cue_ids, cue_x, config, started)

    def _spread_local(self, cue_ids, cue_x):
        """Warm-up spread on an engine without actors."""
        return self._spread_locked(cue_ids, cue_x, self.config, time.perf_counter())

    def _actor_spread_here(self, cue_ids, cue_x, config=None):
        """Run the actors' kernel for one actor in this process (warm-up)."""
        a = self.arrays
        count = len(cue_ids)
        a["cue_ids"][:count] = cue_ids
        a["cue_x"][:count] = cue_x
        config = self.config if config is None else config
        if isinstance(config, NeuralConfig):
            a["gains"][: config.max_cycles + 2] = neural_model.gains_of(config)
        model, cells = actor_process.model_and_cells(config, a, 0)
        pulse_parallel.actor_spread(
            0, 1, self.ctl, a["deques"], self._graph_arrays, self._shards,
            self._work, self._result, model, a["cue_ids"][:count],
            a["cue_x"][:count], np.int64(0), np.int64(0),
            np.int64(0), np.int64(self.pull_edges), False, a["wave_log"],
            cells,
        )  # fmt: skip

    def _spread_locked(self, cue_ids, cue_x, config, started):
        self._spreads += 1
        model = pulse_parallel.model_of(config)
        wave_log = self.arrays["wave_log"]
        parallel = bool(self._processes) and len(cue_ids) >= HAND_OVER_CUES
        try:
            if parallel:
                self.arrays["cue_ids"][: len(cue_ids)] = cue_ids
                self.arrays["cue_x"][: len(cue_ids)] = cue_x
                self._run_actors(0, control.STOP, config, len(cue_ids))
            else:
                a = self.arrays
                lists = self._lists
                indptr, indices, weights = self._driver_graph
                status, wave, fired, fire_edges, touched = (
                    pulse_parallel.inline_waves(
                        indptr, indices, weights, a["state"],
                        a["acc_view"], lists[0], lists[1], lists[2], lists[3],
                        lists[4], *model, cue_ids.view(np.uint32), cue_x,
                        self._hand_over_edges(),
                        wave_log,
                    )
                )  # fmt: skip
                if status == pulse_parallel.HAND_OVER:
                    parallel = True
                    wave_log[wave] = (fired, fire_edges)
                    pulse_parallel.hand_over(
                        wave, self._shards, self._work, self._lists, fired, touched
                    )
                    mode = (
                        control.SHARED_PUSH if self.push == "shared" else control.PUSH
                    )
                    if fire_edges >= self.pull_edges:
                        mode = control.PULL
                    if mode != control.PUSH:
                        self._load_deques()
                    self._run_actors(wave, mode, config, 0)
                else:
                    waves = int(wave) - 1
                    touched = int(
                        pulse_parallel.gather_inline(
                            a["state"], lists[0], lists[4], touched,
                            a["nodes"], a["activation"], a["first_hop"],
                        )
                    )  # fmt: skip
            if parallel:
                waves = int(self.ctl[control.LAST_WAVE])
                touched = int(self.ctl[control.TOUCHED])
        except BaseException:
            # Interrupted (Ctrl-C) or failed part-way: the shared state may
            # hold half a spread. Clear it all before anything else runs.
            self._abandon_spread()
            raise
        return self._result_of(touched, waves, config, started, parallel)

    def _spread_neural(self, cue_ids, cue_x, config, started):
        """A neural spread: cycles in the driver while they are small, on
        the actors from the first dense enough to pull (as for the pulse
        model)."""
        self._spreads += 1
        a = self.arrays
        rows = config.max_cycles + 2
        dynamics = neural_model.dynamics_of(config)
        a["gains"][:rows] = neural_model.gains_of(config)
        logs = self._neural_logs
        neural_model.clear_logs(logs.cycle_log, logs.wm_count, rows)
        wave_log = a["wave_log"]
        wave_log[:rows] = 0
        parallel = bool(self._processes) and len(cue_ids) >= HAND_OVER_CUES
        try:
            if parallel:
                a["cue_ids"][: len(cue_ids)] = cue_ids
                a["cue_x"][: len(cue_ids)] = cue_x
                self._clear_actor_logs(rows)
                self._run_actors(0, control.STOP, config, len(cue_ids))
            else:
                lists = self._lists
                indptr, indices, weights = self._driver_graph
                status, cycle, count, fire_edges, touched, _ = neural.run_cycles(
                    indptr, indices, weights, cue_ids.view(np.uint32), cue_x,
                    config.max_cycles, dynamics, a["gains"][:rows],
                    a["acc_view"], lists[2][:0], a["state"], a["nstate"],
                    a["listed"], lists[0], lists[1], lists[2], lists[3],
                    lists[4], self._block, logs.cycle_log, logs.wm_ids,
                    logs.wm_out, logs.wm_count, wave_log, 2**62,
                    self._hand_over_edges(), False, _NO_SPIKE_IDS,
                    _NO_SPIKE_STEPS,
                )  # fmt: skip
                if status == neural.HAND_OVER:
                    parallel = True
                    wave_log[cycle] = (count, fire_edges)
                    pulse_parallel.hand_over(
                        cycle, self._shards, self._work, lists, count, touched
                    )
                    mode = control.PUSH
                    if fire_edges >= self.pull_edges:
                        mode = control.PULL
                        self._load_deques()
                    self._clear_actor_logs(rows)
                    self._run_actors(cycle, mode, config, 0)
                else:
                    cycles = int(cycle) - 1
                    nodes = pulse.touched_ascending(
                        a["state"], lists[0], touched, lists[4]
                    ).view(np.int32)
                    raw = neural_model.empty_raw(nodes)
                    neural.gather_and_clear(
                        nodes, a["state"], a["nstate"],
                        (cycles + 1) * config.steps_per_cycle, dynamics,
                        *raw[1:],
                    )  # fmt: skip
            if parallel:
                cycles = int(self.ctl[control.LAST_WAVE])
                touched = int(self.ctl[control.TOUCHED])
                raw = (a["nodes"][:touched].view(np.int32).copy(),) + tuple(
                    a[name][:touched].copy()
                    for name in ("activation", "first_hop")
                    + tuple(name for name, _ in NEURAL_RESULTS)
                )
        except BaseException:
            self._abandon_spread()
            raise
        runner_logs = [(logs.cycle_log, logs.wm_ids, logs.wm_out, logs.wm_count)]
        counters = {}
        if parallel:
            runner_logs += [
                (a["cycle_log"][k], a["wm_ids"][k], a["wm_out"][k], a["wm_count"][k])
                for k in range(self.actors)
            ]
            counters = self._counters()
        stats_fields = {
            "wall_time_s": time.perf_counter() - started,
            "runner": self._runner(parallel),
            "counters": counters,
        }
        return neural_model.neural_result(
            raw, config, cycles, runner_logs, wave_log[1 : cycles + 1],
            stats_fields, self.graph.labels,
        )  # fmt: skip

    def _clear_actor_logs(self, rows):
        a = self.arrays
        a["cycle_log"][:, :rows] = 0
        a["wm_count"][:, :rows] = 0

    def _runner(self, parallel):
        if parallel:
            return f"engine ({self.actors} actors)"
        return "engine (driver)"

    def _counters(self):
        rate = atomics.cycles_per_second()
        return {f"actor{k}": self.control.counters(k, rate) for k in range(self.actors)}

    # -- changing the graph ------------------------------------------------

    def associate(self, sources, targets, weights):
        """Set the weights of associations, creating those that do not exist.

        The change is in place for every later spread. Associations the
        graph has change weight in the shards where they live, written by
        the actors that own them; new ones go into each shard's delta,
        which spreads read beside the CSR. When a delta runs out of room
        the engine merges it into a new CSR (restarting its actors once).

        Parameters
        ----------
        sources, targets : array_like of int
            The associations ``sources[i] -> targets[i]``, each pair once.
        weights : array_like of float
            Their new weights: finite, and non-negative unless the graph is
            signed. Of parallel edges, the first takes the weight.

        Returns
        -------
        dict
            ``updated`` (associations that existed), ``created``, and
            ``merged`` (whether the delta was merged into the CSR).

        Raises
        ------
        UnknownNodeError, GraphError
            Before anything changes.
        """
        src, dst, weight = self._checked_updates(sources, targets, weights)
        with self._lock:
            self._check_open()
            try:
                return self._associate_locked(src, dst, weight)
            except BaseException:
                # The shards may hold part of the change and the driver's
                # graph none of it: refuse to spread until a restart
                # rebuilds the shards from the graph as it was.
                self._abandon_spread()
                self._graph_dirty = True
                if self._broken is None:
                    self._broken = "interrupted while changing the graph"
                raise

    def _checked_updates(self, sources, targets, weights):
        from .errors import GraphError, UnknownNodeError

        src = np.asarray(sources)
        dst = np.asarray(targets)
        weight = np.asarray(weights, np.float64)
        if not (src.ndim == dst.ndim == weight.ndim == 1) or not (
            src.size == dst.size == weight.size
        ):
            raise GraphError(
                "sources, targets and weights must be one-dimensional and of one "
                f"length, got shapes {src.shape}, {dst.shape}, {weight.shape}"
            )
        n = self.graph.num_nodes
        for name, ids in (("sources", src), ("targets", dst)):
            if ids.size and ids.dtype.kind not in "iu":
                raise GraphError(f"{name} must be integer node ids, got {ids.dtype}")
            bad = (ids < 0) | (ids >= n)
            if bad.any():
                at = int(np.flatnonzero(bad)[0])
                raise UnknownNodeError(
                    f"{name}[{at}] is {ids[at]}; the graph has nodes 0 .. {n - 1}"
                )
        low = -np.inf if self.graph.signed else 0.0
        bad = ~(np.isfinite(weight) & (weight >= low))
        if bad.any():
            at = int(np.flatnonzero(bad)[0])
            rule = "finite" if self.graph.signed else "finite and >= 0"
            raise GraphError(f"weights[{at}] is {weight[at]}; weights must be {rule}")
        src = src.astype(np.int64)
        dst = dst.astype(np.int64)
        order = np.lexsort((dst, src))
        src, dst = src[order], dst[order]
        repeated = (src[1:] == src[:-1]) & (dst[1:] == dst[:-1])
        if repeated.any():
            at = int(np.flatnonzero(repeated)[0])
            raise GraphError(f"the association {src[at]} -> {dst[at]} is given twice")
        with np.errstate(over="ignore"):
            weight32 = weight[order].astype(np.float32)
        if not np.isfinite(weight32).all():
            raise GraphError("a weight overflows float32")
        return src, dst, weight32

    def _associate_locked(self, src, dst, weight):
        graph = self.graph
        found = np.empty(src.size, np.int64)
        updated = int(
            graph_updates.find_edges(graph.indptr, graph.indices, src, dst, found)
        )
        merged = self._graph_like(
            *graph_updates.merged_csr(
                graph.indptr, graph.indices, graph.weights, src, dst, weight, found
            )
        )
        a = self.arrays
        shard_nodes = a["chunk_bounds"][a["shard_chunks"]]
        in_order = np.lexsort((src, dst))
        new = np.stack(
            [
                graph_updates.new_pairs_per_range(src, found, shard_nodes),
                graph_updates.new_pairs_per_range(
                    dst[in_order], found[in_order], shard_nodes
                ),
            ],
            axis=1,
        )
        room = np.diff(self.delta_bounds)[:, None]
        report = {"updated": updated, "created": src.size - updated, "merged": False}
        if ((self.delta_used + new) > room).any():
            log.debug("merging the delta into the CSR (%d edges)", merged.num_edges)
            self._replace_graph(merged)
            report["merged"] = True
            return report
        for first in range(0, src.size, UPDATE_BATCH):
            last = min(first + UPDATE_BATCH, src.size)
            self._send_updates(src[first:last], dst[first:last], weight[first:last])
        self.delta_used += new
        a["degree_ptr"][:] = merged.indptr
        self.graph = merged
        self._driver_graph = merged.kernel_arrays()
        return report

    def _graph_like(self, indptr, indices, weights):
        """A graph with this one's labels and sign over new arrays."""
        graph = Graph(
            indptr, indices, weights, validate=False, signed=self.graph.signed
        )
        graph.labels = self.graph.labels
        graph._label_index = self.graph._label_index
        return graph

    def _send_updates(self, src, dst, weight):
        """Have each shard's owner apply one batch of updates (sorted)."""
        a = self.arrays
        count = src.size
        a["upd_row"][:count] = src
        a["upd_other"][:count] = dst
        a["upd_weight"][:count] = weight
        order = np.lexsort((src, dst))
        a["upd_in_row"][:count] = dst[order]
        a["upd_in_other"][:count] = src[order]
        a["upd_in_weight"][:count] = weight[order]
        message = {
            "op": "associate",
            "count": int(count),
            "regions": self.delta_bounds.tolist(),
            "used": self.delta_used.tolist(),
        }
        if not self._processes:
            bounds = a["chunk_bounds"][a["shard_chunks"]]
            for k in range(self.actors):
                lo, hi = int(bounds[k]), int(bounds[k + 1])
                if actor_process.apply_updates(a, k, lo, hi, message) < 0:
                    raise EngramError(f"shard {k}'s delta overflowed")
            return
        for index in (control.DONE,):
            self.ctl[index] = 0
        self._send(msgpack.packb(message))
        self._wait_done()
        self._completed = self._sequence
        for k in range(self.actors):
            if self.control.actor(k, control.A_STATUS) != control.STATUS_OK:
                raise EngramError(f"actor {k} could not apply the updates")

    def _replace_graph(self, graph):
        """Serve ``graph`` instead: new segments, actors started afresh."""
        self._stop_actors()
        if self._processes:
            raise EngramError(
                f"could not stop actor processes {[p.pid for p in self._processes]}"
            )
        if self._segments is not None:
            self._segments.close()
            self._segments = None
        self.graph = graph
        self._sequence = 0
        self._completed = 0
        self._broken = None
        self._build()
        if self._fork:
            self._start_actors()
        else:
            actor_process.fill_shard(
                self.arrays, graph, graph.reverse(), 0, graph.num_nodes, True
            )

    def _hand_over_edges(self):
        """Frontier out-edges from which a wave goes to the actors."""
        if not self._processes:
            return 2**62
        if HAND_OVER_EDGES <= 0:
            return 0
        return max(HAND_OVER_EDGES, self.pull_edges)

    def _load_deques(self):
        """Give each actor its own chunks to pull (actors are idle)."""
        chunks = self.arrays["shard_chunks"]
        for k in range(self.actors):
            first = chunks[k]
            deque.fill(self.arrays["deques"][k], first, chunks[k + 1] - first)

    def _run_actors(self, wave, mode, config, cues):
        """Hand the spread to the actors from ``wave`` and wait for them."""
        ctl = self.ctl
        for index in (control.ARRIVALS, control.GENERATION, control.DONE,
                      control.MODE, control.TOUCHED, control.LAST_WAVE):  # fmt: skip
            ctl[index] = 0
        self.control.reset_counters()
        for k in range(self.actors):
            ctl[control.actor_word(k, control.A_CLAIMED)] = 0
        is_neural = isinstance(config, NeuralConfig)
        message = msgpack.packb(
            {
                "op": "spread",
                "wave": int(wave),
                "mode": int(mode),
                "seed": self._spreads,
                "cues": int(cues),
                "config": config.to_dict(),
                "neural": is_neural,
                "pull_edges": self.pull_edges,
                # The neural model pushes by owner: with inhibitory weights
                # a slot can return to zero, which the claim of a shared
                # push cannot tell from an untouched one.
                "shared_push": self.push == "shared" and not is_neural,
            }
        )
        self._send(message)
        self._wait_done()
        self._completed = self._sequence
        for k in range(self.actors):
            if self.control.actor(k, control.A_STATUS) != control.STATUS_OK:
                raise EngramError(f"actor {k} did not finish the spread")

    def _send(self, message):
        if len(message) > MAILBOX_BYTES:
            raise EngramError(f"command of {len(message)} bytes exceeds the mailbox")
        self.arrays["mailbox"][: len(message)] = np.frombuffer(message, np.uint8)
        self.ctl[control.MESSAGE_BYTES] = len(message)
        self._sequence += 1
        control.publish(self.ctl, control.COMMAND, self._sequence)
        control.wake(self.ctl, control.COMMAND, self.actors)

    def _wait_done(self):
        while True:
            done = control.wait_at_least(
                self.ctl, control.DONE, self.actors, self._liveness_us
            )
            if done >= self.actors:
                return
            self._check_actors()

    def _check_actors(self):
        """Raise ActorDiedError if an actor has exited."""
        for k, process in enumerate(self._processes):
            if process.exitcode is not None:
                self._drain_logs()
                how = _describe_exit(process.exitcode)
                message = f"actor {k} (pid {process.pid}) {how}"
                log.critical("%s; stopping the engine", message)
                self._broken = message
                self._stop_actors()
                if self._starting:
                    raise ActorDiedError(f"{message} while the engine was starting")
                raise ActorDiedError(
                    f"{message}; the engine has stopped: call restart() or close()"
                )

    def _abandon_spread(self):
        """Stop the actors' part of a spread and clear the shared state."""
        outstanding = int(self.ctl[control.COMMAND]) != self._completed
        if self._processes and self._broken is None and outstanding:
            self.ctl[control.ABORT] = 1
            deadline = time.monotonic() + ABORT_TIMEOUT_S
            while self.ctl[control.DONE] < self.actors and time.monotonic() < deadline:
                if any(p.exitcode is not None for p in self._processes):
                    break
                control.wait_at_least(
                    self.ctl, control.DONE, self.actors, self._liveness_us
                )
            if self.ctl[control.DONE] < self.actors:
                self._broken = "actors did not give up an aborted spread in time"
                self._stop_actors()
            else:
                self._completed = int(self.ctl[control.COMMAND])
            self.ctl[control.ABORT] = 0
        self._clear_state()

    def _clear_state(self):
        a = self.arrays
        actor_process.clear_nodes(a, 0, self.graph.num_nodes)
        a["tcnt"][:] = 0
        a["fcnt"][:] = 0

    def _result_of(self, touched, waves, config, started, parallel):
        a = self.arrays
        nodes = a["nodes"][:touched].view(np.int32).copy()
        activation = a["activation"][:touched].copy()
        first_hop = a["first_hop"][:touched].copy()
        if config.max_activation is not None:
            # A cap beyond float32's range is no cap: it casts to infinity.
            with np.errstate(over="ignore"):
                cap = np.float32(config.max_activation)
            np.minimum(activation, cap, out=activation)
        log_rows = a["wave_log"][1 : waves + 1]
        fired = log_rows[:, 0]
        stats = SpreadStats(
            waves=int(waves),
            edges_traversed=int(log_rows[:, 1].sum()),
            nodes_fired=int(fired.sum()),
            fired_per_wave=tuple(fired.tolist()),
            wall_time_s=time.perf_counter() - started,
            runner=self._runner(parallel),
            counters=self._counters() if parallel else {},
        )
        return SpreadResult(nodes, activation, first_hop, stats, self.graph.labels)

    # -- life cycle --------------------------------------------------------

    def _check_open(self):
        if os.getpid() != self._owner_pid:
            # A forked child shares the segments but not the actors' command
            # channel or the driver's lists; spreading from it would corrupt
            # the state the owner's spreads rely on.
            raise EngramError(
                f"this engine belongs to process {self._owner_pid}; a child "
                f"process (pid {os.getpid()}) cannot use it: create an Engine "
                f"in the child instead"
            )
        if self._closed:
            raise EngineClosedError("the engine is closed")
        if self._broken is not None:
            raise EngineClosedError(
                f"the engine has stopped ({self._broken}): call restart() or close()"
            )

    def restart(self):
        """Start fresh actors (after one died); the graph stays in place."""
        with self._lock:
            if self._closed:
                raise EngineClosedError("the engine is closed")
            if self.delta_used.any() or self._graph_dirty:
                # The segments hold the graph as built plus a delta, or part
                # of an interrupted change: start afresh from the graph.
                self._replace_graph(self.graph)
                self._graph_dirty = False
                return
            self._stop_actors()
            if self._processes:
                raise EngramError(
                    f"could not stop actor processes {[p.pid for p in self._processes]}"
                )
            self._clear_state()
            self.ctl[:] = 0
            for k in range(self.actors):
                deque.init(
                    self.arrays["deques"][k], deque.capacity(self.arrays["deques"][k])
                )
            self._sequence = 0
            self._completed = 0
            self._broken = None
            self._start_actors()

    def _stop_actors(self):
        """Ask the actors to exit; kill those that do not within a second.

        The handles stay in ``self._processes`` until each process is gone,
        so that an interruption here (a second Ctrl-C) leaves them to the
        next :meth:`close` or :meth:`restart` instead of orphaning them.
        """
        processes = list(self._processes)
        try:
            if any(p.exitcode is None for p in processes):
                try:
                    # Survivors may be waiting at a barrier for a dead peer:
                    # the ABORT word gets them back to reading commands.
                    self.ctl[control.ABORT] = 1
                    self._send(msgpack.packb({"op": "shutdown"}))
                except Exception:  # the mailbox may be gone; killing works
                    pass
            deadline = time.monotonic() + 1.0
            for process in processes:
                process.join(max(deadline - time.monotonic(), 0.01))
            for process in processes:
                if process.exitcode is None:
                    process.kill()
                    process.join(5.0)
        finally:
            self._processes = [p for p in processes if p.exitcode is None]
        if self._processes:
            return  # interrupted: keep the log pipe for the next attempt
        self._drain_logs()
        for fd in (self._log_read, self._log_write):
            if fd is not None:
                os.close(fd)
        self._log_read = self._log_write = None

    def _drain_logs(self):
        """Re-emit the actors' log records through the driver's logging."""
        if self._log_read is None:
            return
        unpacker = msgpack.Unpacker(max_buffer_size=1 << 20)
        while True:
            try:
                chunk = os.read(self._log_read, 65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            unpacker.feed(chunk)
        for actor, level, name, message in unpacker:
            logging.getLogger(name).log(level, "[actor %d] %s", actor, message)

    def close(self):
        """Stop the actors and unlink the segments. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if os.getpid() != self._owner_pid:
            # A forked copy of the engine: the actors, their log pipe and the
            # segments are the owner's. Close this process's copies only.
            self._processes = []
            for fd in (self._log_read, self._log_write):
                if fd is not None:
                    os.close(fd)
            self._log_read = self._log_write = None
        try:
            self._stop_actors()
        finally:
            if self._segments is not None:
                self.arrays = None
                self._graph_arrays = self._shards = self._work = None
                self._result = self.ctl = self.control = self._lists = None
                self._driver_graph = None
                self._segments.close()
        _live_engines.discard(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __del__(self):
        try:
            if not self._closed and self._processes is not None:
                self.close()
        except Exception:
            pass

    def __repr__(self):
        state = "closed" if self._closed else ("stopped" if self._broken else "running")
        return (
            f"Engine({self.graph.num_nodes} nodes, {self.actors} actors, "
            f"{self.partition.num_chunks} chunks, {state})"
        )
