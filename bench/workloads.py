"""The workloads: what is timed, how often, and what each record holds.

For one graph (a topology at a size) :func:`measure_graph` runs, in order:

1. build: generating the graph, then each system's conversion of it into
   its own structure (``prepare``);
2. full wave: every node fires once with activation 1; edges per second;
3. recall: 10 random cues, 3 waves, the threshold bisected so that the
   reference touches about 1,000 nodes; latency per cue set;
4. neural recall: the neural model (integrate-and-fire nodes, refractory
   periods, fatigue, theta gating; ``systems.NEURAL_RECALL``, the documented
   defaults) from 10 random cues of activation 1 (at most
   ``NEURAL_CUE_SETS`` sets); latency per cue set, with nodes touched,
   spikes and edges traversed;
5. io: saving the graph as npz and loading it back, read and memory-mapped.

All systems see the same graph, the same cue sets and the same threshold,
in one process, so their ratios hold while the shared machine's speed
drifts. A system that cannot run a workload gets a record that says why.
"""

import logging
import statistics
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
from records import PeakRss, make_record
from systems import NEURAL_RECALL, RECALL_HOPS

from engram_actors import SpreadConfig, generators, io, reference

__all__ = ["Options", "calibrate_threshold", "cue_sets", "measure_graph"]

log = logging.getLogger(__name__)

AVG_DEGREE = 10  # edges per node in every generated graph
RECALL_CUES = 10  # cues per recall
RECALL_TARGET = 1000  # nodes a median recall of the reference should touch
CALIBRATION_SETS = 40  # cue sets the threshold bisection looks at
CALIBRATION_STEPS = 20  # bisection steps: the threshold to about 1e-6
LATENCY_CHUNKS = 5  # recall's spread: the p50 of each fifth of the cue sets
WARMUP_SPREADS = 3  # untimed recalls per system first (JIT, caches)
SLOW_SYSTEM_REPEATS = 3  # most full-wave repeats for a pure-Python system
#: Most cue sets of a neural recall. From 10 cues the neural model lights
#: up to 40% of a 1e6-node scale-free graph (50 to 180 ms a recall), so
#: 1,000 sets on three runners would add minutes to every run.
NEURAL_CUE_SETS = 200


class Options:
    """How much to measure.

    Parameters
    ----------
    repeats : int
        Timed runs of a full wave, a save and a load; the median is kept.
    cue_sets : int
        Recall cue sets (latencies) per system and graph.
    workloads : tuple of str
        Which of ``build``, ``full_wave``, ``recall``, ``neural_recall`` and
        ``io`` to run.
    """

    def __init__(self, repeats=5, cue_sets=1000, workloads=None):
        self.repeats = repeats
        self.cue_sets = cue_sets
        self.workloads = tuple(
            workloads or ("build", "full_wave", "recall", "neural_recall", "io")
        )


def cue_sets(num_nodes, count, seed):
    """``count`` sorted int32 arrays of distinct random cue ids."""
    rng = np.random.default_rng(seed)
    cues = min(RECALL_CUES, num_nodes)
    return [
        np.sort(rng.choice(num_nodes, cues, replace=False)).astype(np.int32)
        for _ in range(count)
    ]


def calibrate_threshold(graph, target=RECALL_TARGET):
    """Bisect the threshold so that the reference's median recall touches
    about ``target`` nodes (as ``bench/reference_speed.py`` does)."""
    sample = cue_sets(graph.num_nodes, CALIBRATION_SETS, seed=99)
    ones = np.ones(RECALL_CUES, np.float32)
    low, high = 0.0, 1.0
    for _ in range(CALIBRATION_STEPS):
        middle = (low + high) / 2
        config = SpreadConfig(threshold=middle, max_hops=RECALL_HOPS)
        touched = [
            len(reference.spread(graph, (c, ones[: c.size]), config)) for c in sample
        ]
        if np.median(touched) > target:
            low = middle
        else:
            high = middle
    return high


