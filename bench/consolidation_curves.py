"""Forgetting with and without interleaved replay: the classic comparison.

A memory learns a first set of episodes (A) by replay, then a second (B)
whose episodes start at the same nodes as A's, so that the slow pathway's
budget per node makes them compete. Either B is replayed alone
(sequential learning) or A and B are replayed together (interleaved). The
graph's own recall of each set is scored after every round of replays.

Writes ``bench/results/consolidation-<UTC>.json`` and, with matplotlib,
``...-forgetting.png``::

    python bench/consolidation_curves.py [--nodes 2000] [--episodes 20]
        [--rounds 8] [--replays 200] [--actors 2]
"""

import argparse
import datetime
import json
import pathlib
import sys
import time

import numpy as np

from engram_actors import generators
from engram_actors.hippocampus import Episode
from engram_actors.memory import ConsolidationConfig, Memory

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from records import run_metadata  # noqa: E402

RESULTS = pathlib.Path(__file__).resolve().parent / "results"


def episode_sets(num_nodes, count, seed):
    """A: ``count`` episodes of 6 random nodes; B: as many, each from the
    first node of an A episode on to 5 nodes of its own."""
    nodes = np.random.default_rng(seed).permutation(num_nodes)
    first = [nodes[i * 6 : (i + 1) * 6] for i in range(count)]
    base = 6 * count
    second = [
        np.r_[first[i][0], nodes[base + i * 5 : base + (i + 1) * 5]]
        for i in range(count)
    ]

    def episodes(sets):
        return [Episode([int(v) for v in e]) for e in sets]

    return episodes(first), episodes(second)


def score(memory, indices):
    """The graph's recall of a set: 1 - mean recall error."""
    return 1.0 - float(np.mean([memory.recall_error(i) for i in indices]))


def run(args):
    graph = generators.generate("random", args.nodes, seed=args.seed)
    first, second = episode_sets(args.nodes, args.episodes, args.seed)
    config = ConsolidationConfig(learning_rate=args.learning_rate, seed=args.seed)
    curves = {}
    for mode in ("sequential", "interleaved"):
        started = time.perf_counter()
        with Memory(graph, args.actors, consolidation=config) as memory:
            a = [memory.encode(e) for e in first]
            rows = [{"phase": "A", "round": 0, "a": score(memory, a), "b": None}]
            for r in range(1, args.rounds + 1):
                memory.consolidate(args.replays, episodes=a)
                rows.append(
                    {"phase": "A", "round": r, "a": score(memory, a), "b": None}
                )
            b = [memory.encode(e) for e in second]
            rows[-1]["b"] = score(memory, b)
            compression = []
            for r in range(1, args.rounds + 1):
                if mode == "sequential":
                    done = memory.consolidate(args.replays, episodes=b)
                else:
                    done = memory.consolidate(2 * args.replays)
                compression.append(done["compression"])
                rows.append(
                    {"phase": "B", "round": r, "a": score(memory, a),
                     "b": score(memory, b)}
                )  # fmt: skip
        curves[mode] = {
            "rows": rows,
            "compression": float(np.mean(compression)),
            "seconds": time.perf_counter() - started,
        }
    return {
        "args": vars(args),
        "curves": curves,
        "a_learned": curves["sequential"]["rows"][args.rounds]["a"],
        "a_after_b": {m: curves[m]["rows"][-1]["a"] for m in curves},
        "b_after_b": {m: curves[m]["rows"][-1]["b"] for m in curves},
    }


def plot(report, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "plot: not drawn, matplotlib is not installed ('.[bench]' has it)"
    figure, axis = plt.subplots(figsize=(6.4, 4.0))
    for mode, style in (("sequential", "-"), ("interleaved", "--")):
        rows = report["curves"][mode]["rows"]
        x = list(range(len(rows)))
        axis.plot(x, [r["a"] for r in rows], style, color="C0", label=f"A, {mode}")
        b = [(i, r["b"]) for i, r in enumerate(rows) if r["b"] is not None]
        axis.plot(*zip(*b, strict=True), style, color="C1", label=f"B, {mode}")
    axis.axvline(report["args"]["rounds"], color="grey", lw=0.8)
    axis.set_xlabel("round of replays (A, then B)")
    axis.set_ylabel("graph's recall of the set (1 - error)")
    axis.set_ylim(0, 1)
    axis.legend(fontsize=8)
    figure.savefig(path, dpi=110, bbox_inches="tight")
    return f"plot: {path}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--nodes", type=int, default=2000, help="random graph nodes (2000)")
    add("--episodes", type=int, default=20, help="episodes in each set (20)")
    add("--rounds", type=int, default=8, help="rounds of replay per set (8)")
    add("--replays", type=int, default=200, help="replays a round of one set")
    add("--learning-rate", type=float, default=0.01, help="slow rate (0.01)")
    add("--actors", type=int, default=2, help="engine actors (2)")
    add("--seed", type=int, default=5, help="episodes and replays (5)")
    add("--out", type=pathlib.Path, default=RESULTS, help="results folder")
    args = parser.parse_args(argv)
    meta = run_metadata()
    given = sys.argv[1:] if argv is None else [str(a) for a in argv]
    meta["command"] = " ".join(["bench/consolidation_curves.py", *given])
    started = time.perf_counter()
    report = {"meta": meta, **run(args)}
    report["wall_s"] = time.perf_counter() - started
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H-%M-%SZ")
    stem = args.out / f"consolidation-{stamp}"
    report["args"]["out"] = str(args.out)
    stem.with_suffix(".json").write_text(json.dumps(report, indent=2))
    note = plot(report, f"{stem}-forgetting.png")
    print(
        f"A learned {report['a_learned']:.3f}; after B: sequential "
        f"{report['a_after_b']['sequential']:.3f}, interleaved "
        f"{report['a_after_b']['interleaved']:.3f}; B: sequential "
        f"{report['b_after_b']['sequential']:.3f}, interleaved "
        f"{report['b_after_b']['interleaved']:.3f}"
    )
    print(f"results: {stem}.json; {note}")
    return report


if __name__ == "__main__":
    main()
