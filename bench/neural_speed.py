"""What the neural model costs, each figure beside its baseline in one run.

1. kernel: one gamma cycle's integration of a block of driven nodes,
   :func:`engram_actors.models.neural.integrate_cycle` (vectorised: steps
   outer, nodes inner, branch-free) against
   :func:`~engram_actors.models.neural.integrate_cycle_scalar` (the same
   float32 arithmetic node by node, with branches), on the same inputs, at
   several block sizes: ns per node-step of each, the speed-up, a check
   that both leave the same bits, and the packed and scalar float
   instructions in the assembly of a freshly compiled vectorised kernel.
2. edges: what a traversed edge costs in the neural model against the
   pulse model, on the bench's graphs (1M nodes, 10 edges a node, four
   topologies): the same cue sets spread with the neural model
   (``max_cycles`` cycles) and with the pulse model (as many waves) at
   threshold 0 (every reached node fires) and at a threshold bisected so
   that it traverses about as many edges as the neural spreads, by the
   sequential reference and by ``Engine(actors=k)``, as it runs and with
   every wave handed to its actors. Wall time per spread
   as the caller sees it, edges traversed (``stats.edges_traversed``), ns
   per edge and the neural/pulse ratio; for the neural model also ns per
   driven node-cycle (``trace["driven"]``), since every driven node is
   integrated for a whole cycle's steps.

Results go to ``bench/results/neural-<UTC timestamp>.json`` and ``.md``.

    python bench/neural_speed.py [--nodes 1e6] [--topologies random ...]
"""

import argparse
import collections
import hashlib
import json
import re
import statistics
import sys
import time
from pathlib import Path

import numba as nb
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from engine_speed import load_graph  # noqa: E402
from records import run_metadata  # noqa: E402

import engram_actors.engine as engine_module  # noqa: E402
from engram_actors import Engine, SpreadConfig, generators, reference  # noqa: E402
from engram_actors.config import NeuralConfig  # noqa: E402
from engram_actors.models import neural  # noqa: E402
from engram_actors.neural_model import dynamics_of  # noqa: E402

TOPOLOGIES = ("random", "small-world", "scale-free", "hierarchical")
RESULTS = Path(__file__).parent / "results"
CACHE_FROM = 100_000  # smaller graphs are generated, not cached
NODE_STEPS_PER_TIMING = 2_500_000  # kernel calls per timing: about this much
FIRING_SHARE = 0.4  # kernel inputs: nodes driven above threshold
REFRACTORY_SHARE = 0.2  # kernel inputs: nodes refractory when the cycle starts
WARMUP = 2  # untimed spreads per runner and model first
CALIBRATION_SETS = 10  # cue sets the matched threshold is bisected on
CALIBRATION_STEPS = 30


# -- 1. the kernel ----------------------------------------------------------


def kernel_inputs(n, seed):
    """Block arrays as a spread leaves them before a cycle: potentials below
    threshold, resources part used, a share of nodes refractory, and drives
    of which ``FIRING_SHARE`` lie above threshold (1 to 4 thresholds: most
    of those nodes spike once or more in the cycle) and the rest below."""
    rng = np.random.default_rng(seed)
    fires = rng.random(n) < FIRING_SHARE
    u_inf = np.where(fires, rng.uniform(1.0, 4.0, n), rng.uniform(0.0, 1.0, n))
    refractory = rng.random(n) < REFRACTORY_SHARE
    return {
        "u": rng.uniform(0.0, 0.9, n).astype(np.float32),
        "u_inf": u_inf.astype(np.float32),
        "r": rng.uniform(0.3, 1.0, n).astype(np.float32),
        "ref": np.where(refractory, rng.integers(1, 4, n), 0).astype(np.int32),
    }


def fresh_block(inputs):
    """The 8 block arrays of one cycle, from ``inputs``, outputs cleared."""
    n = inputs["u"].size
    return [
        inputs["u"].copy(),
        inputs["u_inf"].copy(),
        inputs["r"].copy(),
        inputs["ref"].copy(),
        np.zeros(n, np.float32),
        np.zeros(n, np.int32),
        np.full(n, -1, np.int32),
        np.full(n, -1, np.int32),
    ]


@nb.njit(nogil=True, inline="always")
def _restore(n, u0, r0, ref0, u, r, ref, out, count, first, last):
    for i in range(n):
        u[i] = u0[i]
        r[i] = r0[i]
        ref[i] = ref0[i]
        out[i] = 0
        count[i] = 0
        first[i] = -1
        last[i] = -1


