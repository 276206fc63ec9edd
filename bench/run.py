"""Benchmark engram-actors beside what a user would otherwise use, in one run.

::

    topologies x sizes --> workloads.measure_graph --> records (one per figure)
                                 |  per graph: build, full wave, recall,
                                 |  neural recall, io
                                 v
    systems.make_systems: engine x actors, reference, reference-kernel,
                          scipy, graphblas, igraph, networkit, networkx
                                 |
                                 v
    bench/results/<timestamp>.json, .csv, latest.json, -summary.md, -*.png

Usage::

    python bench/run.py                # 4 topologies at 1e5 and 1e6 nodes
    python bench/run.py --big          # adds 1e7 nodes (1e8 edges)
    python bench/run.py --quick        # random and small-world, < 2 minutes
    python bench/run.py --systems reference scipy --sizes 1e5 --out /tmp/b

``bench/README.md`` describes the records, the tables and the rules.
"""

import argparse
import logging
import os
import sys
import time
from pathlib import Path

import plots
import records as rec
import report
import systems as sysmod
import workloads

from engram_actors import generators

__all__ = ["main", "parse_args"]

RESULTS = Path(__file__).resolve().parent / "results"
FULL_SIZES = (100_000, 1_000_000)
# 1e7 nodes at 10 edges each is 1e8 edges: 1.3 GB for the graph alone, and
# each other system holds its own copy (igraph and NetworKit several times
# that), so it is opt-in.
BIG_SIZE = 10_000_000
QUICK_TOPOLOGIES = ("random", "small-world")
QUICK_CUE_SETS = 200
QUICK_REPEATS = 3
# Converting a 1e6-node graph into igraph's or NetworKit's own structure
# takes 6 to 16 s each here, which alone would push --quick past two
# minutes; the quick run measures them on the smaller graphs only.
QUICK_CAPPED_SYSTEMS = ("igraph", "networkit")
QUICK_CAP_NODES = 100_000


def parse_args(argv=None):
    """The command line, with --quick and --big folded into the lists."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a subset, < 2 minutes")
    parser.add_argument("--big", action="store_true", help="add 1e7 nodes")
    parser.add_argument("--sizes", type=float, nargs="+", help="node counts")
    parser.add_argument("--topologies", nargs="+", choices=generators.TOPOLOGIES)
    parser.add_argument("--systems", nargs="+", choices=sysmod.SYSTEMS)
    parser.add_argument("--actors", type=int, nargs="+", help="engine actor counts")
    parser.add_argument("--workloads", nargs="+", choices=tuple(rec.METRICS))
    parser.add_argument("--repeats", type=int, help="timed runs per figure")
    parser.add_argument("--cue-sets", type=int, help="recall cue sets per system")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNGs")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logs")
    args = parser.parse_args(argv)

    sizes = args.sizes or FULL_SIZES
    args.sizes = [int(s) for s in sizes] + ([BIG_SIZE] if args.big else [])
    default_topologies = QUICK_TOPOLOGIES if args.quick else generators.TOPOLOGIES
    args.topologies = args.topologies or list(default_topologies)
    args.systems = args.systems or list(sysmod.SYSTEMS)
    if args.actors is None:
        args.actors = _default_actors()
    args.repeats = args.repeats or (QUICK_REPEATS if args.quick else 5)
    args.cue_sets = args.cue_sets or (QUICK_CUE_SETS if args.quick else 1000)
    return args


def _default_actors():
    """1, 2, 4, ... up to the machine's cores, and the core count itself."""
    cores = os.cpu_count() or 1
    counts = [1]
    while counts[-1] * 2 <= cores:
        counts.append(counts[-1] * 2)
    return sorted(set(counts) | {cores})


class Progress:
    """A one-line progress bar on a terminal; nothing when piped."""

    WIDTH = 30  # characters of the bar

    def __init__(self, total, stream=sys.stdout):
        self.total, self.done, self.stream = total, 0, stream
        self.live = stream.isatty()
        self.started = time.perf_counter()

    def graph_done(self):
        self.done += 1

    def __call__(self, label):
        if not self.live:
            return
        filled = round(self.WIDTH * self.done / self.total)
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        elapsed = time.perf_counter() - self.started
        line = f"[{bar}] {self.done}/{self.total} graphs {elapsed:5.0f}s {label}"
        self.stream.write("\r" + line[:100].ljust(100))
        self.stream.flush()

    def close(self):
        if self.live:
            self.stream.write("\r" + " " * 100 + "\r")
            self.stream.flush()


def main(argv=None):
    """Run the benchmark; return the path of the results JSON."""
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    meta = rec.run_metadata(argv)
    meta["options"] = {
        "sizes": args.sizes,
        "topologies": args.topologies,
        "systems": args.systems,
        "actors": args.actors,
        "repeats": args.repeats,
        "cue_sets": args.cue_sets,
    }
    options = workloads.Options(args.repeats, args.cue_sets, args.workloads)
    systems = sysmod.make_systems(args.systems, args.actors)
    if args.quick:
        for system in systems:
            if system.name in QUICK_CAPPED_SYSTEMS:
                system.max_nodes = QUICK_CAP_NODES
                system.skip_reason = (
                    "--quick: converting larger graphs takes most of its two "
                    "minutes; the full run measures them"
                )
    meta["systems"] = {
        s.name: (None if s.availability() else s.version()) for s in systems
    }

    progress = Progress(len(args.topologies) * len(args.sizes))
    results = []
    for topology in args.topologies:
        for n in args.sizes:
            results.extend(
                workloads.measure_graph(topology, n, systems, options, progress)
            )
            progress.graph_done()
            if not progress.live:
                print(f"measured {topology} at {n:,} nodes", flush=True)
    progress.close()

    rec.add_ratios(results)
    path = rec.write_results(results, meta, args.out)
    summary = _summary(results, meta, path, args.no_plots)
    print(summary)
    return path


def _summary(results, meta, path, no_plots):
    notes = []
    if no_plots:
        notes.append("plots: not drawn (--no-plots)")
    else:
        notes.extend(plots.draw_all(results, path.with_suffix("")))
    machine = meta["machine"]
    text = "\n\n".join(
        [
            f"# Benchmark {meta['timestamp']}",
            f"{machine['cpu']}, {machine['cores']} cores, "
            f"{machine['memory_gb']} GB; commit {meta['git_commit']}"
            f"{' (dirty)' if meta['git_dirty'] else ''}",
            "## Measurements\n\n" + report.markdown_table(report.summary_rows(results)),
            "## Claims\n\n" + report.markdown_table(report.claims(results)),
            "\n".join(f"- {note}" for note in notes),
            f"Results: {path}",
        ]
    )
    path.with_name(path.stem + "-summary.md").write_text(text + "\n")
    return text


if __name__ == "__main__":
    main()
