"""The ``engram-actors`` command line.

Sub-commands: ``generate`` a graph to a file, show ``info`` about one,
``spread`` activation through one, and run the ``demo``; for the machine,
show the NUMA ``topology`` and where actors would run, and ``cleanup`` the
shared-memory segments of engines that died. Errors the user can fix print
as one line and exit with status 2; ``-v`` adds the traceback and debug
logging.
"""

import argparse
import json
import logging
import sys
import time

import numpy as np

from .config import SpreadConfig
from .errors import EngramError

log = logging.getLogger(__name__)


def _add_spread_options(parser):
    defaults = SpreadConfig()
    group = parser.add_argument_group("model (see docs/model.md)")
    group.add_argument(
        "--decay",
        type=float,
        default=defaults.decay,
        help="share of activation passed on, in (0, 1] (default %(default)s)",
    )
    group.add_argument(
        "--threshold",
        type=float,
        default=defaults.threshold,
        help="activation a node needs to fire, >= 0 (default %(default)s)",
    )
    group.add_argument(
        "--max-hops",
        type=int,
        default=defaults.max_hops,
        help="waves at most (default %(default)s)",
    )
    group.add_argument(
        "--fan-normalize",
        action="store_true",
        help="divide a node's output by its out-degree",
    )
    group.add_argument(
        "--refractory-waves",
        type=int,
        default=defaults.refractory_waves,
        help="waves a node rests after firing (default %(default)s)",
    )
    group.add_argument(
        "--max-activation",
        type=float,
        default=None,
        help="cap on final activation (default: none)",
    )


def _config_from(args):
    return SpreadConfig(
        decay=args.decay,
        threshold=args.threshold,
        max_hops=args.max_hops,
        fan_normalize=args.fan_normalize,
        refractory_waves=args.refractory_waves,
        max_activation=args.max_activation,
    )


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
    graph = open_graph(args.graph)
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
    graph = open_graph(args.graph)
    cues = {}
    for node, activation in args.cue:
        key = _cue_key(graph, node)
        cues[key] = cues.get(key, 0.0) + activation
    with _runner(args, graph) as spread:
        result = spread(cues, config)
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
    p = commands.add_parser("info", help="sizes, degrees and memory of a graph")
    p.add_argument("graph", help=source_help)
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_info)

    p = commands.add_parser("spread", help="spread activation from cues")
    p.add_argument("graph", help=source_help)
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
    p.set_defaults(run=cmd_spread)

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
