"""The run's tables: every measurement against the reference, and the claims.

Both tables are markdown, printed at the end of a run and saved beside the
results. The claims table sets the figures of the activation-spreading
thread (``/work/shared/reference/activation-spreading-thread.md``) beside
what this run measured; ``bench/README.md`` defines each measured quantity.
"""

from records import METRICS
from systems import SYSTEMS

__all__ = ["CLAIMS", "claims", "markdown_table", "summary_rows"]

_WORKLOAD_ORDER = tuple(METRICS)


def _sort_key(record):
    # The library's own rows (generate, save, load) first, then SYSTEMS order.
    system = record["system"]
    return (
        _WORKLOAD_ORDER.index(record["workload"]),
        record["topology"],
        record["nodes"],
        SYSTEMS.index(system) if system in SYSTEMS else -1,
        record["actors"],
    )


def _figure(record):
    if record["status"] != "ok":
        return f"{record['status']}: {record['reason']}"
    workload = record["workload"]
    if workload == "full_wave":
        return f"{record['edges_per_s'] / 1e6:,.1f} M edges/s"
    if workload == "recall":
        touched = record["touched_median"]
        return (
            f"p50 {record['p50_us']:,.0f} µs, p99 {record['p99_us']:,.0f} µs, "
            f"{touched:,.0f} touched"
        )
    if workload == "neural_recall":
        return (
            f"p50 {record['p50_us']:,.0f} µs, p99 {record['p99_us']:,.0f} µs, "
            f"{record['touched_median']:,.0f} touched, "
            f"{record['spikes_median']:,.0f} spikes"
        )
    return f"{record['seconds']:,.3f} s"


def _ratio(value):
    return "" if value is None else f"{value:.2f}x"


def summary_rows(records):
    """The summary table's rows: one per record, grouped by workload and graph."""
    rows = []
    for record in sorted(records, key=_sort_key):
        workload = record["workload"]
        if record["variant"]:
            workload = f"{workload} ({record['variant']})"
        system = record["system"]
        if system == "engine":
            system = f"engine x{record['actors']}"
        rows.append(
            {
                "workload": workload,
                "topology": record["topology"],
                "nodes": f"{record['nodes']:,}",
                "edges": f"{record['edges']:,}",
                "system": system,
                "figure": _figure(record),
                "vs reference": _ratio(record["ratio_vs_reference"]),
                "peak RSS MB": (
                    ""
                    if record["peak_rss_mb"] is None
                    else f"{record['peak_rss_mb']:,.0f}"
                ),
            }
        )
    return rows


def markdown_table(rows):
    """A markdown table of dicts sharing their keys (empty string for none)."""
    if not rows:
        return ""
    columns = [c for c in rows[0] if not c.startswith("_")]  # _keys: for code
    lines = [
        "| " + " | ".join(columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
    ]
    for row in rows:
        cells = [str(row[c]).replace("|", "/") for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


#: The thread's claims: what, the figure, and its unit.
CLAIMS = (
    ("10M+ activations per second", 10e6, "activations/s"),
    ("under 1 ms for a 1,000-node spread", 1000.0, "µs"),
    ("95% parallel efficiency up to 32 cores", 0.95, "efficiency"),
    ("25M updates per second on small-world graphs", 25e6, "updates/s"),
)


def _best_recall(records, topology):
    """The recall record the claims use: the engine's (most actors) when it
    ran, else the reference's; on the largest graph of ``topology``."""
    candidates = [
        r
        for r in records
        if r["workload"] == "recall"
        and r["status"] == "ok"
        and r["topology"] == topology
        and r["system"] in ("engine", "reference")
        and r["edges_per_s"]
    ]
    if not candidates:
        return None
    return max(
        candidates, key=lambda r: (r["nodes"], r["system"] == "engine", r["actors"])
    )


def _where(record):
    name = "engine" if record["system"] == "engine" else "reference"
    if record["system"] == "engine":
        name += f" x{record['actors']}"
    return f"{name}, {record['topology']} {record['nodes']:,} nodes"


def _efficiency(records):
    waves = [
        r
        for r in records
        if r["workload"] == "full_wave"
        and r["system"] == "engine"
        and r["status"] == "ok"
    ]
    biggest = max((r["nodes"] for r in waves), default=None)
    by_actors = {r["actors"]: r for r in waves if r["nodes"] == biggest}
    if 1 not in by_actors or max(by_actors) < 2:
        return None, "not measured: needs the engine at 1 and more actors"
    most = max(by_actors)
    record = by_actors[most]
    speedup = record["edges_per_s"] / by_actors[1]["edges_per_s"]
    how = (
        f"full wave speed-up at {most} actors / {most}, engine, "
        f"{record['topology']} {biggest:,} nodes (this machine has no 32 cores)"
    )
    return speedup / most, how


def claims(records):
    """The claims table's rows: claimed, measured, and measured against claimed.

    ``ratio`` is oriented so that 1 or more means the claim holds here:
    measured over claimed for rates and efficiency, claimed over measured
    for the latency.
    """
    rows = []
    random = _best_recall(records, "random")
    small_world = _best_recall(records, "small-world")
    for claim, claimed, unit in CLAIMS:
        measured, how = None, None
        if unit == "activations/s" and random:
            measured = random["edges_per_s"]
            how = f"edges traversed per second of recall wall time, {_where(random)}"
        elif unit == "µs" and random:
            measured = random["p99_us"]
            how = (
                f"p99 recall latency ({random['touched_median']:,.0f} nodes touched "
                f"median, p50 {random['p50_us']:,.0f} µs), {_where(random)}"
            )
        elif unit == "efficiency":
            measured, how = _efficiency(records)
        elif unit == "updates/s" and small_world:
            measured = small_world["edges_per_s"]
            how = (
                f"edges traversed per second of recall wall time, {_where(small_world)}"
            )
        if how is None:
            how = "not measured: no recall of the reference on that topology"
        ratio = None
        if measured:
            ratio = claimed / measured if unit == "µs" else measured / claimed
        rows.append(
            {
                "claim": claim,
                "claimed": _format(claimed, unit),
                "measured": "" if measured is None else _format(measured, unit),
                "ratio": _ratio(ratio),
                "measured as": how,
                "_ratio": ratio,
            }
        )
    return rows


def _format(value, unit):
    if unit == "µs":
        return f"{value:,.0f} µs"
    if unit == "efficiency":
        return f"{value:.0%}"
    return f"{value / 1e6:,.1f} M {unit}"