@nb.njit(nogil=True)
def restore_loop(calls, n, u0, r0, ref0, u, u_inf, r, ref, out, count, first,
                 last):  # fmt: skip
    """Only the restoring of the block, ``calls`` times: the overhead the
    kernel loops below carry, subtracted from their times."""
    for _ in range(calls):
        _restore(n, u0, r0, ref0, u, r, ref, out, count, first, last)


@nb.njit(nogil=True)
def vector_loop(calls, n, u0, r0, ref0, u, u_inf, r, ref, out, count, first,
                last, u_threshold, u_reset, leak, recover, depletion,
                refractory_after, steps):  # fmt: skip
    """``calls`` cycles of the vectorised kernel, each from the same block,
    called from compiled code as ``integrate_list`` calls it."""
    for _ in range(calls):
        _restore(n, u0, r0, ref0, u, r, ref, out, count, first, last)
        neural.integrate_cycle(
            n, u, u_inf, r, ref, out, count, first, last, u_threshold,
            u_reset, leak, recover, depletion, refractory_after, steps,
        )  # fmt: skip


@nb.njit(nogil=True)
def scalar_loop(calls, n, u0, r0, ref0, u, u_inf, r, ref, out, count, first,
                last, u_threshold, u_reset, leak, recover, depletion,
                refractory_after, steps, ids, spike_ids,
                spike_steps):  # fmt: skip
    """``calls`` cycles of the node-by-node kernel, not recording spikes."""
    for _ in range(calls):
        _restore(n, u0, r0, ref0, u, r, ref, out, count, first, last)
        neural.integrate_cycle_scalar(
            n, u, u_inf, r, ref, out, count, first, last, u_threshold,
            u_reset, leak, recover, depletion, refractory_after, steps, ids,
            0, spike_ids, spike_steps, 0,
        )  # fmt: skip


def no_recording():
    return np.empty(0, np.uint32), np.empty(0, np.int64)


def check_identical(inputs, dynamics):
    """Run both kernels once on the same block; assert the same bits.

    Returns (spikes per node-step, share of nodes that spiked)."""
    n = inputs["u"].size
    steps = int(dynamics[6])
    vector, scalar = fresh_block(inputs), fresh_block(inputs)
    neural.integrate_cycle(n, *vector, *dynamics)
    ids = np.arange(n, dtype=np.uint32)
    neural.integrate_cycle_scalar(n, *scalar, *dynamics, ids, 0, *no_recording(), 0)
    names = ("u", "u_inf", "r", "ref", "out", "count", "first", "last")
    for name, a, b in zip(names, vector, scalar, strict=True):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), (
            f"integrate_cycle and integrate_cycle_scalar differ in {name!r} "
            f"for a block of {n} nodes"
        )
    count = vector[5]
    return float(count.sum()) / (n * steps), float((count > 0).mean())


def time_kernels(n, dynamics, repeats, seed):
    """ns per node-step of both kernels on one block of ``n`` nodes."""
    steps = int(dynamics[6])
    inputs = kernel_inputs(n, seed)
    spike_rate, spiking = check_identical(inputs, dynamics)
    calls = max(1, NODE_STEPS_PER_TIMING // (n * steps))
    work = fresh_block(inputs)
    pristine = (inputs["u"], inputs["r"], inputs["ref"])
    ids = np.arange(n, dtype=np.uint32)
    loops = {
        "restore": lambda: restore_loop(calls, n, *pristine, *work),
        "vectorised": lambda: vector_loop(calls, n, *pristine, *work, *dynamics),
        "scalar": lambda: scalar_loop(
            calls, n, *pristine, *work, *dynamics, ids, *no_recording()
        ),
    }
    times = {name: [] for name in loops}
    for loop in loops.values():
        loop()  # compile
    for _ in range(repeats):  # interleaved, so drift hits all three alike
        for name, loop in loops.items():
            started = time.perf_counter()
            loop()
            times[name].append(time.perf_counter() - started)
    # The last call left the state of one cycle from the block: the same bits?
    restored = fresh_block(inputs)
    neural.integrate_cycle(n, *restored, *dynamics)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(work, restored, strict=True))
    node_steps = calls * n * steps
    overhead = statistics.median(times["restore"])
    row = {
        "nodes": n,
        "steps": steps,
        "calls_per_timing": calls,
        "repeats": repeats,
        "spikes_per_node_step": spike_rate,
        "share_spiking": spiking,
        "share_refractory_at_start": float((inputs["ref"] > 0).mean()),
        "restore_ns_per_node_step": overhead / node_steps * 1e9,
        "bit_identical": True,
    }
    for name in ("vectorised", "scalar"):
        net = [t - overhead for t in times[name]]
        row[f"{name}_ns_per_node_step"] = statistics.median(net) / node_steps * 1e9
        row[f"{name}_ns_per_node_step_min"] = min(net) / node_steps * 1e9
        row[f"{name}_ns_per_node_step_max"] = max(net) / node_steps * 1e9
        row[f"{name}_raw_ns_per_node_step"] = (
            statistics.median(times[name]) / node_steps * 1e9
        )
    row["speedup"] = row["scalar_ns_per_node_step"] / row["vectorised_ns_per_node_step"]
    return row


