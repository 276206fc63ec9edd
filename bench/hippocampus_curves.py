"""Curves of the hippocampal pathway: pattern separation and capacity.

1. separation: random pairs of episodes that share a given share of their
   nodes (the input overlap, 0 to 1); for each pair the overlap of their
   entorhinal patterns (cosine), of their dentate codes (with separation)
   and of their k-WTA entorhinal codes (without), averaged over the pairs.
2. capacity: episodes are stored one by one; at each load, a sample of
   the stored episodes is completed from a random share of their nodes
   (``--cue-fraction``, 0.3), and the recall accuracy is the share that
   comes back as the right episode. With and without separation, for
   random episodes and for correlated ones: families of ``--family``
   episodes that each keep ``--shared`` of a common prototype's nodes. A
   cue whose nodes all lie in another stored episode too is *ambiguous*:
   no memory can tell which was meant, so the share of such cues is
   recorded beside the accuracy. A curve stops after the first load whose
   accuracy falls below ``--stop-below``.

Every episode, pair and cue is drawn from ``--seed``; the four capacity
curves run in ``--jobs`` processes and give the same figures at any number.
Results go to ``bench/results/hippocampus-<UTC timestamp>.json`` and, when
matplotlib is installed, ``-separation.png`` and ``-capacity.png`` beside
it.

    python bench/hippocampus_curves.py [--ec-size 2048] [--loads 100,200,...]
"""

import argparse
import concurrent.futures
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from records import run_metadata  # noqa: E402

from engram_actors.hippocampus import (  # noqa: E402
    Episode,
    Hippocampus,
    HippocampusConfig,
)

RESULTS = Path(__file__).parent / "results"
KINDS = ("random", "correlated")
#: The capacity curves as (episodes, separation, CA3 rule): the slow ones
#: (with separation) first, so that the processes share the work evenly;
#: the plain Hebbian rule fails early and costs little.
CONDITIONS = [
    ("random", True, "covariance"),
    ("correlated", True, "covariance"),
    ("random", False, "covariance"),
    ("correlated", False, "covariance"),
    ("random", True, "hebbian"),
    ("random", False, "hebbian"),
]
#: Accuracy at which the capacity is read off the curves.
CAPACITY_CRITERION = 0.9


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--ec-size", type=int, default=2048, help="entorhinal units (2048)")
    add("--num-nodes", type=int, default=1_000_000, help="memory graph nodes")
    add("--episode-size", type=int, default=10, help="nodes per episode (10)")
    add("--cue-fraction", type=float, default=0.3, help="share of nodes cued")
    add("--shares", default="0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1",
        help="input overlaps of the separation curve")  # fmt: skip
    add("--pair-size", type=int, default=20, help="nodes per episode of a pair")
    add("--pairs", type=int, default=100, help="pairs per input overlap")
    add("--loads", default="100,200,400,800,1600,3200,4800,6400,8000,9600",
        help="stored episodes at which recall is measured")  # fmt: skip
    add("--cues", type=int, default=100, help="episodes tested per load")
    add("--family", type=int, default=10, help="episodes per prototype")
    add("--shared", type=float, default=0.5, help="prototype share kept")
    add("--stop-below", type=float, default=0.5, help="end a curve below this")
    add("--seed", type=int, default=0)
    add("--jobs", type=int, default=2, help="processes for the capacity curves")
    add("--out", type=Path, default=RESULTS)
    add("--no-plots", action="store_true")
    args = parser.parse_args(argv)
    args.shares = [float(s) for s in args.shares.split(",")]
    args.loads = sorted(int(float(n)) for n in args.loads.split(","))
    return args


def config_of(args, separation, rule="covariance"):
    return HippocampusConfig(
        ec_size=args.ec_size, separation=separation, ca3_rule=rule, seed=args.seed
    )


def code_overlap(a, b):
    if a.size == 0 or b.size == 0:
        return 0.0
    return np.intersect1d(a, b).size / math.sqrt(a.size * b.size)


# -- 1. separation ----------------------------------------------------------


def separation_curve(args):
    """Mean overlaps of pairs of episodes at each input overlap."""
    with_dg = Hippocampus(args.num_nodes, config_of(args, True))
    without = Hippocampus(args.num_nodes, config_of(args, False))
    rng = np.random.default_rng([args.seed, 1])
    size = args.pair_size
    rows = []
    for share in args.shares:
        kept = round(share * size)
        ec, dg, ec_kwta = [], [], []
        for _ in range(args.pairs):
            nodes = rng.choice(args.num_nodes, 2 * size - kept, replace=False)
            first, second = nodes[:size], np.concatenate([nodes[:kept], nodes[size:]])
            ec_first, ec_second = with_dg.ec_code(first), with_dg.ec_code(second)
            ec.append(
                float(ec_first @ ec_second)
                / float(np.linalg.norm(ec_first) * np.linalg.norm(ec_second))
            )
            dg.append(
                code_overlap(with_dg.separate(ec_first), with_dg.separate(ec_second))
            )
            ec_kwta.append(
                code_overlap(without.separate(ec_first), without.separate(ec_second))
            )
        rows.append(
            {
                "input_overlap": kept / size,
                "ec_overlap": float(np.mean(ec)),
                "dg_overlap": float(np.mean(dg)),
                "dg_overlap_sd": float(np.std(dg)),
                "ec_kwta_overlap": float(np.mean(ec_kwta)),
            }
        )
        print(
            f"separation: input {kept / size:.2f}  EC {rows[-1]['ec_overlap']:.3f}  "
            f"DG {rows[-1]['dg_overlap']:.3f}  EC k-WTA "
            f"{rows[-1]['ec_kwta_overlap']:.3f}",
            flush=True,
        )
    return rows


