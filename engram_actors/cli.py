"""The ``engram-actors`` command line.

Sub-commands: ``generate`` a graph to a file, show ``info`` about one,
``spread`` activation through one (the pulse model, or with ``--model
neural`` the neural one), and run the ``demo``; for the machine,
show the NUMA ``topology`` and where actors would run, and ``cleanup`` the
shared-memory segments of engines that died. Errors the user can fix print
as one line and exit with status 2; ``-v`` adds the traceback and debug
logging.
"""

import argparse
import functools
import json
import logging
import sys
import time

import numpy as np

from .config import NeuralConfig, SpreadConfig
from .errors import ConfigError, EngramError

log = logging.getLogger(__name__)


#: The pulse model's options: (option, SpreadConfig field).
_PULSE_OPTIONS = (
    ("--decay", "decay"),
    ("--threshold", "threshold"),
    ("--max-hops", "max_hops"),
    ("--fan-normalize", "fan_normalize"),
    ("--refractory-waves", "refractory_waves"),
    ("--max-activation", "max_activation"),
)

#: The neural model's options: (option, NeuralConfig field, type, help).
#: NeuralConfig checks the values; its docstring has the details.
_NEURAL_OPTIONS = (
    ("--cycles", "max_cycles", int, "gamma cycles after the cues', at most, 0..2000"),
    ("--gain", "synaptic_gain", float, "drive of one spike through weight 1, > 0"),
    ("--gamma-hz", "gamma_hz", float, "gamma rhythm, one cycle a wave, 10..200"),
    ("--theta-hz", "theta_hz", float, "theta rhythm gating spread, 0.5..20"),
    ("--theta-depth", "theta_depth", float, "depth of the theta gate, 0 (off)..1"),
    ("--theta-phase", "theta_phase", float, "theta phase at 0 ms, [0, 2 pi) rad"),
    ("--dt-ms", "dt_ms", float, "integration step, 0.01..5"),
    ("--tau-m-ms", "tau_m_ms", float, "membrane time constant"),
    ("--v-rest", "v_rest", float, "resting potential"),
    ("--v-threshold", "v_threshold", float, "firing threshold, above rest and reset"),
    ("--v-reset", "v_reset", float, "potential after a spike"),
    ("--refractory-ms", "refractory_ms", float, "rest after a spike, 0..1000"),
    ("--depletion", "depletion", float, "share of resources a spike leaves, (0, 1]"),
    ("--tau-recovery-ms", "tau_recovery_ms", float, "resource recovery time"),
    ("--wm-capacity", "wm_capacity", int, "working-memory items, 5..9"),
    ("--wm-tau-ms", "wm_tau_ms", float, "fading time of working-memory items"),
    ("--wm-inhibition", "wm_inhibition", float, "lateral inhibition, [0, 1)"),
    ("--wm-floor", "wm_floor", float, "level below which an item leaves, >= 0"),
)

#: Options of the neural output, with their dests.
_NEURAL_OUTPUT_OPTIONS = (("--trace", "trace"), ("--trace-out", "trace_out"))

#: What to use instead of an option of the other model.
_COUNTERPARTS = {
    "--threshold": "--v-threshold",
    "--max-hops": "--cycles",
    "--refractory-waves": "--refractory-ms",
    "--v-threshold": "--threshold",
    "--cycles": "--max-hops",
    "--refractory-ms": "--refractory-waves",
}