FLOAT_OPS = r"v?(?:add|sub|mul|div|min|max|fmadd\d*|fmsub\d*|fnmadd\d*|blendv|cmp\w*)"


def count_float_ops(asm):
    """Packed (``...ps`` on ymm or xmm) and scalar (``...ss``) float32
    arithmetic, compares and blends in ``asm``, by mnemonic; and masked
    moves (``vmaskmovps``, ``vpmaskmovd``), loads and stores: the form LLVM
    gives a store it could not turn into a select, which AMD Zen cores run
    far slower than a plain store."""
    packed, scalar = collections.Counter(), collections.Counter()
    masked = collections.Counter()
    for line in asm.splitlines():
        store = re.match(r"\s+(v(?:p)?maskmov[a-z]*)\s+(.*)", line)
        if store:
            # AT&T order: a memory operand last is a store, first a load.
            kind = "store" if store.group(2).rstrip().endswith(")") else "load"
            masked[f"{store.group(1)} {kind}"] += 1
        match = re.match(rf"\s+({FLOAT_OPS})(ps|ss)\s+(.*)", line)
        if not match:
            continue
        mnemonic = match.group(1) + match.group(2)
        if match.group(2) == "ss":
            scalar[mnemonic] += 1
        else:
            width = "zmm" if "zmm" in line else "ymm" if "ymm" in line else "xmm"
            packed[f"{mnemonic} {width}"] += 1
    return {
        "packed_ymm": sum(c for k, c in packed.items() if k.endswith("ymm")),
        "packed_xmm": sum(c for k, c in packed.items() if k.endswith("xmm")),
        "packed_zmm": sum(c for k, c in packed.items() if k.endswith("zmm")),
        "scalar_ss": sum(scalar.values()),
        "masked_stores": sum(c for k, c in masked.items() if k.endswith("store")),
        "masked": dict(sorted(masked.items())),
        "packed": dict(sorted(packed.items())),
        "scalar": dict(sorted(scalar.items())),
    }


def inspect_kernels(dynamics):
    """Float instructions of freshly compiled kernels (cached code cannot be
    inspected): the vectorised one, and the scalar one for comparison."""
    block = neural.new_block()
    vector = nb.njit(nogil=True)(neural.integrate_cycle.py_func)
    vector(16, *block, *dynamics)
    scalar = nb.njit(nogil=True)(neural.integrate_cycle_scalar.py_func)
    ids = np.arange(16, dtype=np.uint32)
    scalar(16, *block, *dynamics, ids, 0, *no_recording(), 0)
    return {
        "integrate_cycle": count_float_ops("".join(vector.inspect_asm().values())),
        "integrate_cycle_scalar": count_float_ops(
            "".join(scalar.inspect_asm().values())
        ),
        "cpu_features": sorted(
            f for f in ("avx", "avx2", "avx512f", "fma") if f in _cpu_flags()
        ),
    }


def _cpu_flags():
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


# -- 2. cost per edge -------------------------------------------------------


def get_graph(topology, nodes):
    """The bench's graph (``engine_speed.load_graph``: seed 1, cached from
    ``CACHE_FROM`` nodes; generated alike below that)."""
    if nodes >= CACHE_FROM:
        return load_graph(topology, nodes)
    return generators.generate(topology, nodes, seed=1)


def cue_sets(num_nodes, count, size, seed):
    rng = np.random.default_rng(seed)
    size = min(size, num_nodes)
    return [
        np.sort(rng.choice(num_nodes, size, replace=False)).astype(np.int32)
        for _ in range(count)
    ]


