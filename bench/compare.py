"""Compare a results file with an earlier one and flag regressions.

::

    python bench/compare.py BASELINE.json [CURRENT.json] [--tolerance 0.15]

CURRENT defaults to ``bench/results/latest.json``. Records are matched on
workload, variant, topology, nodes, system and actors, and compared on
their workload's headline metric (``records.METRICS``). A figure is flagged
as a regression when both hold:

1. its median is worse than the baseline's by more than ``tolerance``
   (a share: 0.15 is 15%), and
2. its whole spread (``value_min`` to ``value_max``: the repeats, or for
   recall the p50 of each fifth of the cue sets) lies on the worse side of
   the baseline's spread, with no overlap.

The first rule ignores small drifts; the second ignores large ones that the
runs' own noise already covers, which on a shared machine is common. A
figure that was ok and now ends in an error is flagged too. The exit status
is 1 when anything is flagged, else 0.
"""

import argparse
import sys
from pathlib import Path

from records import METRICS, load_results
from report import markdown_table

__all__ = ["compare", "main"]

DEFAULT_TOLERANCE = 0.15  # 15%: above run-to-run drift of medians here


def _key(record):
    return (
        record["workload"],
        record["variant"],
        record["topology"],
        record["nodes"],
        record["system"],
        record["actors"],
    )


def _verdict(old, new, tolerance):
    """``(flagged, change)``: whether ``new`` regressed from ``old``."""
    if old["status"] == "ok" and new["status"] == "error":
        return True, f"now an error: {new['reason']}"
    if old["status"] != "ok" or new["status"] != "ok":
        return False, f"status {old['status']} -> {new['status']}"
    higher_is_better = METRICS[new["workload"]][1]
    if not old["value"] or not new["value"]:
        return False, "no value"
    change = new["value"] / old["value"] - 1
    worse = -change if higher_is_better else change
    if higher_is_better:
        apart = (new["value_max"] or new["value"]) < (old["value_min"] or old["value"])
    else:
        apart = (new["value_min"] or new["value"]) > (old["value_max"] or old["value"])
    return worse > tolerance and apart, f"{change:+.1%}"


def compare(baseline, current, tolerance=DEFAULT_TOLERANCE):
    """Rows comparing two lists of records, and whether any is flagged."""
    previous = {_key(r): r for r in baseline}
    rows, flagged_any = [], False
    for record in current:
        old = previous.get(_key(record))
        if old is None:
            continue
        flagged, change = _verdict(old, record, tolerance)
        flagged_any |= flagged
        rows.append(
            {
                "workload": record["workload"]
                + (f" ({record['variant']})" if record["variant"] else ""),
                "topology": record["topology"],
                "nodes": f"{record['nodes']:,}",
                "system": record["system"]
                + (f" x{record['actors']}" if record["system"] == "engine" else ""),
                "metric": record["metric"],
                "before": _number(old["value"]),
                "now": _number(record["value"]),
                "change": change,
                "verdict": "REGRESSION" if flagged else "",
            }
        )
    return rows, flagged_any


def _number(value):
    return "" if value is None else f"{value:.4g}"


def main(argv=None):
    """Print the comparison; return the exit status (1: a regression)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("baseline", type=Path)
    default = Path(__file__).resolve().parent / "results" / "latest.json"
    parser.add_argument("current", type=Path, nargs="?", default=default)
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE)
    args = parser.parse_args(argv)
    _, baseline = load_results(args.baseline)
    _, current = load_results(args.current)
    rows, flagged = compare(baseline, current, args.tolerance)
    print(markdown_table(rows) or "no figures in common")
    regressions = sum(row["verdict"] == "REGRESSION" for row in rows)
    print(f"\n{regressions} regression(s) of {len(rows)} figures compared")
    return 1 if flagged else 0


if __name__ == "__main__":
    sys.exit(main())
