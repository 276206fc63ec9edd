"""A short soak: many spreads on one engine leave memory, descriptors and
segments where they were. ``ENGRAM_SOAK_SPREADS=100000`` runs the long one
(``python bench/soak.py`` prints its table)."""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import soak  # noqa: E402

SPREADS = int(os.environ.get("ENGRAM_SOAK_SPREADS", "1500"))


def test_many_random_spreads_leak_nothing_and_match_the_reference():
    samples, mismatches, _ = soak.soak(
        SPREADS, nodes=20_000, actors=2, seed=3, sample_every=500, check_every=100
    )
    assert len(samples) >= 2
    assert soak.verdict(samples, mismatches, rss_growth_mb=20.0) == []


def test_the_verdict_names_what_grew():
    first = {"rss_mb": 100.0, "uss_mb": 50.0, "fds": 10, "segments": 3,
             "segment_bytes": 4096}  # fmt: skip
    grown = dict(first, uss_mb=90.0, fds=11)
    problems = soak.verdict([first, grown], mismatches=2, rss_growth_mb=20.0)
    assert problems == [
        "unique memory grew by 40.0 MB",
        "fds changed: 10 -> 11",
        "2 spreads differed from the reference",
    ]
