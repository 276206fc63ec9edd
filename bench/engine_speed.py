"""The engine's own figures, each beside its baseline measured in the same run.

For each topology at one size (1M nodes, 10 edges a node by default):

- full wave: every node fires once. The engine at 1..N actors (whole
  spread through the Python API; the actors' share of it; and the pull
  wave alone, from the actors' counters: the slowest actor's time)
  beside the reference's dense wave kernel, the whole reference spread,
  and scipy's ``A.T @ x`` in float32;
- recall: 10 random cues, 3 waves, the threshold bisected so that the
  reference touches about 1,000 nodes; p50/p99 latency over distinct cue
  sets on a warm engine, beside the reference;
- small: the same recall with its small waves in the driver (the
  default) and with every wave forced onto the actors;
- start: engine start and close on a warm compilation cache;
- slots: a full wave with packed and with cache-line-padded activation
  slots;
- switch: one wave from frontiers of growing size, forced push and forced
  pull, on the actors: where pull starts to win.

Every figure is a median of repeats. Results go to
``bench/results/engine-<timestamp>.json`` and a table to the terminal.

    python bench/engine_speed.py [--nodes 1e6] [--actors 1,2] [--repeats 5]
"""

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from workloads import calibrate_threshold, cue_sets  # noqa: E402

import engram_actors  # noqa: E402
from engram_actors import Engine, SpreadConfig, generators, reference  # noqa: E402
from engram_actors.models import pulse  # noqa: E402
from engram_actors.sources import cache_dir  # noqa: E402

TOPOLOGIES = ("random", "small-world", "scale-free", "hierarchical")
RESULTS = Path(__file__).parent / "results"