# -- 2. capacity ------------------------------------------------------------


def episode_stream(args, kind):
    """The episodes of one kind, in storage order (the same for both
    settings of separation)."""
    rng = np.random.default_rng([args.seed, 2, KINDS.index(kind)])
    size = args.episode_size
    kept = round(args.shared * size) if kind == "correlated" else 0
    prototype = None
    for i in range(args.loads[-1]):
        if kind == "correlated" and i % args.family == 0:
            prototype = rng.choice(args.num_nodes, size, replace=False)
        nodes = rng.choice(args.num_nodes, size, replace=False)
        if kept:
            own = nodes[~np.isin(nodes, prototype)][: size - kept]
            nodes = np.concatenate([rng.choice(prototype, kept, replace=False), own])
        yield Episode(nodes)


def ambiguous(cue, index, containing):
    """Whether another stored episode holds every node of the cue."""
    candidates = set.intersection(*(containing[int(node)] for node in cue))
    return bool(candidates - {index})


def capacity_curve(args, kind, separation, rule):
    """Recall accuracy at each load, for one kind of episode and setting."""
    hippocampus = Hippocampus(args.num_nodes, config_of(args, separation, rule))
    # The same cues with and without separation, while both curves run.
    rng = np.random.default_rng([args.seed, 3, KINDS.index(kind)])
    episodes, containing = [], {}
    stream = episode_stream(args, kind)
    rows = []
    encode_s = 0.0
    for load in args.loads:
        started = time.perf_counter()
        while len(hippocampus) < load:
            episode = next(stream)
            index = hippocampus.encode(episode)
            episodes.append(episode)
            for node in episode.nodes.tolist():
                containing.setdefault(node, set()).add(index)
        encode_s += time.perf_counter() - started

        started = time.perf_counter()
        tested = rng.choice(load, min(load, args.cues), replace=False)
        correct, clear, clear_correct = 0, 0, 0
        matches, cue_matches, steps = [], [], []
        for index in tested.tolist():
            episode = episodes[index]
            size = max(1, round(args.cue_fraction * len(episode)))
            cue = rng.choice(episode.nodes, size, replace=False)
            completion = hippocampus.complete(cue)
            hit = completion.index == index
            correct += hit
            if not ambiguous(cue, index, containing):
                clear += 1
                clear_correct += hit
            matches.append(completion.match)
            cue_matches.append(completion.cue_match)
            steps.append(completion.steps)
        recent = hippocampus.priorities[-min(load, 100) :]
        rows.append(
            {
                "kind": kind,
                "separation": separation,
                "rule": rule,
                "load": load,
                "tested": int(tested.size),
                "accuracy": correct / tested.size,
                "ambiguous_cues": 1 - clear / tested.size,
                "accuracy_unambiguous": clear_correct / clear if clear else None,
                "match_mean": float(np.mean(matches)),
                "cue_match_mean": float(np.mean(cue_matches)),
                "steps_mean": float(np.mean(steps)),
                "novel_priority_mean": float(recent.mean()),
                "encode_s_total": encode_s,
                "complete_ms_mean": 1e3 * (time.perf_counter() - started) / tested.size,
            }
        )
        print(
            f"capacity: {curve_name(kind, separation, rule):<38} "
            f"load {load:>6}  accuracy {rows[-1]['accuracy']:.2f}  "
            f"(ambiguous cues {rows[-1]['ambiguous_cues']:.2f})  "
            f"encode {encode_s:.1f} s",
            flush=True,
        )
        if rows[-1]["accuracy"] < args.stop_below:
            break
    return rows


def curve_name(kind, separation, rule):
    return f"{kind}, separation {'on' if separation else 'off'}, {rule}"


def capacity_at(rows, criterion=CAPACITY_CRITERION):
    """Where accuracy first falls below ``criterion``: the loads either
    side and a crossing interpolated linearly in log(load); None when it
    never does at the loads measured."""
    for before, after in zip(rows, rows[1:], strict=False):
        if before["accuracy"] >= criterion > after["accuracy"]:
            span = before["accuracy"] - after["accuracy"]
            t = (before["accuracy"] - criterion) / span
            log_load = (1 - t) * math.log(before["load"]) + t * math.log(after["load"])
            return {
                "last_at_or_above": before["load"],
                "first_below": after["load"],
                "interpolated": round(math.exp(log_load)),
            }
    if rows and rows[0]["accuracy"] < criterion:
        return {"last_at_or_above": None, "first_below": rows[0]["load"]}
    return None