def _add_spread_options(parser):
    # Model options default to None, meaning "not given", so that options
    # of the other model can be refused (see _check_model_options); the
    # configs fill in their own defaults.
    defaults = SpreadConfig()
    parser.add_argument(
        "--model",
        choices=("pulse", "neural"),
        default="pulse",
        help="spreading model (default %(default)s)",
    )
    group = parser.add_argument_group("pulse model (--model pulse; see docs/model.md)")
    group.add_argument(
        "--decay",
        type=float,
        help=f"share of activation passed on, in (0, 1] (default {defaults.decay})",
    )
    group.add_argument(
        "--threshold",
        type=float,
        help=f"activation a node needs to fire, >= 0 (default {defaults.threshold})",
    )
    group.add_argument(
        "--max-hops",
        type=int,
        help=f"waves at most (default {defaults.max_hops})",
    )
    group.add_argument(
        "--fan-normalize",
        action="store_true",
        default=None,
        help="divide a node's output by its out-degree",
    )
    group.add_argument(
        "--refractory-waves",
        type=int,
        help=f"waves a node rests after firing (default {defaults.refractory_waves})",
    )
    group.add_argument(
        "--max-activation",
        type=float,
        default=None,
        help="cap on final activation (default: none)",
    )

    neural = NeuralConfig()
    group = parser.add_argument_group(
        "neural model (--model neural; see docs/model.md)"
    )
    for option, field, kind, text in _NEURAL_OPTIONS:
        if kind is int:
            metavar = "N"
        elif field.endswith("_hz"):
            metavar = "HZ"
        elif field.endswith("_ms"):
            metavar = "MS"
        else:
            metavar = "X"
        group.add_argument(
            option,
            dest=field,
            type=kind,
            metavar=metavar,
            help=f"{text} (default {getattr(neural, field)})",
        )
    group.add_argument(
        "--trace",
        action="store_true",
        default=None,
        help="print the per-cycle trace table",
    )
    group.add_argument(
        "--trace-out",
        metavar="FILE",
        help="write the per-cycle trace as CSV to FILE",
    )


def _given(args, pairs):
    """The options among ``(option, dest)`` pairs that were given."""
    return [option for option, dest in pairs if getattr(args, dest) is not None]


def _check_model_options(parser, args):
    """A usage error for options of the model a spread does not run."""
    neural_only = [(o, f) for o, f, *_ in _NEURAL_OPTIONS] + list(
        _NEURAL_OUTPUT_OPTIONS
    )
    if args.model == "neural":
        owner, wrong = "pulse", _given(args, _PULSE_OPTIONS)
    else:
        owner, wrong = "neural", _given(args, neural_only)
    if not wrong:
        return
    names = ", ".join(wrong)
    verb = "is an option" if len(wrong) == 1 else "are options"
    message = f"{names} {verb} of --model {owner}, not --model {args.model}"
    if args.model == "pulse":
        message += " (the default)"
    hints = [f"{_COUNTERPARTS[o]} instead of {o}" for o in wrong if o in _COUNTERPARTS]
    if hints:
        message += f"; use {', '.join(hints)}"
    parser.error(message)


def _config_from(args):
    if args.model == "neural":
        return _neural_config_from(args)
    return SpreadConfig(
        **{
            field: getattr(args, field)
            for _, field in _PULSE_OPTIONS
            if getattr(args, field) is not None
        }
    )


def _neural_config_from(args):
    given = {
        field: getattr(args, field)
        for _, field, *_ in _NEURAL_OPTIONS
        if getattr(args, field) is not None
    }
    try:
        return NeuralConfig(**given)
    except ConfigError as error:
        # The message names the field first; add the option that sets it.
        field = str(error).split(" ", 1)[0]
        for option, name, *_ in _NEURAL_OPTIONS:
            if name == field and field in given:
                raise ConfigError(f"{error} (option {option})") from None
        raise


def _parse_cue(text):
    """``NODE`` or ``NODE=ACTIVATION``; NODE is a label or an integer id."""
    node, sep, value = text.rpartition("=")
    if not sep:
        node, value = text, "1.0"
    try:
        activation = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"cue {text!r}: activation {value!r} is not a number"
        ) from None
    return node, activation


def _cue_key(graph, node):
    """A label where the graph has one of that name, else an integer id."""
    if graph.has_label(node):
        return node
    try:
        return int(node)
    except ValueError:
        return node  # an unknown label: the lookup reports it


def cmd_generate(args):
    from . import generators, io

    params = dict(args.param or [])
    started = time.perf_counter()
    graph = generators.generate(
        args.topology,
        args.nodes,
        avg_degree=args.avg_degree,
        seed=args.seed,
        **params,
    )
    built = time.perf_counter() - started
    io.save(graph, args.output, format=args.format)
    log.info("generated %r in %.2f s", graph, built)
    print(
        f"wrote {graph.num_nodes} nodes, {graph.num_edges} edges to {args.output}"
        f" (generated in {built:.2f} s)"
    )


