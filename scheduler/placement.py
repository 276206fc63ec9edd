"""Where the actor processes run: NUMA topology, a placement plan, pinning.

The driver reads the machine's NUMA nodes once, plans which CPU each actor
will run on, and passes each actor its CPU; the actor pins itself as its
first act, before it touches its shard, so that the kernel's first-touch
policy puts the shard's pages in the memory of the actor's own node::

    /sys/devices/system/node/node*/cpulist
        |  read_topology(), intersected with the CPUs this process may use
        v
    Topology: node 0 -> CPUs 0-3, node 1 -> CPUs 4-7
        |  plan(actors)
        v
    [Placement(actor=0, cpu=0, node=0), ..., Placement(actor=7, cpu=7, node=1)]
        |  one CPU handed to each actor at start
        v
    actor k: pin(cpu) -> first touch of shard k -> spreading

Actors are spread over the nodes in proportion to the CPUs each node offers
to this process, and numbered node by node: actors 0..k-1 on node 0, the
next ones on node 1, and so on. Graph shards are contiguous ranges of node
ids given to actors in order, so neighbouring shards, which exchange the
most activation, share a node and its memory.

Everything here is advice to the kernel. Where sysfs is missing (a
container without it, a non-Linux system) the topology falls back to a
single node holding every allowed CPU, and where pinning is not permitted
the actors run where the scheduler puts them; results are the same, only
slower.

Known shortcoming: CPUs are filled in their numbering order. Linux usually
numbers one hardware thread of every core before the second thread of any,
so a half-full node gets one actor per core; on machines numbered otherwise
two actors may share a core while another core idles. Reading
``thread_siblings_list`` would fix this and is not done yet.
"""

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "MAX_ACTORS",
    "SYS_NODE_PATH",
    "Placement",
    "Topology",
    "format_cpulist",
    "format_plan",
    "parse_cpulist",
    "pin",
    "plan",
    "read_topology",
    "usable_cpus",
]

log = logging.getLogger(__name__)

#: Where Linux describes the NUMA nodes, one ``nodeN`` folder each.
SYS_NODE_PATH = "/sys/devices/system/node"

# Each actor is an OS process with its own mappings and a place at every
# gamma-cycle barrier. The largest common servers offer 512 hardware
# threads; a count above 1024 is a mistake (a node count passed for an actor
# count), and would cost seconds of process start-up before it showed.
MAX_ACTORS = 1024

_RANGE_RE = re.compile(r"^(\d+)(?:-(\d+))?$")
_NODE_RE = re.compile(r"^node(\d+)$")


def parse_cpulist(text):
    """The CPUs of a kernel cpulist such as ``0-3,8-11``, sorted.

    Parameters
    ----------
    text : str
        Comma-separated CPU numbers and inclusive ranges, as in sysfs;
        surrounding white space is ignored and an empty list is valid (a
        node with memory but no CPUs).

    Returns
    -------
    tuple of int

    Raises
    ------
    ValueError
        If an item is not ``N`` or ``N-M`` with ``N <= M``.

    Examples
    --------
    >>> parse_cpulist("0-3,8-11\\n")
    (0, 1, 2, 3, 8, 9, 10, 11)
    >>> parse_cpulist("")
    ()
    """
    text = text.strip()
    if not text:
        return ()
    cpus = set()
    for item in text.split(","):
        match = _RANGE_RE.match(item.strip())
        if match is None:
            raise ValueError(
                f"malformed cpulist {text!r}: {item!r} is not a CPU number N "
                f"or a range N-M"
            )
        first = int(match.group(1))
        last = int(match.group(2) or first)
        if last < first:
            raise ValueError(
                f"malformed cpulist {text!r}: range {item!r} runs backwards"
            )
        cpus.update(range(first, last + 1))
    return tuple(sorted(cpus))


def format_cpulist(cpus):
    """The shortest cpulist text for `cpus`; the inverse of :func:`parse_cpulist`.

    Examples
    --------
    >>> format_cpulist([0, 1, 2, 3, 8, 10, 11])
    '0-3,8,10-11'
    """
    items = []
    ordered = sorted(set(cpus))
    start = 0
    for i in range(1, len(ordered) + 1):
        if i == len(ordered) or ordered[i] != ordered[i - 1] + 1:
            first, last = ordered[start], ordered[i - 1]
            items.append(str(first) if first == last else f"{first}-{last}")
            start = i
    return ",".join(items)


