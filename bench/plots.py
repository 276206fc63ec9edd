"""Plots of a run's records, as PNGs beside the results (matplotlib, Agg).

- ``<stem>-throughput.png``: full-wave edges/s against graph size, one line
  per system, one log-log panel per topology;
- ``<stem>-speedup.png``: the engine's full-wave speed-up against actors,
  with the ideal line; only when the run has engine figures;
- ``<stem>-recall-cdf.png``: the recall latency distribution of each
  system on the largest graph of each topology.

matplotlib comes with the ``bench`` extra; without it no plot is drawn and
the summary says so.
"""

from collections import defaultdict

__all__ = ["draw_all"]


def draw_all(records, stem):
    """Draw every plot the records allow; return one note per plot."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return ["plots: not drawn, matplotlib is not installed ('.[bench]' has it)"]
    ok = [r for r in records if r["status"] == "ok"]
    notes = []
    for name, draw in (
        ("throughput", _throughput),
        ("speedup", _speedup),
        ("recall-cdf", _recall_cdf),
    ):
        path = f"{stem}-{name}.png"
        figure = draw(plt, ok)
        if isinstance(figure, str):
            notes.append(f"{name} plot: skipped, {figure}")
            continue
        figure.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(figure)
        notes.append(f"{name} plot: {path}")
    return notes


def _panels(plt, topologies):
    figure, axes = plt.subplots(
        1, len(topologies), figsize=(4.5 * len(topologies), 4), squeeze=False
    )
    return figure, dict(zip(topologies, axes[0], strict=True))


def _label(record):
    if record["system"] == "engine":
        return f"engine x{record['actors']}"
    return record["system"]


def _throughput(plt, records):
    waves = [r for r in records if r["workload"] == "full_wave"]
    if not waves:
        return "no full-wave figures"
    topologies = sorted({r["topology"] for r in waves})
    figure, axes = _panels(plt, topologies)
    lines = defaultdict(list)
    for r in waves:
        lines[(r["topology"], _label(r))].append((r["nodes"], r["edges_per_s"]))
    for (topology, label), points in sorted(lines.items()):
        points.sort()
        axis = axes[topology]
        axis.plot(*zip(*points, strict=True), marker="o", label=label)
    for topology, axis in axes.items():
        axis.set(xscale="log", yscale="log", title=topology, xlabel="nodes")
        axis.set_ylabel("full wave, edges/s")
        axis.legend(fontsize="small")
    return figure


def _speedup(plt, records):
    waves = [
        r for r in records if r["workload"] == "full_wave" and r["system"] == "engine"
    ]
    if not waves:
        return "no engine figures in this run (the engine is not built yet)"
    topologies = sorted({r["topology"] for r in waves})
    figure, axes = _panels(plt, topologies)
    most = max(r["actors"] for r in waves)
    for topology, axis in axes.items():
        by_size = defaultdict(dict)
        for r in waves:
            if r["topology"] == topology:
                by_size[r["nodes"]][r["actors"]] = r["edges_per_s"]
        for nodes, by_actors in sorted(by_size.items()):
            if 1 not in by_actors:
                continue
            actors = sorted(by_actors)
            speedups = [by_actors[k] / by_actors[1] for k in actors]
            axis.plot(actors, speedups, marker="o", label=f"{nodes:,} nodes")
        axis.plot([1, most], [1, most], "k--", label="ideal")
        axis.set(title=topology, xlabel="actors", ylabel="speed-up over 1 actor")
        axis.legend(fontsize="small")
    return figure


def _recall_cdf(plt, records):
    recalls = [
        r for r in records if r["workload"] == "recall" and r.get("latencies_us")
    ]
    if not recalls:
        return "no recall latencies"
    topologies = sorted({r["topology"] for r in recalls})
    figure, axes = _panels(plt, topologies)
    for topology, axis in axes.items():
        here = [r for r in recalls if r["topology"] == topology]
        largest = max(r["nodes"] for r in here)
        for r in here:
            if r["nodes"] != largest:
                continue
            latencies = sorted(r["latencies_us"])
            share = [(i + 1) / len(latencies) for i in range(len(latencies))]
            axis.plot(latencies, share, label=_label(r))
        axis.set(
            xscale="log",
            title=f"{topology}, {largest:,} nodes",
            xlabel="recall latency, µs",
            ylabel="share of cue sets",
        )
        axis.legend(fontsize="small")
    return figure
