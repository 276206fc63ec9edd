"""NUMA topology from sysfs, the placement plan and pinning."""

import os
from collections import Counter

import pytest

from scheduler import placement
from scheduler.placement import (
    MAX_ACTORS,
    Placement,
    Topology,
    format_cpulist,
    format_plan,
    parse_cpulist,
    pin,
    plan,
    read_topology,
    usable_cpus,
)


def _sysfs(root, cpulists):
    """A fake ``/sys/devices/system/node`` with one folder per node."""
    root.mkdir(exist_ok=True)
    (root / "online").write_text("0-1\n")
    (root / "possible").write_text("0-3\n")
    for node, text in cpulists.items():
        folder = root / f"node{node}"
        folder.mkdir()
        if text is not None:
            (folder / "cpulist").write_text(text)
    return root


TWO_NODES = Topology(nodes=((0, (0, 1, 2, 3)), (1, (4, 5, 6, 7))), source="test")


# --- cpulists ----------------------------------------------------------------


@pytest.mark.parametrize(
    "text, cpus",
    [
        ("0-3,8-11\n", (0, 1, 2, 3, 8, 9, 10, 11)),
        ("5", (5,)),
        ("7,3,3-4", (3, 4, 7)),
        (" 0 , 2-2 ", (0, 2)),
        ("\n", ()),
        ("", ()),
    ],
)
def test_parse_cpulist(text, cpus):
    assert parse_cpulist(text) == cpus


@pytest.mark.parametrize(
    "text, message",
    [
        ("0-3,,5", "'' is not a CPU number"),
        ("a-b", "'a-b' is not a CPU number"),
        ("-1", "'-1' is not a CPU number"),
        ("0-3:2/4", "'0-3:2/4' is not a CPU number"),
        ("7-4", "range '7-4' runs backwards"),
    ],
)
def test_parse_cpulist_refuses_malformed_text(text, message):
    with pytest.raises(ValueError, match=f"malformed cpulist .*{message}"):
        parse_cpulist(text)


@pytest.mark.parametrize("cpus", [(), (3,), (0, 1, 2, 5, 7, 8), tuple(range(64))])
def test_format_cpulist_round_trips(cpus):
    assert parse_cpulist(format_cpulist(cpus)) == cpus


# --- topology ----------------------------------------------------------------


def test_two_nodes_with_odd_cpulists(tmp_path):
    root = _sysfs(tmp_path / "node", {0: "0-1,4-5\n", 1: "2-3,6-7\n"})
    topology = read_topology(root, allowed=range(8))
    assert topology.nodes == ((0, (0, 1, 4, 5)), (1, (2, 3, 6, 7)))
    assert topology.source == str(root)
    assert topology.cpus == tuple(range(8)) and topology.num_cpus == 8
    assert topology.num_nodes == 2


def test_offline_and_memory_only_nodes_are_dropped(tmp_path):
    root = _sysfs(tmp_path / "node", {0: "0-3\n", 1: "\n", 2: None, 3: "4-7\n"})
    topology = read_topology(root, allowed=range(8))
    assert [node for node, _ in topology.nodes] == [0, 3]


def test_affinity_trims_cpus_and_nodes(tmp_path):
    root = _sysfs(tmp_path / "node", {0: "0-3", 1: "4-7", 2: "8-11"})
    topology = read_topology(root, allowed={1, 2, 9})
    assert topology.nodes == ((0, (1, 2)), (2, (9,)))


def test_node_numbers_sort_numerically(tmp_path):
    root = _sysfs(tmp_path / "node", {10: "4-5", 2: "0-1"})
    assert [n for n, _ in read_topology(root, allowed=range(6)).nodes] == [2, 10]


@pytest.mark.parametrize(
    "cpulists",
    [
        None,  # no sysfs folder at all
        {},  # a folder without nodes
        {0: "0-3", 1: "x-y"},  # malformed
        {0: "0-3", 1: "3-5"},  # a CPU in two nodes
        {0: "16-31"},  # nothing allowed
    ],
)
def test_fallback_is_one_node_of_all_allowed_cpus(tmp_path, cpulists):
    root = tmp_path / "node"
    if cpulists is not None:
        _sysfs(root, cpulists)
    topology = read_topology(root, allowed={0, 1, 2, 3})
    assert topology.source == "fallback"
    assert topology.nodes == ((0, (0, 1, 2, 3)),)


def test_malformed_sysfs_is_logged(tmp_path, caplog):
    root = _sysfs(tmp_path / "node", {0: "0-3", 1: "4-x"})
    read_topology(root, allowed=range(8))
    assert "node1/cpulist" in caplog.text and "'4-x'" in caplog.text