def cmd_info(args):
    from .sources import open_graph

    started = time.perf_counter()
    graph = open_graph(args.graph, signed=args.signed)
    stats = graph.degree_stats()
    stats["load_s"] = time.perf_counter() - started
    stats["labelled"] = graph.labels is not None
    if args.json:
        print(json.dumps(stats, indent=2))
        return
    print(f"nodes       {stats['nodes']:>14,}")
    print(f"edges       {stats['edges']:>14,}")
    for name in ("out_degree", "in_degree"):
        d = stats[name]
        print(
            f"{name:<11} min {d['min']}  max {d['max']}  mean {d['mean']:.2f}  "
            f"std {d['std']:.2f}  zero {d['zero']}"
        )
    if "weight" in stats:
        w = stats["weight"]
        print(
            f"weight      min {w['min']:.4g}  max {w['max']:.4g}  mean {w['mean']:.4g}"
        )
    print(f"self loops  {stats['self_loops']:>14,}")
    print(f"labelled    {'yes' if stats['labelled'] else 'no':>14}")
    print(f"memory      {stats['csr_bytes'] / 2**20:>11.1f} MiB (CSR arrays)")
    print(f"loaded in   {stats['load_s']:>12.2f} s")


def _runner(args, graph):
    """A context manager yielding a function that spreads: the engine, or
    the sequential reference with ``--reference``."""
    import contextlib

    from . import reference
    from .engine import Engine

    if args.reference:
        return contextlib.nullcontext(
            lambda cues, config: reference.spread(graph, cues, config)
        )

    @contextlib.contextmanager
    def engine():
        with Engine(graph, actors=args.actors, deterministic=args.deterministic) as e:
            yield e.spread

    return engine()


def _add_runner_options(parser, deterministic=True):
    group = parser.add_argument_group("runner")
    group.add_argument(
        "--actors",
        type=_actor_count,
        default=None,
        help="actor processes of the engine (default: one per usable CPU)",
    )
    if deterministic:
        group.add_argument(
            "--deterministic",
            action="store_true",
            help="results bit-identical to the reference, for any actor count",
        )
    group.add_argument(
        "--reference",
        action="store_true",
        help="run the sequential reference instead of the parallel engine",
    )