# -- plots --------------------------------------------------------------------


def draw(report, stem):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return ["plots: not drawn, matplotlib is not installed ('.[bench]' has it)"]
    notes = []
    rows = report["separation"]
    figure, axis = plt.subplots(figsize=(5, 4.5))
    x = [r["input_overlap"] for r in rows]
    axis.plot([0, 1], [0, 1], "k:", label="no change")
    axis.plot(x, [r["ec_overlap"] for r in rows], marker="o", label="EC pattern")
    axis.plot(x, [r["dg_overlap"] for r in rows], marker="o", label="DG code")
    axis.plot(
        x, [r["ec_kwta_overlap"] for r in rows], marker="s", label="EC k-WTA code"
    )
    axis.set(
        xlabel="input overlap (share of nodes in common)",
        ylabel="overlap of the codes",
        title="Pattern separation",
        xlim=(0, 1),
        ylim=(0, 1.02),
    )
    axis.legend(fontsize="small")
    path = f"{stem}-separation.png"
    figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(figure)
    notes.append(f"separation plot: {path}")

    figure, axis = plt.subplots(figsize=(6.5, 4.5))
    for kind, separation, rule in CONDITIONS:
        curve = curve_rows(report, kind, separation, rule)
        axis.plot(
            [r["load"] for r in curve],
            [r["accuracy"] for r in curve],
            marker="o" if separation else "s",
            linestyle="-" if kind == "random" else "--",
            alpha=1.0 if rule == "covariance" else 0.45,
            label=curve_name(kind, separation, rule),
        )
    axis.axhline(CAPACITY_CRITERION, color="grey", linewidth=0.8)
    axis.set(
        xscale="log",
        xlabel="episodes stored",
        ylabel="recall accuracy from 30% cues",
        title="Capacity",
        ylim=(0, 1.02),
    )
    axis.legend(fontsize="small")
    path = f"{stem}-capacity.png"
    figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(figure)
    notes.append(f"capacity plot: {path}")
    return notes


def curve_rows(report, kind, separation, rule):
    return [
        r
        for r in report["capacity"]
        if (r["kind"], r["separation"], r["rule"]) == (kind, separation, rule)
    ]


def summary(report):
    rows = report["separation"]
    lines = []
    nearest = min(rows, key=lambda r: abs(r["input_overlap"] - 0.8))
    lines.append(
        f"at input overlap {nearest['input_overlap']:.2f}: "
        f"EC {nearest['ec_overlap']:.3f}, DG {nearest['dg_overlap']:.3f}, "
        f"EC k-WTA {nearest['ec_kwta_overlap']:.3f}"
    )
    for name, found in report["capacity_at_0.9"].items():
        if found is None:
            text = "never below 0.9 at the loads measured"
        elif found["last_at_or_above"] is None:
            text = f"below 0.9 already at {found['first_below']}"
        else:
            text = (
                f"below 0.9 between {found['last_at_or_above']} and "
                f"{found['first_below']} (about {found['interpolated']})"
            )
        lines.append(f"capacity, {name}: {text}")
    return lines


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    meta = run_metadata()
    meta["command"] = " ".join(["bench/hippocampus_curves.py", *argv])
    config = config_of(args, True)
    report = {
        "meta": meta,
        "args": vars(args) | {"out": str(args.out)},
        "config": {
            "ec_size": config.ec_size,
            "dg_width": config.dg_width,
            "winners_with_separation": config.winners,
            "winners_without_separation": config_of(args, False).winners,
            "node_code": config.node_code,
            "dg_fan_in": config.dg_fan_in,
            "dg_active": config.dg_active,
            "ca3_rule": config.ca3_rule,
            "ca3_iterations": config.ca3_iterations,
        },
    }
    started = time.perf_counter()
    report["separation"] = separation_curve(args)
    with concurrent.futures.ProcessPoolExecutor(max(1, args.jobs)) as pool:
        futures = [
            pool.submit(capacity_curve, args, *condition) for condition in CONDITIONS
        ]
        report["capacity"] = [row for f in futures for row in f.result()]
    report["capacity_at_0.9"] = {
        curve_name(*condition): capacity_at(curve_rows(report, *condition))
        for condition in CONDITIONS
    }
    report["wall_s"] = time.perf_counter() - started

    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%dT%H-%M-%SZ", time.gmtime())
    path = args.out / f"hippocampus-{stamp}.json"
    notes = (
        ["plots: not drawn (--no-plots)"]
        if args.no_plots
        else draw(report, str(path.with_suffix("")))
    )
    report["summary"] = summary(report)
    report["plots"] = notes
    path.write_text(json.dumps(report, indent=1) + "\n")
    for line in [*report["summary"], *notes, f"results: {path}"]:
        print(line)
    return path


if __name__ == "__main__":
    main()
