"""A representative workload to run under py-spy, and the spread's counters.

``make profile`` runs this script under ``py-spy record --subprocesses``
(once for a flame graph, once for speedscope), so the actor processes are
sampled too. py-spy samples Python stacks; time inside a compiled Numba
kernel shows as the Python line that called it, so the script then prints
what the spreads themselves counted (``SpreadResult.stats``): waves, edges
traversed, nodes fired per wave, and the engine's counters per actor
(edges, compare-and-swap retries, chunks stolen, time waiting at barriers,
time busy and pulling), summed over the spreads.

::

    py-spy record --subprocesses -o flame.svg -- python bench/profile_workload.py
"""

import argparse
import time

import numpy as np
from workloads import AVG_DEGREE, calibrate_threshold, cue_sets

import engram_actors
from engram_actors import SpreadConfig, generators, reference

FULL_WAVES = 5  # full waves to sample
RECALLS = 500  # recall cue sets to sample


def _counters(label, results, seconds):
    stats = [r.stats for r in results]
    waves = max(s.waves for s in stats)
    fired = np.zeros(waves, np.int64)
    for s in stats:
        fired[: len(s.fired_per_wave)] += s.fired_per_wave
    edges = sum(s.edges_traversed for s in stats)
    print(
        f"{label}: {len(stats)} spreads in {seconds:.2f} s by {stats[0].runner}; "
        f"waves {waves}, edges_traversed {edges:,}, "
        f"nodes_fired {sum(s.nodes_fired for s in stats):,}, "
        f"fired_per_wave {fired.tolist()}, {edges / seconds / 1e6:.1f} M edges/s"
    )
    totals = {}
    for s in stats:
        for actor, counters in s.counters.items():
            row = totals.setdefault(actor, {})
            for name, value in counters.items():
                row[name] = row.get(name, 0) + value
    if not totals:
        print("    (no actor counters: every spread ran in the driver)")
    for actor, row in sorted(totals.items()):
        shown = ", ".join(
            f"{name} {value:.4f}" if isinstance(value, float) else f"{name} {value:,}"
            for name, value in row.items()
        )
        print(f"    {actor}: {shown}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=1_000_000)
    parser.add_argument("--topology", default="random")
    parser.add_argument(
        "--actors", type=int, help="engine actors (default: one per usable CPU)"
    )
    parser.add_argument(
        "--reference", action="store_true", help="profile the sequential reference"
    )
    args = parser.parse_args(argv)
    graph = generators.generate(
        args.topology, args.nodes, avg_degree=AVG_DEGREE, seed=0
    )
    if args.reference:
        run(graph, lambda cues, config: reference.spread(graph, cues, config))
        return
    with engram_actors.Engine(graph, actors=args.actors) as engine:
        run(graph, engine.spread)


def run(graph, spread):
    """Full waves, then recalls, each followed by what the spreads counted."""
    n = graph.num_nodes
    everything = (np.arange(n, dtype=np.int32), np.ones(n, np.float32))
    wave = SpreadConfig(threshold=0.0, max_hops=1)
    spread(everything, wave)  # load the compiled kernels
    started = time.perf_counter()
    waves = [spread(everything, wave) for _ in range(FULL_WAVES)]
    _counters("full wave", waves, time.perf_counter() - started)

    recall = SpreadConfig(threshold=calibrate_threshold(graph), max_hops=3)
    started = time.perf_counter()
    recalls = [
        spread((c, np.ones(c.size, np.float32)), recall)
        for c in cue_sets(n, RECALLS, seed=1)
    ]
    _counters("recall", recalls, time.perf_counter() - started)


if __name__ == "__main__":
    main()