def test_unreadable_sysfs_falls_back(tmp_path, monkeypatch):
    def refuse(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(placement, "_read_nodes", refuse)
    assert read_topology(tmp_path, allowed={0}).source == "fallback"


def test_no_allowed_cpus_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no CPUs allowed"):
        read_topology(tmp_path, allowed=[])


def test_this_machine():
    topology = read_topology()
    assert set(topology.cpus) == os.sched_getaffinity(0)
    assert usable_cpus() == topology.num_cpus


def test_usable_cpus_without_sched_getaffinity(monkeypatch):
    expected = usable_cpus()
    monkeypatch.delattr(os, "sched_getaffinity")
    assert usable_cpus() == expected


@pytest.mark.parametrize(
    "nodes, message",
    [
        ((), "at least one node"),
        (((0, ()),), "node 0 has no CPUs"),
        (((0, (0, 1)), (1, (1, 2))), r"node 1 repeats CPUs \[1\]"),
    ],
)
def test_topology_checks_itself(nodes, message):
    with pytest.raises(ValueError, match=message):
        Topology(nodes=nodes, source="test")


# --- plan --------------------------------------------------------------------


def test_one_actor():
    assert plan(1, TWO_NODES) == [Placement(0, 0, 0)]


def test_exactly_one_actor_per_cpu():
    placements = plan(8, TWO_NODES)
    assert [(p.actor, p.cpu, p.node) for p in placements] == [
        (i, i, 0 if i < 4 else 1) for i in range(8)
    ]
    assert not any(p.shared for p in placements)


def test_actors_split_between_nodes_in_order():
    placements = plan(6, TWO_NODES)
    assert [p.node for p in placements] == [0, 0, 0, 1, 1, 1]
    assert [p.cpu for p in placements] == [0, 1, 2, 4, 5, 6]


def test_nodes_get_actors_in_proportion_to_their_cpus():
    uneven = Topology(nodes=((0, tuple(range(6))), (1, (6, 7))), source="test")
    assert Counter(p.node for p in plan(4, uneven)) == {0: 3, 1: 1}
    assert Counter(p.node for p in plan(16, uneven)) == {0: 12, 1: 4}


def test_more_actors_than_cpus_wraps_and_marks_shared_cpus():
    placements = plan(11, TWO_NODES)
    assert [p.node for p in placements] == [0] * 6 + [1] * 5
    assert [p.cpu for p in placements] == [0, 1, 2, 3, 0, 1, 4, 5, 6, 7, 4]
    per_cpu = Counter(p.cpu for p in placements)
    assert all(p.shared == (per_cpu[p.cpu] > 1) for p in placements)
    assert sum(p.shared for p in placements) == 6


def test_plan_reads_this_machine_by_default():
    placements = plan(3)
    assert [p.actor for p in placements] == [0, 1, 2]
    assert {p.cpu for p in placements} <= os.sched_getaffinity(0)


@pytest.mark.parametrize(
    "actors, message",
    [
        (0, "actors must be at least 1, got 0"),
        (-3, "actors must be at least 1, got -3"),
        (2.0, "actors must be an integer, got 2.0"),
        (True, "actors must be an integer, got True"),
        (MAX_ACTORS + 1, "actors=1025 is more than the 1024"),
    ],
)
def test_plan_refuses_bad_actor_counts(actors, message):
    with pytest.raises(ValueError, match=message):
        plan(actors, TWO_NODES)


def test_format_plan():
    text = format_plan(plan(9, TWO_NODES), TWO_NODES)
    lines = text.splitlines()
    assert lines[0] == "topology from test: 2 NUMA nodes, 8 CPUs"
    assert lines[1:3] == ["  node 0: CPUs 0-3", "  node 1: CPUs 4-7"]
    assert lines[3] == "9 actors, 2 of them on a shared CPU"
    assert lines[4].split() == ["actor", "cpu", "node", "shared"]
    assert lines[5].split() == ["0", "0", "0", "yes"]
    assert lines[6].split() == ["1", "1", "0"]
    assert len(lines) == 5 + 9


# --- pin ---------------------------------------------------------------------


def test_pin_to_an_allowed_cpu():
    before = os.sched_getaffinity(0)
    try:
        cpu = max(before)
        assert pin(cpu) is True
        assert os.sched_getaffinity(0) == {cpu}
    finally:
        os.sched_setaffinity(0, before)


def test_pin_reports_refusal_and_absence(monkeypatch, caplog):
    caplog.set_level("DEBUG", logger="scheduler.placement")
    before = os.sched_getaffinity(0)
    assert pin(10**6) is False
    assert os.sched_getaffinity(0) == before
    assert "cannot pin to CPU 1000000" in caplog.text

    def forbidden(pid, cpus):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "sched_setaffinity", forbidden)
    assert pin(0) is False
    monkeypatch.delattr(os, "sched_setaffinity")
    assert pin(0) is False
    assert "no sched_setaffinity" in caplog.text


@pytest.mark.parametrize("cpu", [-1, 1.5, None])
def test_pin_refuses_bad_cpu_numbers(cpu):
    with pytest.raises(ValueError, match="cpu must be a non-negative integer"):
        pin(cpu)
