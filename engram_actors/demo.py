"""The main job: spreads over a million-node memory graph, timed.

``make demo`` runs this with no arguments. The default graph (a random
graph of a million memories with ten associations each) is generated on
the first run and cached under the project's cache folder, so later runs
start in about a second.
"""

import logging
import time

import numpy as np

from .config import SpreadConfig
from .sources import cache_dir

log = logging.getLogger(__name__)

#: Edges per node of the demo graph: dense enough that three waves from ten
#: cues reach thousands of memories, sparse enough to fit 1M nodes in
#: about 90 MiB.
DEMO_AVG_DEGREE = 10

#: Firing threshold of the demo's query spreads. On the default graph it
#: lets about 1,000 memories light up from 10 cues in 3 waves (median over
#: 200 random cue sets: 0.45 gave 1,190, 0.5 gave 855), the size of recall
#: the latency figure is quoted for.
DEMO_THRESHOLD = 0.47

#: Cues per query spread.
DEMO_CUES = 10


def demo_graph(nodes, seed):
    """The cached demo graph, generating and saving it on first use."""
    from . import generators, io

    path = cache_dir() / f"demo-random-{nodes}-d{DEMO_AVG_DEGREE}-s{seed}.npz"
    if path.exists():
        started = time.perf_counter()
        graph = io.load(path, mmap=True)
        print(f"loaded {path} in {time.perf_counter() - started:.2f} s")
        return graph
    print(f"generating the demo graph ({nodes:,} nodes); cached for next time")
    started = time.perf_counter()
    graph = generators.erdos_renyi(nodes, DEMO_AVG_DEGREE, seed=seed)
    built = time.perf_counter() - started
    path.parent.mkdir(parents=True, exist_ok=True)
    io.save(graph, path)
    print(f"generated in {built:.2f} s, saved to {path}")
    return graph


def run_demo(nodes=1_000_000, spreads=1000, seed=0, actors=None, use_reference=False):
    """Generate or load the demo graph, run spreads and print the figures.

    The spreads run on the parallel engine with ``actors`` actors (one per
    usable CPU by default), or on the sequential reference.
    """
    graph = demo_graph(nodes, seed)
    print(f"graph: {graph.num_nodes:,} nodes, {graph.num_edges:,} edges")
    if use_reference:
        from . import reference

        print("runner: the sequential reference")
        _run(graph, lambda cues, config: reference.spread(graph, cues, config),
             spreads, seed)  # fmt: skip
        return
    from .engine import Engine

    started = time.perf_counter()
    with Engine(graph, actors=actors) as engine:
        print(
            f"runner: the engine, {engine.actors} actors "
            f"(started in {time.perf_counter() - started:.2f} s)"
        )
        _run(graph, engine.spread, spreads, seed)


def _run(graph, spread, spreads, seed):
    rng = np.random.default_rng(seed + 1)
    config = SpreadConfig(threshold=DEMO_THRESHOLD, max_hops=3)

    # The first spread compiles the kernels (or loads them from the cache).
    started = time.perf_counter()
    spread({0: 1.0}, config)
    print(f"first spread (kernel load) {time.perf_counter() - started:.2f} s")

    # The full wave first: it also brings every page of the graph into
    # memory, so the recall latencies below are those of a warm graph.
    everything = (
        np.arange(graph.num_nodes, dtype=np.int32),
        np.ones(graph.num_nodes, np.float32),
    )
    wave = SpreadConfig(threshold=0.0, max_hops=1)
    rates = [spread(everything, wave).stats.edges_per_s for _ in range(5)]
    print(
        f"full wave over all {graph.num_edges:,} edges: "
        f"{np.median(rates) / 1e6:.0f} M edges/s (median of 5)"
    )

    latencies = np.empty(spreads)
    touched = np.empty(spreads, np.int64)
    first = None
    for i in range(spreads):
        cue_ids = rng.choice(graph.num_nodes, DEMO_CUES, replace=False)
        cues = (cue_ids, np.ones(DEMO_CUES))
        started = time.perf_counter()
        result = spread(cues, config)
        latencies[i] = time.perf_counter() - started
        touched[i] = len(result)
        if first is None:
            first = result
    p50, p99 = np.percentile(latencies, [50, 99]) * 1e6
    print(
        f"{spreads} recall spreads ({DEMO_CUES} cues, {config.max_hops} waves, "
        f"threshold {config.threshold}): median {np.median(touched):.0f} "
        f"memories lit, latency p50 {p50:.0f} us, p99 {p99:.0f} us"
    )

    cues = first.nodes[first.first_hop == 0]
    print(f"\nfirst recall, cued by {', '.join(map(str, cues.tolist()))}")
    print("the memories it brought back most strongly:")
    recalled = first.first_hop > 0
    order = np.lexsort((first.nodes[recalled], -first.activation[recalled]))[:10]
    print(f"{'rank':>4}  {'node':>9}  {'activation':>10}  {'hop':>3}")
    for rank, i in enumerate(order, 1):
        node = first.nodes[recalled][i]
        activation = first.activation[recalled][i]
        hop = first.first_hop[recalled][i]
        print(f"{rank:>4}  {node:>9}  {activation:>10.4f}  {hop:>3}")
