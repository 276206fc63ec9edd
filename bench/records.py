"""Benchmark records: one dict per measurement, the run's metadata, and files.

A record is a plain dict with the fields of :data:`FIELDS` (``bench/README.md``
defines each one). Plain dicts keep the JSON and CSV files readable by any
tool and let an old results file be compared with a new one field by field.
"""

import csv
import importlib.metadata
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

__all__ = [
    "FIELDS",
    "METRICS",
    "PeakRss",
    "add_ratios",
    "load_results",
    "make_record",
    "run_metadata",
    "write_results",
]

#: Every record has these keys, in this order (the CSV's columns).
FIELDS = (
    "workload",
    "variant",
    "topology",
    "nodes",
    "edges",
    "system",
    "actors",
    "status",
    "reason",
    "note",
    "metric",
    "value",
    "value_min",
    "value_max",
    "ratio_vs_reference",
    "edges_per_s",
    "p50_us",
    "p99_us",
    "seconds",
    "touched_median",
    "spikes_median",
    "threshold",
    "peak_rss_mb",
    "repeats",
)

#: The headline metric of each workload and whether more is better.
METRICS = {
    "build": ("seconds", False),
    "full_wave": ("edges_per_s", True),
    "recall": ("p50_us", False),
    "neural_recall": ("p50_us", False),
    "io": ("seconds", False),
}

#: What a record's status may be.
STATUSES = ("ok", "unsupported", "unavailable", "skipped", "error")

# Package names whose versions go into the metadata, by the name pip knows.
_PACKAGES = (
    "numpy",
    "numba",
    "scipy",
    "networkx",
    "python-graphblas",
    "suitesparse-graphblas",
    "igraph",
    "networkit",
    "matplotlib",
    "psutil",
    "engram-actors",
)


def make_record(workload, topology, nodes, edges, system, **fields):
    """A record with every field of :data:`FIELDS`, unset ones None.

    ``status`` defaults to ``"ok"``; ``metric`` to the workload's headline
    metric, and ``value`` to that field's value when it is given.
    """
    record = dict.fromkeys(FIELDS)
    record.update(
        workload=workload,
        topology=topology,
        nodes=int(nodes),
        edges=int(edges),
        system=system,
        actors=1,
        status="ok",
        repeats=0,
    )
    record.update(fields)
    if record["status"] not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, got {record['status']!r}")
    metric = METRICS.get(workload, (None, None))[0]
    if record["metric"] is None:
        record["metric"] = metric
    if record["value"] is None and record["metric"] is not None:
        record["value"] = record.get(record["metric"])
    return record


class PeakRss:
    """The process's peak resident memory over one measurement, in MB.

    On Linux the kernel's high-water mark (``VmHWM``) is reset before the
    measurement by writing 5 to ``/proc/self/clear_refs`` and read after it,
    so the figure is the most memory the whole process held while that
    measurement ran: the graph, every other system's copy that is alive,
    and what the measurement itself allocated. Where the reset is not
    possible it falls back to ``getrusage``'s ``ru_maxrss``, the high-water
    mark since the process started, and says so in ``how``.
    """

    def __init__(self):
        self.how = "VmHWM reset per measurement"
        try:
            with open("/proc/self/clear_refs", "w") as clear:
                clear.write("5")
            with open("/proc/self/status") as status:
                if "VmHWM" not in status.read():
                    raise OSError("no VmHWM")
        except OSError:
            self.how = "ru_maxrss since process start"

    def __enter__(self):
        if self.how.startswith("VmHWM"):
            with open("/proc/self/clear_refs", "w") as clear:
                clear.write("5")
        self.mb = None
        return self

    def __exit__(self, *exc):
        self.mb = self.read_mb()
        return False

    def read_mb(self):
        """The current high-water mark in MB."""
        if self.how.startswith("VmHWM"):
            with open("/proc/self/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gb():
    try:
        import psutil

        return round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        return None


def _git(*args):
    try:
        done = subprocess.run(
            ["git", *args],
            capture_output=True,
            text=True,
            timeout=10,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def run_metadata(argv=None):
    """Where and with what the run was made: machine, versions, commit, time."""
    versions = {"python": platform.python_version()}
    for package in _PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": " ".join(sys.argv if argv is None else ["bench/run.py", *argv]),
        "machine": {
            "cpu": _cpu_model(),
            "cores": os.cpu_count(),
            "memory_gb": _memory_gb(),
            "platform": platform.platform(),
        },
        "versions": versions,
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": None if status is None else bool(status),
        "peak_rss": PeakRss().how,
    }


def add_ratios(records):
    """Set ``ratio_vs_reference`` on every ok record, in place.

    The reference is the record of system ``"reference"`` with the same
    workload, variant, topology and size, measured in the same run. The
    ratio is oriented so that above 1 is better than the reference: the
    value over the reference's for throughput, the reference's over the
    value for times.
    """
    references = {
        _group(r): r["value"]
        for r in records
        if r["system"] == "reference" and r["status"] == "ok" and r["value"]
    }
    for record in records:
        reference = references.get(_group(record))
        if record["status"] != "ok" or not reference or not record["value"]:
            continue
        higher_is_better = METRICS[record["workload"]][1]
        ratio = record["value"] / reference
        record["ratio_vs_reference"] = ratio if higher_is_better else 1 / ratio
    return records


def _group(record):
    return (record["workload"], record["variant"], record["topology"], record["nodes"])


def write_results(records, meta, out_dir, stamp=None):
    """Write ``<stamp>.json``, ``<stamp>.csv`` and ``latest.json``.

    Returns the path of the JSON file. Latency samples (``latencies_us``)
    go into the JSON only; the CSV holds the fields of :data:`FIELDS`.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = stamp or meta["timestamp"].replace(":", "-")
    path = out_dir / f"{stamp}.json"
    with open(path, "w") as stream:
        json.dump({"meta": meta, "records": records}, stream, indent=1)
        stream.write("\n")
    with open(path.with_suffix(".csv"), "w", newline="") as stream:
        writer = csv.DictWriter(stream, FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(records)
    shutil.copyfile(path, out_dir / "latest.json")
    return path


def load_results(path):
    """The ``(meta, records)`` of a results JSON file."""
    with open(path) as stream:
        document = json.load(stream)
    return document["meta"], document["records"]