def as_cues(ids):
    return ids, np.ones(ids.size, np.float32)


def matched_threshold(graph, sets, neural_config, hops):
    """The pulse threshold at which the reference traverses about as many
    edges as the neural model from the same cue sets (bisected; more
    threshold, fewer edges)."""
    sample = sets[:CALIBRATION_SETS]
    target = sum(
        reference.spread(graph, as_cues(c), neural_config).stats.edges_traversed
        for c in sample
    )
    low, high = 0.0, 1.0
    for _ in range(CALIBRATION_STEPS):
        middle = (low + high) / 2
        config = SpreadConfig(threshold=middle, max_hops=hops)
        edges = sum(
            reference.spread(graph, as_cues(c), config).stats.edges_traversed
            for c in sample
        )
        if edges > target:
            low = middle
        else:
            high = middle
    return high


def _digest(result):
    return hashlib.blake2b(
        result.nodes.tobytes() + result.activation.tobytes(), digest_size=16
    ).hexdigest()


def measure_spreads(spread, sets, configs):
    """Each config's spreads of every cue set, interleaved set by set."""
    for ids in sets[:WARMUP]:
        for config in configs.values():
            spread(as_cues(ids), config)
    runs = {name: collections.defaultdict(list) for name in configs}
    for ids in sets:
        for name, config in configs.items():
            started = time.perf_counter()
            result = spread(as_cues(ids), config)
            seconds = time.perf_counter() - started
            run = runs[name]
            run["seconds"].append(seconds)
            run["edges"].append(result.stats.edges_traversed)
            run["touched"].append(len(result))
            run["runner"].append(result.stats.runner)
            run["digest"].append(_digest(result))
            if hasattr(result, "trace"):
                run["driven"].append(int(result.trace["driven"].sum()))
                run["spikes"].append(int(result.trace["spikes"].sum()))
    return runs


def summarise(run, steps):
    seconds, edges = sum(run["seconds"]), sum(run["edges"])
    row = {
        "spreads": len(run["seconds"]),
        "seconds": seconds,
        "edges": edges,
        "ns_per_edge": seconds / edges * 1e9 if edges else None,
        "edges_per_spread_median": float(np.median(run["edges"])),
        "touched_median": float(np.median(run["touched"])),
        "ms_per_spread_p50": float(np.median(run["seconds"]) * 1e3),
        "ms_per_spread_p99": float(np.percentile(run["seconds"], 99) * 1e3),
        "runners": dict(collections.Counter(run["runner"])),
    }
    if run["driven"]:
        driven = sum(run["driven"])
        row["driven_node_cycles"] = driven
        row["spikes"] = sum(run["spikes"])
        row["ns_per_driven_node_cycle"] = seconds / driven * 1e9
        row["driven_node_steps_per_edge"] = driven * steps / edges if edges else None
    return row


def measure_topology(topology, args, steps, kernel_ns):
    """Every spread measurement on one graph: for each workload (many cues,
    few cues) the three models, by the reference and then by the engine."""
    graph = get_graph(topology, int(args.nodes))
    graph.reverse()  # the engine's pull view, built before anything is timed
    hops = args.cycles
    neural_config = NeuralConfig(max_cycles=hops)
    workloads = {
        "wave": cue_sets(graph.num_nodes, args.wave_sets, args.wave_cues, seed=11),
        "recall": cue_sets(
            graph.num_nodes, args.recall_sets, args.recall_cues, seed=12
        ),
    }
    entry = {"nodes": graph.num_nodes, "edges": graph.num_edges, "workloads": {}}
    print(f"\n== {topology}: {graph.num_nodes:,} nodes, {graph.num_edges:,} edges")
    engine_name = f"engine x{args.actors}"
    with Engine(graph, actors=args.actors) as engine:
        runners = {
            "reference": lambda c, k: reference.spread(graph, c, k),
            engine_name: engine.spread,
            f"{engine_name} actors": lambda c, k: on_actors(engine, c, k),
        }
        for workload, sets in workloads.items():
            threshold = matched_threshold(graph, sets, neural_config, hops)
            configs = {
                "neural": neural_config,
                "pulse-t0": SpreadConfig(threshold=0.0, max_hops=hops),
                "pulse-matched": SpreadConfig(threshold=threshold, max_hops=hops),
            }
            found = {"cues": int(sets[0].size), "matched_threshold": threshold}
            digests = {}
            for runner, spread in runners.items():
                runs = measure_spreads(spread, sets, configs)
                digests[runner] = {name: run["digest"] for name, run in runs.items()}
                found[runner] = rows = compare_rows(runs, steps, kernel_ns)
                for name, row in rows.items():
                    print(_line(workload, runner, name, row))
            found["engine_matches_reference"] = all(
                digests[runner] == digests["reference"] for runner in runners
            )
            entry["workloads"][workload] = found
    return entry