def median_time(function, repeats):
    function()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def load_graph(topology, nodes):
    path = cache_dir() / f"bench-{topology}-{nodes}-d10-s1.npz"
    if path.exists():
        return engram_actors.io.load(path)
    graph = generators.generate(topology, nodes, seed=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    engram_actors.io.save(graph, path)
    return graph


def full_wave(graph, actor_counts, repeats):
    n, m = graph.num_nodes, graph.num_edges
    rows = {}
    arrays = graph.kernel_arrays()
    frontier = np.arange(n, dtype=np.uint32)
    emitted = np.full(n, 0.8, np.float32)
    acc = np.zeros(n, np.float32)
    out = np.zeros(n, np.float32)
    rows["reference-kernel"] = m / median_time(
        lambda: pulse.push_dense(*arrays, frontier, emitted, n, acc, out), repeats
    )
    cues = (np.arange(n, dtype=np.int32), np.ones(n, np.float32))
    config = SpreadConfig(threshold=0.0, max_hops=1)
    rows["reference"] = m / median_time(
        lambda: reference.spread(graph, cues, config), repeats
    )
    try:
        import scipy.sparse as sp

        matrix = sp.csr_matrix(
            (graph.weights, graph.indices, graph.indptr), shape=(n, n)
        ).T.tocsr()
        x = np.ones(n, np.float32)
        rows["scipy A.T@x"] = m / median_time(lambda: matrix @ x, repeats)
    except ImportError:
        rows["scipy A.T@x"] = None
    for actors in actor_counts:
        with Engine(graph, actors=actors) as engine:
            busy, pull = [], []

            def run(engine=engine, busy=busy, pull=pull):
                counters = engine.spread(cues, config).stats.counters.values()
                busy.append(max(c["busy_s"] for c in counters))
                pull.append(max(c["pull_s"] for c in counters))

            rows[f"engine x{actors}"] = m / median_time(run, repeats)
            rows[f"engine x{actors} (actors' time)"] = m / statistics.median(busy)
            rows[f"engine x{actors} (pull wave)"] = m / statistics.median(pull)
    return rows


def recall(graph, actor_counts, sets):
    threshold = calibrate_threshold(graph)
    config = SpreadConfig(threshold=threshold, max_hops=3)
    cue_list = cue_sets(graph.num_nodes, sets, seed=7)
    rows = {}

    def latencies(spread):
        for ids in cue_list[:5]:
            spread((ids, np.ones(ids.size, np.float32)), config)
        times, touched = [], []
        for ids in cue_list:
            cues = (ids, np.ones(ids.size, np.float32))
            started = time.perf_counter()
            result = spread(cues, config)
            times.append(time.perf_counter() - started)
            touched.append(len(result))
        p50, p99 = np.percentile(np.array(times) * 1e6, [50, 99])
        return {"p50_us": p50, "p99_us": p99, "touched": float(np.median(touched))}

    rows["reference"] = latencies(lambda c, k: reference.spread(graph, c, k))
    for actors in actor_counts:
        with Engine(graph, actors=actors) as engine:
            rows[f"engine x{actors}"] = latencies(engine.spread)
    rows["threshold"] = threshold
    return rows


def small_spreads(graph, actors, sets):
    """Recall latency with small waves in the driver (the default) and with
    every wave handed to the actors: what coordination costs a spread that
    touches a thousand nodes."""
    import engram_actors.engine as engine_module

    threshold = calibrate_threshold(graph)
    config = SpreadConfig(threshold=threshold, max_hops=3)
    cue_list = cue_sets(graph.num_nodes, sets, seed=11)
    rows = {}
    saved = engine_module.HAND_OVER_EDGES
    try:
        with Engine(graph, actors=actors) as engine:
            for name, hand_over in (("driver", saved), ("actors", 0)):
                engine_module.HAND_OVER_EDGES = hand_over
                for ids in cue_list[:5]:
                    engine.spread((ids, np.ones(ids.size, np.float32)), config)
                times = []
                for ids in cue_list:
                    started = time.perf_counter()
                    engine.spread((ids, np.ones(ids.size, np.float32)), config)
                    times.append(time.perf_counter() - started)
                p50, p99 = np.percentile(np.array(times) * 1e6, [50, 99])
                rows[name] = {"p50_us": p50, "p99_us": p99}
    finally:
        engine_module.HAND_OVER_EDGES = saved
    return rows


def start_time(graph, actors, repeats):
    def start():
        Engine(graph, actors=actors).close()

    return median_time(start, repeats)


def slots(graph, actors, repeats):
    n, m = graph.num_nodes, graph.num_edges
    cues = (np.arange(n, dtype=np.int32), np.ones(n, np.float32))
    config = SpreadConfig(threshold=0.0, max_hops=2)
    rows = {}
    for layout in ("packed", "padded"):
        with Engine(graph, actors=actors, slot_layout=layout) as engine:
            engine.pull_edges = 2**62  # push waves: the ones that use the slots
            rows[layout] = (
                2 * m / median_time(lambda e=engine: e.spread(cues, config), repeats)
            )
    return rows


def switch(graph, actors, repeats):
    """One wave from random frontiers of growing size, push vs pull."""
    import engram_actors.engine as engine_module

    n, m = graph.num_nodes, graph.num_edges
    rng = np.random.default_rng(3)
    rows = []
    saved = engine_module.HAND_OVER_EDGES, engine_module.HAND_OVER_CUES
    engine_module.HAND_OVER_CUES = 1
    try:
        owner = Engine(graph, actors=actors, push="owner")
        shared = Engine(graph, actors=actors, push="shared")
        with owner, shared:
            for share in (0.0005, 0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5):
                count = max(int(n * share), 1)
                ids = np.sort(rng.choice(n, count, replace=False)).astype(np.int32)
                cues = (ids, np.ones(count, np.float32))
                config = SpreadConfig(threshold=0.0, max_hops=1)
                times = {}
                for mode, engine, pull_edges in (
                    ("owner_push", owner, 2**62),
                    ("shared_push", shared, 2**62),
                    ("pull", owner, 1),
                ):
                    engine.pull_edges = pull_edges
                    times[mode] = median_time(
                        lambda e=engine, c=cues, k=config: e.spread(c, k), repeats
                    )
                frontier_edges = int(np.diff(graph.indptr)[ids].sum())
                row = {
                    "frontier_share": share,
                    "frontier_edges_share": frontier_edges / m,
                }
                row.update({f"{mode}_ms": t * 1e3 for mode, t in times.items()})
                rows.append(row)
    finally:
        engine_module.HAND_OVER_EDGES, engine_module.HAND_OVER_CUES = saved
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=float, default=1e6)
    parser.add_argument("--actors", default="1,2")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cue-sets", type=int, default=1000)
    parser.add_argument("--topologies", default=",".join(TOPOLOGIES))
    parser.add_argument("--parts", default="wave,recall,small,start,slots,switch")
    args = parser.parse_args(argv)
    nodes = int(args.nodes)
    actor_counts = [int(a) for a in args.actors.split(",")]
    parts = args.parts.split(",")
    report = {
        "nodes": nodes,
        "actors": actor_counts,
        "machine": platform.node(),
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "topologies": {},
    }
    for topology in args.topologies.split(","):
        graph = load_graph(topology, nodes)
        graph.reverse()
        entry = report["topologies"][topology] = {"edges": graph.num_edges}
        print(f"\n== {topology}: {graph.num_nodes:,} nodes, {graph.num_edges:,} edges")
        if "wave" in parts:
            rows = entry["full_wave_edges_per_s"] = full_wave(
                graph, actor_counts, args.repeats
            )
            for name, rate in rows.items():
                print(
                    f"full wave  {name:<28} {rate / 1e6 if rate else 0:8.0f} M edges/s"
                )
        if "recall" in parts and topology == "random":
            rows = entry["recall"] = recall(graph, actor_counts, args.cue_sets)
            for name, row in rows.items():
                if isinstance(row, dict):
                    print(
                        f"recall     {name:<28} p50 {row['p50_us']:7.0f} us  "
                        f"p99 {row['p99_us']:7.0f} us  touched {row['touched']:.0f}"
                    )
        if "small" in parts and topology == "random":
            rows = entry["small_spreads"] = small_spreads(
                graph, max(actor_counts), args.cue_sets
            )
            for name, row in rows.items():
                print(
                    f"small      waves in the {name:<16} p50 {row['p50_us']:7.0f} us  "
                    f"p99 {row['p99_us']:7.0f} us"
                )
        if "start" in parts and topology == "random":
            entry["start_s"] = {
                a: start_time(graph, a, args.repeats) for a in actor_counts
            }
            for a, t in entry["start_s"].items():
                print(f"start      engine x{a:<20} {t * 1e3:8.0f} ms")
        if "slots" in parts and topology == "random":
            entry["slots_edges_per_s"] = slots(graph, max(actor_counts), args.repeats)
            for name, rate in entry["slots_edges_per_s"].items():
                print(f"slots      {name:<28} {rate / 1e6:8.0f} M edges/s")
        if "switch" in parts and topology in ("random", "scale-free"):
            entry["switch"] = switch(graph, max(actor_counts), args.repeats)
            for row in entry["switch"]:
                print(
                    f"switch     frontier {row['frontier_share']:6.4f} of nodes, "
                    f"{row['frontier_edges_share']:6.4f} of edges: owner push "
                    f"{row['owner_push_ms']:7.2f} ms  shared push "
                    f"{row['shared_push_ms']:7.2f} ms  pull {row['pull_ms']:7.2f} ms"
                )
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"engine-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2, default=float))
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
