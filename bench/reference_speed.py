"""Speed of the sequential reference on generated memory graphs.

Two workloads per topology and size, in one process so that ratios hold
while the machine's speed drifts:

- full wave: every node fires once (all nodes as cues, one wave); reported
  in edges per second for the whole reference spread (cue checks and
  result included) and for its wave kernel alone (the edge loop that a
  parallel runner splits), beside scipy.sparse ``A.T @ x`` in float32 on
  the same graph as the baseline a user would otherwise write;
- recall: 10 random cues, 3 waves, with the threshold set so that about
  1,000 nodes are touched; latency percentiles over many cue sets.

Usage::

    python bench/reference_speed.py                  # 1e5 and 1e6 nodes
    python bench/reference_speed.py --big            # adds 1e7 nodes
    python bench/reference_speed.py --json out.json
"""

import argparse
import json
import platform
import time

import numpy as np
from systems import RECALL_HOPS
from workloads import AVG_DEGREE, RECALL_CUES, calibrate_threshold, cue_sets

from engram_actors import SpreadConfig, generators, reference
from engram_actors.models import pulse


def median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def full_wave(graph, repeats):
    n = graph.num_nodes
    cues = (np.arange(n, dtype=np.int32), np.ones(n, np.float32))
    config = SpreadConfig(threshold=0.0, max_hops=1)
    reference.spread(graph, cues, config)
    seconds = median_time(lambda: reference.spread(graph, cues, config), repeats)
    row = {"reference_edges_per_s": graph.num_edges / seconds}

    indptr, indices, weights = graph.kernel_arrays()
    frontier = np.arange(n, dtype=np.uint32)
    emitted = np.full(n, 0.8, np.float32)
    acc = np.zeros(n, np.float32)
    out = np.zeros(n, np.float32)

    def wave_kernel():
        pulse.push_dense(indptr, indices, weights, frontier, emitted, n, acc, out)

    wave_kernel()
    seconds = median_time(wave_kernel, repeats)
    row["kernel_edges_per_s"] = graph.num_edges / seconds
    try:
        import scipy.sparse as sp
    except ImportError:
        return row
    matrix = sp.csr_matrix((graph.weights, graph.indices, graph.indptr), (n, n))
    transposed = matrix.T  # CSC view: A.T @ x without building a copy
    x = np.ones(n, np.float32)
    seconds = median_time(lambda: transposed @ x, repeats)
    row["scipy_edges_per_s"] = graph.num_edges / seconds
    row["ratio_vs_scipy"] = row["reference_edges_per_s"] / row["scipy_edges_per_s"]
    row["kernel_ratio_vs_scipy"] = row["kernel_edges_per_s"] / row["scipy_edges_per_s"]
    return row


def recall(graph, spreads):
    threshold = calibrate_threshold(graph)
    config = SpreadConfig(threshold=threshold, max_hops=RECALL_HOPS)
    ones = np.ones(RECALL_CUES, np.float32)
    latencies, touched = [], []
    for cue_ids in cue_sets(graph.num_nodes, spreads, seed=1):
        started = time.perf_counter()
        result = reference.spread(graph, (cue_ids, ones), config)
        latencies.append(time.perf_counter() - started)
        touched.append(len(result))
    p50, p99 = np.percentile(latencies, [50, 99]) * 1e6
    return {
        "threshold": threshold,
        "touched_median": float(np.median(touched)),
        "p50_us": float(p50),
        "p99_us": float(p99),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=float, nargs="*", default=[1e5, 1e6])
    parser.add_argument("--big", action="store_true", help="add 1e7 nodes")
    parser.add_argument("--topologies", nargs="*", default=list(generators.TOPOLOGIES))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--spreads", type=int, default=1000)
    parser.add_argument("--json", help="write the records to this file")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes] + ([10**7] if args.big else [])

    records = []
    header = (
        f"{'topology':<13} {'nodes':>9} {'edges':>10} {'gen s':>6} "
        f"{'ref Me/s':>8} {'kern Me/s':>9} {'scipy Me/s':>10} {'ratio':>5} "
        f"{'thresh':>6} {'touched':>7} {'p50 us':>7} {'p99 us':>7}"
    )
    print(header)
    for topology in args.topologies:
        for n in sizes:
            started = time.perf_counter()
            graph = generators.generate(topology, n, avg_degree=AVG_DEGREE, seed=0)
            record = {
                "topology": topology,
                "nodes": graph.num_nodes,
                "edges": graph.num_edges,
                "generate_s": time.perf_counter() - started,
            }
            record.update(full_wave(graph, args.repeats))
            record.update(recall(graph, args.spreads))
            records.append(record)
            print(
                f"{topology:<13} {n:>9} {graph.num_edges:>10} "
                f"{record['generate_s']:>6.2f} "
                f"{record['reference_edges_per_s'] / 1e6:>8.0f} "
                f"{record['kernel_edges_per_s'] / 1e6:>9.0f} "
                f"{record.get('scipy_edges_per_s', float('nan')) / 1e6:>10.0f} "
                f"{record.get('ratio_vs_scipy', float('nan')):>5.2f} "
                f"{record['threshold']:>6.3f} {record['touched_median']:>7.0f} "
                f"{record['p50_us']:>7.0f} {record['p99_us']:>7.0f}",
                flush=True,
            )
    if args.json:
        meta = {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "processor": platform.processor(),
            "time": time.time(),
        }
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "records": records}, f, indent=2)


if __name__ == "__main__":
    main()