def on_actors(engine, cues, config):
    """``engine.spread`` with every wave after the cues' handed to the actors
    (the engine keeps a wave in the driver below ``HAND_OVER_EDGES`` frontier
    edges and the pull threshold, which covers most spreads here)."""
    saved = engine_module.HAND_OVER_EDGES
    engine_module.HAND_OVER_EDGES = 0
    try:
        return engine.spread(cues, config)
    finally:
        engine_module.HAND_OVER_EDGES = saved


def compare_rows(runs, steps, kernel_ns):
    """Each model's summary, the neural one with its ratios to the pulse
    model's ns per edge and, given the kernel's ns per node-step, an
    estimate of the share of its time spent integrating."""
    rows = {name: summarise(run, steps) for name, run in runs.items()}
    neural_row = rows["neural"]
    for pulse in ("pulse-t0", "pulse-matched"):
        ours, theirs = neural_row["ns_per_edge"], rows[pulse]["ns_per_edge"]
        neural_row[f"ratio_vs_{pulse}"] = ours / theirs if ours and theirs else None
    if kernel_ns:
        integrate = neural_row["driven_node_cycles"] * steps * kernel_ns * 1e-9
        neural_row["integration_share_estimate"] = integrate / neural_row["seconds"]
    return rows


def _line(workload, runner, name, row):
    ratio = row.get("ratio_vs_pulse-matched")
    return (
        f"{workload:<6} {runner:<16} {name:<13} "
        f"{row['edges_per_spread_median']:>10.0f} edges/spread "
        f"{row['ms_per_spread_p50']:>8.2f} ms p50 "
        f"{_number(row['ns_per_edge'], '7.1f')} ns/edge"
        + (f"  neural/pulse-matched {ratio:.2f}x" if ratio else "")
    )


def _number(value, spec):
    return format(value, spec) if value is not None else "-"


# -- the run ----------------------------------------------------------------


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=float, default=1e6)
    parser.add_argument(
        "--topologies",
        nargs="+",
        default=list(TOPOLOGIES),
        help="space- or comma-separated",
    )
    parser.add_argument("--blocks", default="256,1024,4096", help="kernel blocks")
    parser.add_argument("--repeats", type=int, default=7, help="kernel timings")
    parser.add_argument("--cycles", type=int, default=3, help="neural max_cycles")
    parser.add_argument("--wave-cues", type=int, default=1000)
    parser.add_argument("--wave-sets", type=int, default=20)
    parser.add_argument("--recall-cues", type=int, default=3)
    parser.add_argument("--recall-sets", type=int, default=300)
    parser.add_argument("--actors", type=int, default=2)
    parser.add_argument("--parts", default="kernel,edges")
    parser.add_argument("--seed", type=int, default=0, help="kernel inputs")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    args.topologies = [t for arg in args.topologies for t in arg.split(",") if t]
    for topology in args.topologies:
        if topology not in TOPOLOGIES:
            parser.error(f"unknown topology {topology!r}; choose from {TOPOLOGIES}")
    return args


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    parts = args.parts.split(",")
    meta = run_metadata()
    meta["command"] = " ".join(["bench/neural_speed.py", *argv])
    dynamics = dynamics_of(NeuralConfig())[:7]
    steps = int(dynamics[6])
    report = {"meta": meta, "config": vars(args) | {"out": str(args.out)}}
    report["neural_config"] = {"steps_per_cycle": steps, "max_cycles": args.cycles}
    kernel_ns = None
    if "kernel" in parts:
        rows = []
        for n in (int(b) for b in args.blocks.split(",")):
            row = time_kernels(n, dynamics, args.repeats, args.seed)
            rows.append(row)
            print(
                f"kernel {n:>5} nodes x {steps} steps: vectorised "
                f"{row['vectorised_ns_per_node_step']:.3f} ns, scalar "
                f"{row['scalar_ns_per_node_step']:.3f} ns per node-step, "
                f"{row['speedup']:.1f}x, bit-identical"
            )
        report["kernel"] = rows
        kernel_ns = rows[-1]["vectorised_ns_per_node_step"]
        report["asm"] = inspect_kernels(dynamics)
        ops = report["asm"]["integrate_cycle"]
        print(
            f"asm integrate_cycle: {ops['packed_zmm']} packed zmm, "
            f"{ops['packed_ymm']} packed ymm, "
            f"{ops['packed_xmm']} packed xmm, {ops['scalar_ss']} scalar float ops, "
            f"{ops['masked_stores']} masked stores"
        )
    if "edges" in parts:
        report["topologies"] = {
            topology: measure_topology(topology, args, steps, kernel_ns)
            for topology in args.topologies
        }
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%dT%H-%M-%SZ", time.gmtime())
    path = args.out / f"neural-{stamp}.json"
    path.write_text(json.dumps(report, indent=1, default=float) + "\n")
    path.with_suffix(".md").write_text(markdown(report))
    print(f"\nwrote {path} and {path.with_suffix('.md').name}")
    return path


