"""Soak: many spreads with random cues and configurations on one engine,
watching that nothing grows.

Every ``--sample`` spreads it records the driver's and the actors' resident
memory, their open file descriptors, and the engram segments in
``/dev/shm`` (count and bytes); every ``--check`` spreads it compares a
spread with the sequential reference, bit for bit. At the end it prints the
first and last samples and exits with status 1 if resident memory grew by
more than ``--rss-growth-mb`` (unique set size: resident memory no other
process maps, so that the shared segments' pages, resident once first
touched, do not count), or if descriptors or segments changed at all.

    python bench/soak.py --spreads 100000 --nodes 100000 --actors 2
"""

import argparse
import os
import sys
import time

import numpy as np
import psutil

from engram_actors import Engine, SpreadConfig, generators, reference
from shm import segments

#: Share of spreads given a wide cue set, so that waves reach the actors
#: (the others stay in the driver, as small recalls do).
WIDE_SHARE = 0.02


def random_config(rng):
    """A random but valid model configuration."""
    return SpreadConfig(
        decay=float(rng.uniform(0.05, 1.0)),
        threshold=float(rng.choice([0.0, rng.uniform(0.0, 0.5)])),
        max_hops=int(rng.integers(0, 7)),
        fan_normalize=bool(rng.integers(0, 2)),
        refractory_waves=int(rng.integers(0, 3)),
        max_activation=None if rng.random() < 0.7 else float(rng.uniform(0.5, 3)),
    )


def random_cues(rng, num_nodes):
    """A few cues, or now and then many (a wide, parallel spread)."""
    count = int(rng.integers(1, 50))
    if rng.random() < WIDE_SHARE:
        count = int(rng.integers(num_nodes // 10, num_nodes // 2))
    ids = rng.choice(num_nodes, count, replace=False).astype(np.int32)
    return ids, rng.uniform(0.1, 2.0, count).astype(np.float32)


def sample(engine):
    """Resident MB and open descriptors of the driver and actors, and the
    engine's segments."""
    processes = [psutil.Process()] + [psutil.Process(p.pid) for p in engine._processes]
    rss = sum(p.memory_info().rss for p in processes) / 2**20
    # Unique set size: memory no other process maps. Resident size also
    # counts the shared segments' pages, which grow as spreads first touch
    # them; USS is what a leak would raise.
    uss = sum(p.memory_full_info().uss for p in processes) / 2**20
    fds = sum(p.num_fds() for p in processes)
    owned = [s for s in segments.list_segments() if s.pid == os.getpid()]
    return {
        "rss_mb": rss,
        "uss_mb": uss,
        "fds": fds,
        "segments": len(owned),
        "segment_bytes": sum(s.size for s in owned),
    }


def soak(spreads, nodes, actors, seed=0, sample_every=1000, check_every=500):
    """Run the soak; returns (samples, mismatches, seconds)."""
    graph = generators.generate("random", nodes, seed=seed)
    rng = np.random.default_rng(seed + 1)
    samples = []
    mismatches = 0
    with Engine(graph, actors=actors) as engine:
        # Warm caches, allocator pools and the reference's workspace first,
        # with wide spreads among them so the actors have run too.
        for i in range(50):
            cues, config = _case(rng, graph)
            if i % 10 == 0:
                ids = np.arange(0, graph.num_nodes, 3, dtype=np.int32)
                cues = (ids, np.ones(ids.size, np.float32))
            engine.spread(cues, config)
            reference.spread(graph, cues, config)
        started = time.perf_counter()
        samples.append({"spreads": 0, **sample(engine)})
        for i in range(1, spreads + 1):
            cues, config = _case(rng, graph)
            result = engine.spread(cues, config)
            if i % check_every == 0:
                expected = reference.spread(graph, cues, config)
                same = np.array_equal(result.nodes, expected.nodes) and np.array_equal(
                    result.activation.view(np.uint32),
                    expected.activation.view(np.uint32),
                )
                mismatches += not same
            if i % sample_every == 0 or i == spreads:
                samples.append({"spreads": i, **sample(engine)})
        seconds = time.perf_counter() - started
    return samples, mismatches, seconds


def _case(rng, graph):
    return random_cues(rng, graph.num_nodes), random_config(rng)


def verdict(samples, mismatches, rss_growth_mb):
    """Problems found, as sentences (empty when the soak is clean)."""
    first, last = samples[0], samples[-1]
    problems = []
    growth = max(s["uss_mb"] for s in samples) - first["uss_mb"]
    if growth > rss_growth_mb:
        problems.append(f"unique memory grew by {growth:.1f} MB")
    for key in ("fds", "segments", "segment_bytes"):
        if any(s[key] != first[key] for s in samples):
            problems.append(f"{key} changed: {first[key]} -> {last[key]}")
    if mismatches:
        problems.append(f"{mismatches} spreads differed from the reference")
    return problems


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spreads", type=int, default=100_000)
    parser.add_argument("--nodes", type=int, default=100_000)
    parser.add_argument("--actors", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sample", type=int, default=5_000)
    parser.add_argument("--check", type=int, default=500)
    parser.add_argument("--rss-growth-mb", type=float, default=20.0)
    args = parser.parse_args(argv)
    samples, mismatches, seconds = soak(
        args.spreads, args.nodes, args.actors, args.seed, args.sample, args.check
    )
    print(f"{args.spreads:,} spreads in {seconds:.1f} s on {args.nodes:,} nodes")
    print(
        f"{'spreads':>9} {'RSS MB':>8} {'USS MB':>8} {'fds':>5} {'segments':>8} "
        f"{'bytes':>12}"
    )
    for s in samples:
        print(
            f"{s['spreads']:>9,} {s['rss_mb']:>8.1f} {s['uss_mb']:>8.1f} "
            f"{s['fds']:>5} {s['segments']:>8} {s['segment_bytes']:>12,}"
        )
    print(f"checked against the reference every {args.check}: {mismatches} differ")
    problems = verdict(samples, mismatches, args.rss_growth_mb)
    for problem in problems:
        print("PROBLEM:", problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