def _int_in(low, high=None):
    """An argparse type: an integer in ``[low, high]`` (no upper bound when
    ``high`` is None)."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"must be at most {high}, got {value}")
        return value

    return parse


def _actor_count(text):
    from scheduler.placement import MAX_ACTORS

    return _int_in(1, MAX_ACTORS)(text)


def cmd_spread(args):
    from .sources import open_graph

    config = _config_from(args)
    graph = open_graph(args.graph, signed=args.signed)
    cues = {}
    for node, activation in args.cue:
        key = _cue_key(graph, node)
        cues[key] = cues.get(key, 0.0) + activation
    with _runner(args, graph) as spread:
        result = spread(cues, config)
    if args.model == "neural":
        _report_neural(args, graph, config, result)
        return
    if args.json:
        report = result.to_dict(k=args.top)
        report["config"] = config.to_dict()
        print(json.dumps(report, indent=2))
        return
    print(
        f"{len(result)} nodes touched in {result.stats.waves} waves, "
        f"{result.stats.edges_traversed} edges, "
        f"{result.stats.wall_time_s * 1e3:.3f} ms"
    )
    _print_top(result, graph, args.top)


def _report_neural(args, graph, config, result):
    if args.trace_out is not None:
        _write_trace(args.trace_out, result.trace)
        log.info("wrote the per-cycle trace to %s", args.trace_out)
    if args.json:
        report = result.to_dict(k=args.top)
        report["config"] = config.to_dict()
        print(json.dumps(report, indent=2))
        return
    print(
        f"{len(result)} nodes touched, {int(result.spikes.sum())} spikes in "
        f"{result.stats.waves} gamma cycles of {config.cycle_ms:g} ms, "
        f"{result.stats.edges_traversed} edges, "
        f"{result.stats.wall_time_s * 1e3:.3f} ms"
    )
    labelled = graph.labels is not None
    label_head = "  label" if labelled else ""
    print(
        f"{'rank':>4}  {'node':>10}  {'activation':>12}  {'spikes':>6}  "
        f"{'first ms':>8}  {'cycle':>5}{label_head}"
    )
    for rank, (node, activation) in enumerate(result.top(args.top, ids=True), 1):
        at = np.searchsorted(result.nodes, node)
        first = float(result.first_spike_ms[at])
        first = "-" if first != first else f"{first:.1f}"
        label = f"  {graph.labels[node]}" if labelled else ""
        print(
            f"{rank:>4}  {node:>10}  {activation:>12.6g}  "
            f"{int(result.spikes[at]):>6}  {first:>8}  "
            f"{int(result.first_hop[at]):>5}{label}"
        )

    memory = result.working_memory
    print(
        f"working memory: {len(memory)} of {memory.capacity} items, "
        f"{memory.displaced} displaced"
    )
    if len(memory):
        print(f"{'rank':>4}  {'node':>10}  {'level':>12}  {'entered':>7}{label_head}")
    entered = memory.entered.tolist()
    for rank, (node, level) in enumerate(memory.items(ids=True), 1):
        label = f"  {graph.labels[node]}" if labelled else ""
        print(f"{rank:>4}  {node:>10}  {level:>12.6g}  {entered[rank - 1]:>7}{label}")

    if args.trace:
        _print_trace(result.trace)
    if args.trace_out is not None:
        print(f"trace written to {args.trace_out}")


#: The trace table's columns: (trace key, heading, width).
_TRACE_COLUMNS = (
    ("cycle", "cycle", 5),
    ("time_ms", "time ms", 8),
    ("gain", "gain", 8),
    ("spikes", "spikes", 8),
    ("active", "active", 8),
    ("driven", "driven", 8),
    ("wm_items", "wm items", 8),
)


def _print_trace(trace):
    print("trace per gamma cycle (gain: synaptic gain under the theta gate)")
    print("  ".join(f"{head:>{width}}" for _, head, width in _TRACE_COLUMNS))
    columns = [trace[key].tolist() for key, _, _ in _TRACE_COLUMNS]
    for row in zip(*columns, strict=True):
        cells = []
        for value, (key, _, width) in zip(row, _TRACE_COLUMNS, strict=True):
            if key == "time_ms":
                cells.append(f"{value:>{width}.1f}")
            elif key == "gain":
                cells.append(f"{value:>{width}.4f}")
            else:
                cells.append(f"{value:>{width}}")
        print("  ".join(cells))


def _write_trace(path, trace):
    """The trace as CSV: a header of its keys, one row per gamma cycle.
    Floats are written exactly (as Python's repr)."""
    import csv

    columns = list(trace)
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(columns)
        writer.writerows(zip(*(trace[c].tolist() for c in columns), strict=True))


def _print_top(result, graph, k):
    rows = result.top(k, ids=True)
    labelled = graph.labels is not None
    print(
        f"{'rank':>4}  {'node':>10}  {'activation':>12}  {'hop':>3}"
        + ("  label" if labelled else "")
    )
    for rank, (node, activation) in enumerate(rows, 1):
        hop = result.first_hop[np.searchsorted(result.nodes, node)]
        label = f"  {graph.labels[node]}" if labelled else ""
        print(f"{rank:>4}  {node:>10}  {activation:>12.6g}  {hop:>3}{label}")


def _parse_nodes(text):
    """``NODE[=ACTIVATION],NODE[=ACTIVATION],...`` for an episode or a cue."""
    items = [item.strip() for item in text.split(",")]
    if not all(items):
        raise argparse.ArgumentTypeError(f"{text!r}: an empty node in the list")
    return [_parse_cue(item) for item in items]


def cmd_memory(args):
    """Encode episodes, consolidate them into the graph, recall from cues."""
    from .hippocampus import HippocampusConfig
    from .memory import ConsolidationConfig, Memory
    from .sources import open_graph

    graph = open_graph(args.graph, signed=args.signed)
    consolidation = ConsolidationConfig(
        learning_rate=args.learning_rate, window_ms=args.window_ms, seed=args.seed
    )
    hippocampus = HippocampusConfig(seed=args.seed)
    report = {"episodes": [], "consolidation": None, "recalls": []}
    with Memory(graph, args.actors, hippocampus=hippocampus,
                consolidation=consolidation) as memory:  # fmt: skip
        for items in args.episode or []:
            episode = {}
            for node, activation in items:
                episode[graph.node_id(_cue_key(graph, node))] = activation
            index = memory.encode(episode)
            report["episodes"].append(
                {"index": index, "nodes": sorted(episode),
                 "priority": float(memory.hippocampus.priorities[index])}
            )  # fmt: skip
        if args.consolidate:
            done = memory.consolidate(args.consolidate)
            done["replayed"] = {str(k): v for k, v in done["replayed"].items()}
            done["recall_error"] = {str(k): v for k, v in done["recall_error"].items()}
            report["consolidation"] = done
        for items in args.recall or []:
            cue = {_cue_key(graph, node): activation for node, activation in items}
            recall = memory.recall(cue)
            entry = {
                "cue": {str(k): v for k, v in cue.items()},
                "episode": recall.completion.index,
                "match": recall.completion.match,
                "spread_from": sorted(recall.cues),
                "result": recall.result.to_dict(k=args.top),
            }
            report["recalls"].append(entry)
        if args.save:
            from . import io

            io.save(memory.graph, args.save)
            report["saved"] = {"path": args.save, "edges": memory.graph.num_edges}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    for episode in report["episodes"]:
        print(
            f"episode {episode['index']}: {len(episode['nodes'])} nodes, "
            f"priority {episode['priority']:.3f}"
        )
    done = report["consolidation"]
    if done is not None:
        print(
            f"consolidated: {done['replays']} replays ({done['compression']:.1f}x "
            f"compressed), {done['updated']} associations strengthened, "
            f"{done['created']} created"
            + (", delta merged into the graph" if done["merged"] else "")
        )
    for recall in report["recalls"]:
        found = (
            f"episode {recall['episode']} (match {recall['match']:.2f})"
            if recall["episode"] >= 0
            else "no stored episode"
        )
        print(f"recall {','.join(recall['cue'])}: {found}")
        for entry in recall["result"]["top"]:
            name = entry.get("label", entry["id"])
            print(f"  {entry['activation']:10.4f}  {name}")
        memory_items = recall["result"].get("working_memory", [])
        if memory_items:
            names = [str(item.get("label", item["id"])) for item in memory_items]
            print(f"  working memory: {', '.join(names)}")
    if args.save:
        print(f"saved the consolidated graph to {args.save}")


def cmd_demo(args):
    from .demo import run_demo

    run_demo(
        nodes=args.nodes,
        spreads=args.spreads,
        seed=args.seed,
        actors=args.actors,
        use_reference=args.reference,
    )


def cmd_topology(args):
    from scheduler.placement import format_plan, plan, read_topology, usable_cpus

    topology = read_topology()
    actors = args.actors if args.actors is not None else usable_cpus()
    print(format_plan(plan(actors, topology), topology))


def cmd_cleanup(args):
    from shm.segments import stale_segments, sweep_stale

    sizes = {info.name: info for info in stale_segments(args.shm_dir)}
    removed = sweep_stale(args.shm_dir, dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    freed = 0
    for name in removed:
        info = sizes.get(name)
        size = info.size if info else 0
        freed += size
        owner = f"owner pid {info.pid} gone, " if info else ""
        print(f"{verb} {name} ({owner}{size:,} bytes)")
    if not removed:
        print(f"no stale engram segments in {args.shm_dir}")
        return
    count = f"{len(removed)} stale segment{'s' * (len(removed) != 1)}"
    print(f"{verb} {count}, {freed:,} bytes ({freed / 2**20:.1f} MiB)")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="engram-actors",
        description="Parallel activation spreading over memory graphs.",
    )
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="more logging; tracebacks on errors",
    )
    verbosity.add_argument("-q", "--quiet", action="store_true", help="only errors")
    commands = parser.add_subparsers(dest="command", required=True)

    from shm.segments import SHM_DIR

    from .generators import TOPOLOGIES

    p = commands.add_parser("generate", help="generate a graph to a file")
    p.add_argument("topology", choices=TOPOLOGIES)
    p.add_argument("-n", "--nodes", type=int, required=True)
    p.add_argument("-d", "--avg-degree", type=float, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--param",
        action="append",
        type=_parse_param,
        metavar="KEY=VALUE",
        help="topology parameter (p for small-world; cluster_size, "
        "branching, locality for hierarchical)",
    )
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help="file to write; the suffix picks the format",
    )
    p.add_argument("--format", choices=("npz", "edgelist", "msgpack"))
    p.set_defaults(run=cmd_generate)

    source_help = (
        "a graph file (.npz, edge list, .msgpack) or a generator spec "
        "TOPOLOGY:NODES[:key=value,...], e.g. random:100000:seed=1"
    )
    signed_help = (
        "accept negative (inhibitory) weights in the graph file; only the "
        "neural model spreads over them"
    )
    p = commands.add_parser("info", help="sizes, degrees and memory of a graph")
    p.add_argument("graph", help=source_help)
    p.add_argument("--signed", action="store_true", help=signed_help)
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_info)

    p = commands.add_parser("spread", help="spread activation from cues")
    p.add_argument("graph", help=source_help)
    p.add_argument("--signed", action="store_true", help=signed_help)
    p.add_argument(
        "-c",
        "--cue",
        action="append",
        type=_parse_cue,
        required=True,
        metavar="NODE[=ACTIVATION]",
        help="a cue by label or id, activation 1.0 unless given; repeat for more",
    )
    p.add_argument(
        "-k", "--top", type=_int_in(0), default=10, help="rows to show (>= 0)"
    )
    p.add_argument("--json", action="store_true")
    _add_spread_options(p)
    _add_runner_options(p)
    p.set_defaults(run=cmd_spread, check=functools.partial(_check_model_options, p))

    p = commands.add_parser(
        "memory",
        help="encode episodes, consolidate them into the graph, recall from cues",
    )
    p.add_argument("graph", help=source_help)
    p.add_argument("--signed", action="store_true", help=signed_help)
    p.add_argument(
        "-e",
        "--episode",
        action="append",
        type=_parse_nodes,
        metavar="NODE[=A],NODE[=A],...",
        help="an episode to encode: nodes (labels or ids) in the order they "
        "were active; repeat for more",
    )
    p.add_argument(
        "--consolidate",
        type=_int_in(0, 10_000_000),
        default=0,
        metavar="REPLAYS",
        help="replays of the stored episodes into the graph (by priority)",
    )
    p.add_argument(
        "-r",
        "--recall",
        action="append",
        type=_parse_nodes,
        metavar="NODE[=A],...",
        help="a partial cue to recall from (after consolidation); repeat",
    )
    p.add_argument("--learning-rate", type=float, default=0.005,
                   help="slow pathway's learning rate, 0.001 to 0.01")  # fmt: skip
    p.add_argument("--window-ms", type=float, default=20.0,
                   help="plasticity window on the compressed replay (ms)")  # fmt: skip
    p.add_argument("--seed", type=_int_in(0), default=0)
    p.add_argument("--top", type=_int_in(0), default=10)
    p.add_argument("--save", metavar="PATH", help="write the consolidated graph")
    p.add_argument("--json", action="store_true")
    p.add_argument("--actors", type=_actor_count, default=None,
                   help="actor processes of the engine")  # fmt: skip
    p.set_defaults(run=cmd_memory)

    p = commands.add_parser("demo", help="the main job on a built-in graph")
    p.add_argument("--nodes", type=int, default=1_000_000)
    p.add_argument("--spreads", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    _add_runner_options(p, deterministic=False)
    p.set_defaults(run=cmd_demo)

    p = commands.add_parser(
        "topology", help="NUMA nodes and the CPU each actor would run on"
    )
    p.add_argument(
        "--actors",
        type=_actor_count,
        metavar="N",
        help="actors to place (default: the CPUs this process may use)",
    )
    p.set_defaults(run=cmd_topology)

    p = commands.add_parser(
        "cleanup", help="remove shared memory left by engines that died"
    )
    p.add_argument(
        "--dry-run", action="store_true", help="only list what would be removed"
    )
    p.add_argument(
        "--shm-dir",
        default=SHM_DIR,
        help="where POSIX shared memory lives (default %(default)s)",
    )
    p.set_defaults(run=cmd_cleanup)
    return parser


def _parse_param(text):
    from .sources import parse_number

    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    try:
        return key, parse_number(key, value)
    except EngramError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def main(argv=None):
    """Entry point of the ``engram-actors`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    check = getattr(args, "check", None)
    if check is not None:
        check(args)
    level = logging.WARNING
    if args.verbose:
        level = logging.DEBUG if args.verbose > 1 else logging.INFO
    elif args.quiet:
        level = logging.ERROR
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        args.run(args)
    except EngramError as error:
        if args.verbose:
            log.exception("failed")
        print(f"engram-actors: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        if args.verbose:
            log.exception("failed")
        print(f"engram-actors: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("engram-actors: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