def markdown(report):
    """A short summary of ``report`` in markdown."""
    meta = report["meta"]
    lines = [
        f"# Neural model speed, {meta['timestamp']}",
        "",
        f"`{meta['command']}` on {meta['machine']['cpu']}, "
        f"{meta['machine']['cores']} cores.",
    ]
    if "kernel" in report:
        lines += [
            "",
            "## Gamma-cycle kernel: vectorised against node by node",
            "",
            "| block | vectorised ns/node-step | scalar ns/node-step | speed-up "
            "| nodes spiking | bit-identical |",
            "|---:|---:|---:|---:|---:|---|",
        ]
        for row in report["kernel"]:
            lines.append(
                f"| {row['nodes']} | {row['vectorised_ns_per_node_step']:.3f} "
                f"| {row['scalar_ns_per_node_step']:.3f} | {row['speedup']:.2f}x "
                f"| {row['share_spiking']:.0%} | {row['bit_identical']} |"
            )
        ops = report["asm"]["integrate_cycle"]
        scalar = report["asm"]["integrate_cycle_scalar"]
        lines += [
            "",
            f"Freshly compiled `integrate_cycle`: {ops['packed_zmm']} packed "
            f"float ops on zmm, {ops['packed_ymm']} on ymm, "
            f"{ops['packed_xmm']} on xmm, {ops['scalar_ss']} "
            f"scalar (`...ss`), {ops['masked_stores']} masked stores "
            f"(`vmaskmovps`/`vpmaskmovd`); `integrate_cycle_scalar`: "
            f"{scalar['packed_ymm'] + scalar['packed_xmm']} packed, "
            f"{scalar['scalar_ss']} scalar. CPU flags: "
            f"{', '.join(report['asm']['cpu_features'])}.",
        ]
    if "topologies" in report:
        lines += [
            "",
            "## Cost per traversed edge: neural against pulse",
            "",
            "| topology | cues | runner | model | edges/spread | ms/spread p50 "
            "| ns/edge | neural/pulse (t0 / matched) | ns/driven node-cycle |",
            "|---|---:|---|---|---:|---:|---:|---:|---:|",
        ]
        for topology, entry in report["topologies"].items():
            for found in entry["workloads"].values():
                for runner, rows in found.items():
                    if not isinstance(rows, dict):
                        continue
                    for name, row in rows.items():
                        ratio = ""
                        if name == "neural":
                            ratio = (
                                f"{_number(row['ratio_vs_pulse-t0'], '.2f')}x / "
                                f"{_number(row['ratio_vs_pulse-matched'], '.2f')}x"
                            )
                        driven = row.get("ns_per_driven_node_cycle")
                        lines.append(
                            f"| {topology} | {found['cues']} | {runner} | {name} "
                            f"| {row['edges_per_spread_median']:,.0f} "
                            f"| {row['ms_per_spread_p50']:.3f} "
                            f"| {_number(row['ns_per_edge'], '.1f')} | {ratio} "
                            f"| {_number(driven, '.1f') if driven else ''} |"
                        )
        lines += [
            "",
            "ns/edge: summed wall time of the spreads over their summed "
            "`stats.edges_traversed`. pulse-t0: pulse model at threshold 0; "
            "pulse-matched: at the threshold bisected to traverse about as many "
            "edges as the neural spreads from the same cues.",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