def _timed(function, repeats):
    """Wall times of ``repeats`` calls of ``function``, in seconds."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return times


def _failed(error):
    log.debug("measurement failed:\n%s", traceback.format_exc())
    return {"status": "error", "reason": f"{type(error).__name__}: {error}"}


def measure_graph(topology, n, systems, options, progress=None):
    """Every record for one graph: build, full wave, recall, neural recall
    and io.

    Parameters
    ----------
    topology : str
        One of ``engram_actors.generators.TOPOLOGIES``.
    n : int
        Nodes.
    systems : list of systems.System
    options : Options
    progress : callable, optional
        Called with a short label before each step.

    Returns
    -------
    list of dict
    """
    step = progress or (lambda label: None)
    records = []
    step(f"{topology} n={n:.0e}: generate")
    with PeakRss() as rss:
        started = time.perf_counter()
        graph = generators.generate(topology, n, avg_degree=AVG_DEGREE, seed=0)
        seconds = time.perf_counter() - started
    shape = (topology, graph.num_nodes, graph.num_edges)
    if "build" in options.workloads:
        records.append(
            make_record(
                "build",
                *shape,
                "engram-actors",
                variant="generate",
                seconds=seconds,
                value_min=seconds,
                value_max=seconds,
                peak_rss_mb=rss.mb,
                repeats=1,
                note=f"generators.generate(avg_degree={AVG_DEGREE}, seed=0)",
            )
        )

    ready = []
    for system in systems:
        step(f"{topology} n={n:.0e}: prepare {system.name}")
        blocked = _blocked(system, graph)
        if blocked:
            records.extend(_not_run(system, shape, options.workloads, **blocked))
            continue
        fields = _prepare(system, graph)
        if "build" in options.workloads and system.name not in (
            "reference",
            "reference-kernel",
        ):
            records.append(_record("build", shape, system, variant="convert", **fields))
        if fields.get("status") == "error":
            records.extend(_not_run(system, shape, SPREADS, **_reason(fields)))
        else:
            ready.append(system)

    try:
        if "full_wave" in options.workloads:
            for system in ready:
                step(f"{topology} n={n:.0e}: full wave {system.name}")
                records.append(_full_wave(system, shape, options))
        if "recall" in options.workloads:
            records.extend(_recall_all(graph, shape, ready, options, step))
        if "neural_recall" in options.workloads:
            count = min(options.cue_sets, NEURAL_CUE_SETS)
            cues = cue_sets(graph.num_nodes, count, seed=2)
            for system in ready:
                step(f"{topology} n={n:.0e}: neural recall {system.name}")
                records.append(_neural_recall(system, shape, cues))
    finally:
        for system in ready:
            system.close()

    if "io" in options.workloads:
        step(f"{topology} n={n:.0e}: save and load")
        records.extend(_io(graph, shape, options))
    return records


def _reason(fields):
    return {"status": fields["status"], "reason": fields["reason"]}


def _record(workload, shape, system, **fields):
    fields.setdefault("note", system.note or None)
    return make_record(workload, *shape, system.name, actors=system.actors, **fields)


def _blocked(system, graph):
    reason = system.availability()
    if reason:
        return {"status": "unavailable", "reason": reason}
    if system.max_nodes is not None and graph.num_nodes > system.max_nodes:
        return {
            "status": "skipped",
            "reason": f"run on graphs of at most {system.max_nodes:,} nodes "
            f"({system.skip_reason})",
        }
    return None


#: The workloads that run through a system's adapter.
SPREADS = ("full_wave", "recall", "neural_recall")


def _not_run(system, shape, workloads, status, reason):
    return [
        _record(workload, shape, system, status=status, reason=reason)
        for workload in SPREADS
        if workload in workloads
    ]


def _prepare(system, graph):
    try:
        with PeakRss() as rss:
            started = time.perf_counter()
            system.prepare(graph)
            seconds = time.perf_counter() - started
    except Exception as error:  # a system's failure is a record, not a crash
        return _failed(error)
    return {
        "seconds": seconds,
        "value_min": seconds,
        "value_max": seconds,
        "peak_rss_mb": rss.mb,
        "repeats": 1,
    }


def _full_wave(system, shape, options):
    reason = system.unsupported.get("full_wave")
    if reason:
        return _record("full_wave", shape, system, status="unsupported", reason=reason)
    repeats = options.repeats
    if system.name == "networkx":
        repeats = min(repeats, SLOW_SYSTEM_REPEATS)
    try:
        with PeakRss() as rss:
            wave, edges = system.full_wave()
            wave()  # warm: compilation, caches, first-touch of buffers
            times = _timed(wave, repeats)
    except Exception as error:
        return _record("full_wave", shape, system, **_failed(error))
    median = statistics.median(times)
    fields = {
        "edges_per_s": edges / median,
        "value_min": edges / max(times),
        "value_max": edges / min(times),
        "seconds": median,
        "peak_rss_mb": rss.mb,
        "repeats": repeats,
    }
    if edges != shape[2]:
        fields["note"] = f"{system.note}; {edges:,} of {shape[2]:,} edges reached"
    return _record("full_wave", shape, system, **fields)


def _recall_all(graph, shape, systems, options, step):
    step(f"{shape[0]} n={shape[1]:.0e}: calibrate the recall threshold")
    threshold = calibrate_threshold(graph)
    cues = cue_sets(graph.num_nodes, options.cue_sets, seed=1)
    records = []
    for system in systems:
        step(f"{shape[0]} n={shape[1]:.0e}: recall {system.name}")
        records.append(_recall(system, shape, cues, threshold))
    return records


def _recall(system, shape, cues, threshold):
    reason = system.unsupported.get("recall")
    if reason:
        return _record("recall", shape, system, status="unsupported", reason=reason)
    latencies, touched, edges = [], [], []
    try:
        with PeakRss() as rss:
            for cue_ids in cues[:WARMUP_SPREADS]:
                system.recall(cue_ids, threshold)
            for cue_ids in cues:
                started = time.perf_counter()
                reached, traversed = system.recall(cue_ids, threshold)
                latencies.append(time.perf_counter() - started)
                touched.append(reached)
                edges.append(traversed)
    except Exception as error:
        return _record("recall", shape, system, threshold=threshold, **_failed(error))
    micros = np.asarray(latencies) * 1e6
    chunk_p50 = [float(np.median(c)) for c in np.array_split(micros, LATENCY_CHUNKS)]
    p50, p99 = np.percentile(micros, [50, 99])
    record = _record(
        "recall",
        shape,
        system,
        p50_us=float(p50),
        p99_us=float(p99),
        value_min=min(chunk_p50),
        value_max=max(chunk_p50),
        touched_median=float(np.median(touched)),
        threshold=threshold,
        peak_rss_mb=rss.mb,
        repeats=len(cues),
    )
    if None not in edges:
        record["edges_per_s"] = sum(edges) / sum(latencies)
    record["latencies_us"] = [round(float(t), 2) for t in micros]
    return record


def _neural_recall(system, shape, cues):
    reason = system.unsupported.get("neural_recall")
    if reason:
        return _record(
            "neural_recall", shape, system, status="unsupported", reason=reason
        )
    latencies, touched, edges, spikes = [], [], [], []
    try:
        with PeakRss() as rss:
            for cue_ids in cues[:WARMUP_SPREADS]:
                system.neural_recall(cue_ids, NEURAL_RECALL)
            for cue_ids in cues:
                started = time.perf_counter()
                reached, traversed, fired = system.neural_recall(cue_ids, NEURAL_RECALL)
                latencies.append(time.perf_counter() - started)
                touched.append(reached)
                edges.append(traversed)
                spikes.append(fired)
    except Exception as error:
        return _record("neural_recall", shape, system, **_failed(error))
    micros = np.asarray(latencies) * 1e6
    chunk_p50 = [float(np.median(c)) for c in np.array_split(micros, LATENCY_CHUNKS)]
    p50, p99 = np.percentile(micros, [50, 99])
    record = _record(
        "neural_recall",
        shape,
        system,
        p50_us=float(p50),
        p99_us=float(p99),
        value_min=min(chunk_p50),
        value_max=max(chunk_p50),
        touched_median=float(np.median(touched)),
        spikes_median=float(np.median(spikes)),
        peak_rss_mb=rss.mb,
        repeats=len(cues),
    )
    if sum(latencies) > 0:
        record["edges_per_s"] = sum(edges) / sum(latencies)
    record["latencies_us"] = [round(float(t), 2) for t in micros]
    return record


def _io(graph, shape, options):
    records = []
    with tempfile.TemporaryDirectory(prefix="engram-bench-") as folder:
        path = Path(folder) / "graph.npz"
        steps = (
            ("save-npz", lambda: io.save(graph, path)),
            ("load-npz", lambda: io.load(path)),
            ("load-npz-mmap", lambda: io.load(path, mmap=True)),
        )
        for variant, action in steps:
            try:
                with PeakRss() as rss:
                    times = _timed(action, options.repeats)
            except Exception as error:
                fields = _failed(error)
            else:
                fields = {
                    "seconds": statistics.median(times),
                    "value_min": min(times),
                    "value_max": max(times),
                    "peak_rss_mb": rss.mb,
                    "repeats": options.repeats,
                }
            records.append(
                make_record("io", *shape, "engram-actors", variant=variant, **fields)
            )
    return records