def _allowed_cpus():
    """The CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return set(os.sched_getaffinity(0))
    try:
        import psutil

        return set(psutil.Process().cpu_affinity())
    except (ImportError, AttributeError, OSError):
        # macOS has no affinity at all: every CPU is allowed.
        return set(range(os.cpu_count() or 1))


def usable_cpus():
    """How many CPUs this process may run on (its affinity, not the machine's)."""
    return len(_allowed_cpus())


@dataclass(frozen=True)
class Topology:
    """The NUMA nodes this process may use, each with its allowed CPUs.

    Attributes
    ----------
    nodes : tuple of (int, tuple of int)
        ``(node id, cpus)`` pairs in node order; every node has at least one
        CPU and no CPU appears twice.
    source : str
        The sysfs folder read, or ``"fallback"`` when it could not be used.
    """

    nodes: tuple
    source: str

    def __post_init__(self):
        nodes = tuple((int(node), tuple(sorted(cpus))) for node, cpus in self.nodes)
        if not nodes:
            raise ValueError("a topology needs at least one node")
        seen = set()
        for node, cpus in nodes:
            if not cpus:
                raise ValueError(f"node {node} has no CPUs")
            if seen.intersection(cpus):
                raise ValueError(
                    f"node {node} repeats CPUs {sorted(seen.intersection(cpus))}"
                )
            seen.update(cpus)
        object.__setattr__(self, "nodes", nodes)

    @property
    def cpus(self):
        """All CPUs of all nodes, sorted."""
        return tuple(sorted(cpu for _, cpus in self.nodes for cpu in cpus))

    @property
    def num_cpus(self):
        return sum(len(cpus) for _, cpus in self.nodes)

    @property
    def num_nodes(self):
        return len(self.nodes)


def _read_nodes(sys_path):
    """``{node: cpus}`` from sysfs; raises OSError or ValueError when unusable."""
    nodes = {}
    for entry in Path(sys_path).iterdir():
        match = _NODE_RE.match(entry.name)
        if match is None:
            continue
        cpulist = entry / "cpulist"
        try:
            text = cpulist.read_text()
        except FileNotFoundError:
            continue  # a node folder without CPUs listed: memory only
        try:
            nodes[int(match.group(1))] = parse_cpulist(text)
        except ValueError as error:
            raise ValueError(f"{cpulist}: {error}") from None
    return nodes


def read_topology(sys_path=SYS_NODE_PATH, allowed=None):
    """The NUMA nodes and the CPUs of each that this process may use.

    Parameters
    ----------
    sys_path : str or Path, optional
        The sysfs folder with one ``nodeN/cpulist`` per node.
    allowed : iterable of int, optional
        The CPUs to keep; this process's affinity when not given.

    Returns
    -------
    Topology
        Nodes left without an allowed CPU (offline, memory-only, or outside
        the affinity) are dropped. When the folder is missing, unreadable,
        malformed or yields no allowed CPU, a single node 0 with every
        allowed CPU, with ``source == "fallback"``.

    Raises
    ------
    ValueError
        If `allowed` is empty.
    """
    allowed = _allowed_cpus() if allowed is None else set(allowed)
    if not allowed:
        raise ValueError("no CPUs allowed: cannot place any actor")

    try:
        listed = _read_nodes(sys_path)
    except (OSError, ValueError) as error:
        log.warning("cannot read NUMA topology: %s; assuming one node", error)
        listed = {}

    nodes = []
    claimed = set()
    for node in sorted(listed):
        cpus = [cpu for cpu in listed[node] if cpu in allowed]
        if claimed.intersection(cpus):
            log.warning("%s lists CPUs in two nodes; assuming one node", sys_path)
            nodes = []
            break
        claimed.update(cpus)
        if cpus:
            nodes.append((node, tuple(cpus)))

    if not nodes:
        log.debug("no usable NUMA nodes in %s; one node of all CPUs", sys_path)
        return Topology(nodes=((0, tuple(sorted(allowed))),), source="fallback")
    left_out = allowed - claimed
    if left_out:
        log.debug("allowed CPUs %s are in no NUMA node; not used", sorted(left_out))
    return Topology(nodes=tuple(nodes), source=str(sys_path))


@dataclass(frozen=True)
class Placement:
    """Where one actor runs.

    Attributes
    ----------
    actor : int
        The actor's index; contiguous indices share a node.
    cpu : int
        The CPU it pins itself to.
    node : int
        The NUMA node of that CPU.
    shared : bool
        True when other actors are planned on the same CPU (more actors
        than CPUs).
    """

    actor: int
    cpu: int
    node: int
    shared: bool = False


def _node_quotas(actors, sizes):
    """Split `actors` over nodes in proportion to `sizes` (largest remainder).

    Integer arithmetic throughout, so ties go to the lower node, the same on
    every machine.
    """
    total = sum(sizes)
    quotas = [actors * size // total for size in sizes]
    remainders = [actors * size % total for size in sizes]
    short = actors - sum(quotas)
    by_remainder = sorted(range(len(sizes)), key=lambda i: (-remainders[i], i))
    for i in by_remainder[:short]:
        quotas[i] += 1
    return quotas


def plan(actors, topology=None):
    """Assign each of `actors` actors a CPU and node.

    Parameters
    ----------
    actors : int
        Number of actors, 1 to :data:`MAX_ACTORS`.
    topology : Topology, optional
        Read with :func:`read_topology` when not given.

    Returns
    -------
    list of Placement
        One per actor, in actor order.

    Raises
    ------
    ValueError
        If `actors` is not an integer in range.

    Notes
    -----
    Node :math:`i` with :math:`c_i` of the :math:`C` CPUs gets
    :math:`\\lfloor a c_i / C \\rfloor` of the :math:`a` actors, and the
    actors still unplaced go one each to the nodes with the largest
    remainders. Within a node, actors take the node's CPUs in order and wrap
    around when there are more actors than CPUs; an actor on a CPU it
    shares is marked ``shared``.

    Examples
    --------
    >>> two_nodes = Topology(nodes=((0, (0, 1)), (1, (2, 3))), source="example")
    >>> [(p.actor, p.cpu, p.node) for p in plan(3, two_nodes)]
    [(0, 0, 0), (1, 1, 0), (2, 2, 1)]
    >>> [p.shared for p in plan(5, two_nodes)]
    [True, False, True, False, False]
    """
    if isinstance(actors, bool) or not isinstance(actors, int):
        raise ValueError(f"actors must be an integer, got {actors!r}")
    if actors < 1:
        raise ValueError(f"actors must be at least 1, got {actors}")
    if actors > MAX_ACTORS:
        raise ValueError(
            f"actors={actors} is more than the {MAX_ACTORS} actor processes one "
            f"engine supports; use about one actor per CPU"
        )
    if topology is None:
        topology = read_topology()

    quotas = _node_quotas(actors, [len(cpus) for _, cpus in topology.nodes])
    placements = []
    for (node, cpus), quota in zip(topology.nodes, quotas, strict=True):
        for local in range(quota):
            cpu = cpus[local % len(cpus)]
            shared = quota > len(cpus) and local % len(cpus) < quota - len(cpus)
            placements.append(Placement(len(placements), cpu, node, shared))
    return placements


def pin(cpu):
    """Pin the calling process to `cpu`.

    Returns
    -------
    bool
        True if pinned; False where the platform has no affinity call or
        the kernel refuses (the CPU is outside the allowed set, or a
        container forbids it). The reason is logged at debug level.

    Raises
    ------
    ValueError
        If `cpu` is not a non-negative integer.
    """
    if isinstance(cpu, bool) or not isinstance(cpu, int) or cpu < 0:
        raise ValueError(f"cpu must be a non-negative integer, got {cpu!r}")
    setaffinity = getattr(os, "sched_setaffinity", None)
    if setaffinity is None:
        log.debug("cannot pin to CPU %d: no sched_setaffinity here", cpu)
        return False
    try:
        setaffinity(0, {cpu})
    except OSError as error:
        log.debug("cannot pin to CPU %d: %s", cpu, error)
        return False
    log.debug("pinned pid %d to CPU %d", os.getpid(), cpu)
    return True


def format_plan(placements, topology):
    """A table of `placements` under a summary of `topology`, for people.

    Examples
    --------
    >>> one = Topology(nodes=((0, (0, 1)),), source="fallback")
    >>> print(format_plan(plan(3, one), one))
    topology from fallback: 1 NUMA node, 2 CPUs
      node 0: CPUs 0-1
    3 actors, 2 of them on a shared CPU
    actor   cpu  node  shared
        0     0     0  yes
        1     1     0
        2     0     0  yes
    """
    nodes = topology.num_nodes
    lines = [
        f"topology from {topology.source}: {nodes} NUMA node{'s' * (nodes != 1)}, "
        f"{topology.num_cpus} CPUs"
    ]
    for node, cpus in topology.nodes:
        lines.append(f"  node {node}: CPUs {format_cpulist(cpus)}")
    shared = sum(p.shared for p in placements)
    summary = f"{len(placements)} actor{'s' * (len(placements) != 1)}"
    if shared:
        summary += f", {shared} of them on a shared CPU"
    lines.append(summary)
    lines.append(f"{'actor':>5} {'cpu':>5} {'node':>5}  shared")
    for p in placements:
        lines.append(
            f"{p.actor:>5} {p.cpu:>5} {p.node:>5}" + ("  yes" if p.shared else "")
        )
    return "\n".join(lines)
