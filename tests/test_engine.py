"""The parallel engine against the sequential reference: results, API, counters.

Every spread here is compared bit for bit with ``reference.spread``. The
engine decides by itself where each wave runs (the driver, the actors) and
how (push, pull); the tests also force each choice, by setting the
module's hand-over thresholds and the engine's ``pull_edges``, so that
tiny graphs exercise the actors' code. Tiny graphs have one chunk; the
hypothesis test also cuts them into many small chunks, by handing the
engine a partition with a smaller chunk weight, so that pull waves steal
and shards hold several chunks.
"""

import contextlib
import os
import threading
from functools import partial
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from leaks import assert_same

import engram_actors.engine as engine_module
from engram_actors import (
    ConfigError,
    Engine,
    EngineClosedError,
    Graph,
    SpreadConfig,
    UnknownNodeError,
    generators,
    reference,
)
from scheduler import control
from scheduler.partition import CHUNK_EDGES, partition
from shm.segments import SHM_DIR

pytestmark = [
    pytest.mark.usefixtures("leaves_nothing_behind"),
    pytest.mark.skipif(
        not os.path.isdir(SHM_DIR), reason="needs POSIX shared memory in /dev/shm"
    ),
]

# Hand-over settings: where the waves of a spread run.
AUTO = "auto"  # the engine's own thresholds
EDGES = "edges"  # every wave with a frontier runs on the actors
CUES = "cues"  # the actors settle the cues too (from wave 0)

# Wave directions: the engine's choice, every wave with edges pulls, or
# every wave pushes.
PULL_EDGES = {"auto": None, "pull": 1, "push": 2**62}


# -- helpers ----------------------------------------------------------------


@contextlib.contextmanager
def hand_over(where):
    """Make the engine run waves on the actors from the first one."""
    changes = {}
    if where in (EDGES, CUES):
        changes["HAND_OVER_EDGES"] = 0
    if where == CUES:
        changes["HAND_OVER_CUES"] = 1
    if not changes:
        yield
        return
    with mock.patch.multiple(engine_module, **changes):
        yield


def check_counters(result, engine, where, direction):
    """The per-actor counters agree with each other and with the stats."""
    stats = result.stats
    if stats.runner == "engine (driver)":
        assert stats.counters == {}
        return False
    assert stats.runner == f"engine ({engine.actors} actors)"
    counters = stats.counters
    assert sorted(counters) == sorted(f"actor{k}" for k in range(engine.actors))

    # Every actor takes part in every wave the actors run, in the same mode.
    push_waves = {c["push_waves"] for c in counters.values()}
    pull_waves = {c["pull_waves"] for c in counters.values()}
    assert len(push_waves) == 1 and len(pull_waves) == 1, counters
    push, pull = push_waves.pop(), pull_waves.pop()
    assert push + pull <= stats.waves
    if where != AUTO:
        assert push + pull == stats.waves

    def total(name):
        return sum(c[name] for c in counters.values())

    # Each chunk is processed exactly once per pull wave.
    assert total("pull_chunks") == pull * engine.partition.num_chunks
    for c in counters.values():
        assert c["chunks_stolen"] >= 0
        if engine.push == "owner":
            # Only pull waves hand out chunks, and owner push needs no CAS.
            assert c["chunks_stolen"] <= c["pull_chunks"]
            assert c["cas_retries"] == 0
        assert c["cas_retries"] >= 0
        assert c["edges"] >= 0
        assert c["barrier_wait_s"] >= 0 and c["busy_s"] >= 0

    num_edges = engine.graph.num_edges
    if direction == "push":
        assert pull == 0
        if where != AUTO:
            assert total("edges") == stats.edges_traversed
    elif direction == "pull":
        # A wave pulls when its frontier has an out-edge; the others (whose
        # frontier has none) push and follow no edge.
        assert total("edges") == pull * num_edges
        if where != AUTO:
            assert (pull == 0) == (stats.edges_traversed == 0)
    return True


def spread_and_check(engine, cues, config, expected, where, direction):
    engine.pull_edges = PULL_EDGES[direction] or max(
        int(engine.graph.num_edges * engine_module.PULL_SHARE), 1
    )
    with hand_over(where):
        result = engine.spread(cues, config)
    assert_same(result, expected)
    ran_on_actors = check_counters(result, engine, where, direction)
    if where == CUES:
        assert ran_on_actors
    elif where == EDGES:
        assert ran_on_actors == (expected.stats.waves > 0)
    return result


# -- differential tests: tiny random graphs --------------------------------


@st.composite
def graph_cases(draw):
    """A graph of 1 to 300 nodes: parallel edges, zero weights, self loops,
    nodes without edges; and a chunk weight to cut it with."""
    n = draw(st.integers(1, 300))
    with_edges = draw(st.integers(1, n))
    m = draw(st.integers(0, 6 * with_edges))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    src = rng.integers(0, with_edges, m)
    dst = rng.integers(0, with_edges, m)
    loops = draw(st.integers(0, m))
    dst[:loops:3] = src[:loops:3]
    repeated = rng.integers(0, m, draw(st.integers(0, m))) if m else []
    src = np.concatenate([src, src[repeated]])
    dst = np.concatenate([dst, dst[repeated]])
    choices = np.array([0.0, 0.1, 0.5, 1.0, 0.3333, 2.0], np.float32)
    weight = choices[rng.integers(0, len(choices), src.size)]
    zero_share = draw(st.sampled_from([0.0, 0.2, 1.0]))
    weight[rng.random(src.size) < zero_share] = 0.0
    # Spread the nodes without edges over the id range.
    relabel = rng.permutation(n)
    graph = Graph.from_edges(
        relabel[src],
        relabel[dst],
        weight,
        num_nodes=n,
        duplicates=draw(st.sampled_from(["keep", "sum"])),
    )
    chunk_edges = draw(st.sampled_from([3, 16, 64, CHUNK_EDGES]))
    return graph, chunk_edges


def cue_sets(n):
    ids = st.integers(0, n - 1)
    values = st.sampled_from([0.0, 0.05, 0.5, 1.0, 3.0])
    as_dict = st.dictionaries(ids, values, min_size=1, max_size=12)
    # Arrays may name a node twice: the API sums its activations.
    as_arrays = st.lists(st.tuples(ids, values), min_size=1, max_size=20).map(
        lambda pairs: (
            np.array([p[0] for p in pairs], np.int64),
            np.array([p[1] for p in pairs], np.float64),
        )
    )
    every_node = st.just((np.arange(n)[::-1].copy(), np.full(n, 0.5)))
    return st.one_of(as_dict, as_arrays, every_node)


configs = st.builds(
    SpreadConfig,
    decay=st.sampled_from([0.25, 0.5, 0.8, 1.0]),
    threshold=st.sampled_from([0.0, 0.01, 0.1, 0.4]),
    max_hops=st.integers(0, 8),
    fan_normalize=st.booleans(),
    refractory_waves=st.integers(0, 7),
    max_activation=st.sampled_from([None, 0.5, 2.0]),
)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    graph_cases().flatmap(
        lambda case: st.tuples(
            st.just(case),
            cue_sets(case[0].num_nodes),
            configs,
            st.sampled_from(["packed", "padded"]),
            st.booleans(),
        )
    )
)
def test_tiny_graphs_match_the_reference_bit_for_bit(drawn):
    (graph, chunk_edges), cues, config, slot_layout, deterministic = drawn
    expected = reference.spread(graph, cues, config)
    cut = partial(partition, chunk_edges=chunk_edges)
    for actors in (1, 2, 3, 4):
        with (
            mock.patch.object(engine_module, "partition", cut),
            Engine(
                graph, actors, deterministic=deterministic, slot_layout=slot_layout
            ) as engine,
        ):
            # Too small for the engine's own hand-over: the driver runs it.
            result = spread_and_check(engine, cues, config, expected, AUTO, "auto")
            assert result.stats.runner == "engine (driver)"
            for where, direction in (
                (EDGES, "pull"),
                (EDGES, "push"),
                (CUES, "auto"),
                (CUES, "pull"),
            ):
                spread_and_check(engine, cues, config, expected, where, direction)


# -- differential tests: medium graphs from the generators -----------------


@pytest.mark.slow
@pytest.mark.parametrize("topology", generators.TOPOLOGIES)
def test_medium_graphs_match_the_reference_for_any_actor_count(topology):
    n = 20_000
    graph = generators.generate(topology, n, seed=11)
    rng = np.random.default_rng(5)
    many = rng.choice(n, engine_module.HAND_OVER_CUES + 600, replace=False)
    cases = [
        ({0: 1.0, 777: 0.5, 19_999: 2.0}, SpreadConfig(threshold=0.0, max_hops=6)),
        ({int(v): 1.0 for v in rng.choice(n, 40)}, SpreadConfig()),
        (
            {5: 1.0, 6: 1.0},
            SpreadConfig(
                decay=0.9,
                threshold=0.001,
                max_hops=12,
                fan_normalize=True,
                refractory_waves=2,
            ),
        ),
        # Enough cues that the actors settle them (wave 0) on their own.
        ((many, rng.uniform(0, 1, many.size)), SpreadConfig(max_hops=3)),
    ]
    expected = [reference.spread(graph, cues, config) for cues, config in cases]

    for actors in (1, 2, 3, 4):
        for deterministic in (True, False):
            # Both modes keep the model's order; one of them tries every
            # wave direction.
            directions = list(PULL_EDGES) if deterministic else ["auto"]
            with Engine(graph, actors, deterministic=deterministic) as engine:
                for (cues, config), reference_result in zip(
                    cases, expected, strict=True
                ):
                    for direction in directions:
                        result = spread_and_check(
                            engine, cues, config, reference_result, AUTO, direction
                        )
                        if cues is cases[-1][0]:
                            # So many cues go to the actors unforced.
                            assert result.stats.runner != "engine (driver)"
                    spread_and_check(
                        engine, cues, config, reference_result, EDGES, "auto"
                    )


# -- the API ----------------------------------------------------------------


def _labelled_graph():
    rng = np.random.default_rng(2)
    n = 300
    labels = [f"memory {i}" for i in range(n)]
    src, dst = rng.integers(0, n, 1500), rng.integers(0, n, 1500)
    return Graph.from_edges(src, dst, rng.uniform(0, 1, 1500), labels=labels)


@pytest.fixture
def labelled():
    graph = _labelled_graph()
    with Engine(graph, actors=2) as engine:
        yield graph, engine


def test_labels_as_cues_and_top(labelled):
    graph, engine = labelled
    # Node 3 twice, by label and by id: its activations add up.
    cues = {"memory 3": 1.0, 3: 0.5, "memory 40": 0.25}
    expected = reference.spread(graph, cues, threshold=0.0, max_hops=4)
    for where in (AUTO, CUES):
        with hand_over(where):
            result = engine.spread(cues, threshold=0.0, max_hops=4)
        assert_same(result, expected)
        assert result.top(5) == expected.top(5)
        assert result.top(3, ids=True) == expected.top(3, ids=True)
        assert result.labels == expected.labels
        cues_only = engine.spread(cues, max_hops=0)
        assert cues_only.top(3) == [("memory 3", 1.5), ("memory 40", 0.25)]


def test_engine_config_spread_config_and_overrides():
    graph = _labelled_graph()
    cues = {0: 1.0, 9: 0.7}
    with Engine(graph, actors=2, config={"decay": 0.5, "threshold": 0.0}) as engine:
        assert engine.config == SpreadConfig(decay=0.5, threshold=0.0)
        cases = [
            # The engine's config, then with an override on top.
            ({}, SpreadConfig(decay=0.5, threshold=0.0)),
            ({"max_hops": 6}, SpreadConfig(decay=0.5, threshold=0.0, max_hops=6)),
            # A config given to spread replaces the engine's entirely.
            ({"config": SpreadConfig(decay=0.9)}, SpreadConfig(decay=0.9)),
            ({"config": {"max_hops": 1}}, SpreadConfig(max_hops=1)),
            (
                {"config": SpreadConfig(fan_normalize=True), "max_activation": 0.3},
                SpreadConfig(fan_normalize=True, max_activation=0.3),
            ),
        ]
        default = reference.spread(graph, cues)
        for where in (AUTO, EDGES):
            for arguments, config in cases:
                with hand_over(where):
                    result = engine.spread(cues, **arguments)
                expected = reference.spread(graph, cues, config)
                assert_same(result, expected)
                if config != SpreadConfig():
                    assert not np.array_equal(result.activation, default.activation)

        with pytest.raises(ConfigError, match="unknown SpreadConfig field.*bogus"):
            engine.spread(cues, bogus=1)
        with pytest.raises(ConfigError, match="decay"):
            engine.spread(cues, decay=2.0)
        with pytest.raises(ConfigError, match="config must be a SpreadConfig"):
            engine.spread(cues, config=[("decay", 0.5)])
    with pytest.raises(ConfigError, match="decay"):
        Engine(graph, actors=1, config={"decay": 0.0})


@pytest.mark.parametrize(
    ("cues", "message"),
    [
        ({0: 1.0, 300: 1.0}, r"unknown node id 300: ids are in \[0, 300\)"),
        ({"memory 1": 1.0, "nowhere": 1.0}, r"unknown node label 'nowhere'"),
        (
            (np.array([0, 1, -4]), np.ones(3)),
            r"unknown node id -4 at cue position 2: ids are in \[0, 300\)",
        ),
    ],
)
def test_unknown_node_is_refused_before_anything_is_touched(labelled, cues, message):
    graph, engine = labelled
    good = {0: 1.0, 1: 1.0}
    expected = reference.spread(graph, good, threshold=0.0, max_hops=5)
    with hand_over(CUES):
        command = engine.ctl[control.COMMAND]
        with pytest.raises(UnknownNodeError, match=message):
            engine.spread(cues, threshold=0.0, max_hops=5)
        # No command went to the actors.
        assert engine.ctl[control.COMMAND] == command
        assert_same(engine.spread(good, threshold=0.0, max_hops=5), expected)
    assert_same(engine.spread(good, threshold=0.0, max_hops=5), expected)
    assert "running" in repr(engine)


@pytest.mark.parametrize(
    ("actors", "message"),
    [
        (0, r"actors is 0; allowed range is \[1, 1024\]"),
        (-1, r"actors is -1; allowed range is \[1, 1024\]"),
        (5000, r"actors is 5000; allowed range is \[1, 1024\]"),
        (1.5, r"actors must be an integer, got 1\.5"),
        (True, r"actors must be an integer, got True"),
        ("2", r"actors must be an integer, got '2'"),
    ],
)
def test_bad_actor_counts_are_refused(actors, message):
    graph = Graph.from_edges([0], [1], 1.0)
    with pytest.raises(ValueError, match=message):
        Engine(graph, actors=actors)


def test_numpy_integer_actor_count_is_taken():
    graph = Graph.from_edges([0, 1], [1, 0], 1.0)
    with Engine(graph, actors=np.int64(2)) as engine:
        assert engine.actors == 2
        assert len(engine._processes) == 2


def test_invalid_slot_layout_and_push_are_refused():
    graph = Graph.from_edges([0], [1], 1.0)
    with pytest.raises(
        ValueError, match="slot_layout is 'sparse'; expected one of packed, padded"
    ):
        Engine(graph, actors=1, slot_layout="sparse")
    with pytest.raises(ValueError, match="push is 'everyone'; expected one of owner"):
        Engine(graph, actors=1, push="everyone")
    with pytest.raises(ValueError, match="cannot be deterministic; use push='owner'"):
        Engine(graph, actors=1, deterministic=True, push="shared")


def test_shared_push_reaches_the_same_nodes_with_close_sums():
    """Shared push adds with atomics in no fixed order: with threshold 0
    the same nodes fire in the same waves, and the sums differ at most in
    their last bits."""
    graph = generators.generate("scale-free", 20_000, seed=3)
    cues = {0: 1.0, 50: 0.5, 12_345: 0.25}
    config = SpreadConfig(threshold=0.0, max_hops=6, fan_normalize=True)
    expected = reference.spread(graph, cues, config)
    with Engine(graph, actors=3, push="shared") as engine:
        assert engine.push == "shared"
        engine.pull_edges = 2**62
        for _ in range(3):
            with hand_over(EDGES):
                result = engine.spread(cues, config)
            np.testing.assert_array_equal(result.nodes, expected.nodes)
            np.testing.assert_array_equal(result.first_hop, expected.first_hop)
            np.testing.assert_allclose(
                result.activation, expected.activation, rtol=1e-5
            )
            for field in ("waves", "fired_per_wave", "edges_traversed"):
                assert getattr(result.stats, field) == getattr(expected.stats, field)
            check_counters(result, engine, EDGES, "push")
            assert result.stats.counters["actor0"]["push_waves"] == 6


def test_padded_slot_layout_gives_the_same_bits():
    graph = generators.generate("scale-free", 20_000, seed=4)
    cues = {0: 1.0, 100: 0.5}
    config = SpreadConfig(threshold=0.0, max_hops=5, fan_normalize=True)
    expected = reference.spread(graph, cues, config)
    results = []
    for slot_layout in ("packed", "padded"):
        with Engine(graph, actors=3, slot_layout=slot_layout) as engine:
            assert engine.slot_layout == slot_layout
            for direction in PULL_EDGES:
                results.append(
                    spread_and_check(engine, cues, config, expected, EDGES, direction)
                )
    assert all(r.stats.runner == "engine (3 actors)" for r in results)


def test_closed_engine_refuses_to_spread_and_close_is_idempotent():
    graph = Graph.from_edges([0, 1, 2], [1, 2, 0], 0.5)
    engine = Engine(graph, actors=2)
    assert repr(engine) == "Engine(3 nodes, 2 actors, 1 chunks, running)"
    assert engine.spread({0: 1.0}, max_hops=2).top(1) == [(0, 1.0)]
    engine.close()
    engine.close()
    assert repr(engine) == "Engine(3 nodes, 2 actors, 1 chunks, closed)"
    with pytest.raises(EngineClosedError, match="the engine is closed"):
        engine.spread({0: 1.0})
    with pytest.raises(EngineClosedError, match="the engine is closed"):
        engine.restart()
    with engine:  # entering and leaving a closed engine changes nothing
        pass


def test_many_spreads_in_a_row_leave_no_state_behind():
    graph = generators.generate("small-world", 20_000, seed=8)
    rng = np.random.default_rng(9)
    wide = rng.choice(20_000, engine_module.HAND_OVER_CUES + 100, replace=False)
    # A wide spread from many cues, and a narrow deep one: what either
    # leaves behind would show in the other.
    cases = [
        ((wide, np.full(wide.size, 0.75)), SpreadConfig(threshold=0.05, max_hops=4)),
        (
            {17: 1.0},
            SpreadConfig(
                decay=1.0,
                threshold=0.0,
                max_hops=9,
                fan_normalize=True,
                refractory_waves=1,
            ),
        ),
    ]
    expected = [reference.spread(graph, cues, config) for cues, config in cases]
    directions = list(PULL_EDGES)
    with Engine(graph, actors=3) as engine:
        for i in range(50):
            (cues, config), reference_result = cases[i % 2], expected[i % 2]
            where = (AUTO, EDGES)[(i // 2) % 2]
            spread_and_check(
                engine, cues, config, reference_result, where, directions[i % 3]
            )


def test_counters_of_forced_pull_and_push_waves():
    graph = generators.generate("random", 20_000, seed=1)
    cues = {3: 1.0, 4000: 1.0}
    config = SpreadConfig(threshold=0.0, max_hops=5)
    expected = reference.spread(graph, cues, config)
    with Engine(graph, actors=2) as engine:
        assert engine.partition.num_chunks > 2
        pulled = spread_and_check(engine, cues, config, expected, EDGES, "pull")
        for counters in pulled.stats.counters.values():
            assert counters["pull_waves"] == 5
            assert counters["push_waves"] == 0
            assert counters["pull_chunks"] >= 1
        pushed = spread_and_check(engine, cues, config, expected, EDGES, "push")
        for counters in pushed.stats.counters.values():
            assert counters["pull_waves"] == 0
            assert counters["push_waves"] == 5
            assert counters["pull_chunks"] == counters["chunks_stolen"] == 0
        # Counters are per spread, not cumulative.
        again = spread_and_check(engine, cues, config, expected, EDGES, "push")
        assert (
            again.stats.counters["actor0"]["edges"]
            == (pushed.stats.counters["actor0"]["edges"])
        )
        # A spread the driver runs alone has no actor counters.
        small = engine.spread({3: 1.0}, max_hops=1)
        assert small.stats.runner == "engine (driver)"
        assert small.stats.counters == {}


# -- threads --------------------------------------------------------------


def test_two_threads_spreading_on_one_engine_get_their_own_results(monkeypatch):
    monkeypatch.setattr(engine_module, "HAND_OVER_EDGES", 0)
    graph = generators.generate("random", 20_000, seed=6)
    mine = [
        ({1: 1.0, 2: 1.0}, SpreadConfig(threshold=0.0, max_hops=5)),
        ({900: 2.0}, SpreadConfig(decay=0.5, threshold=0.001, max_hops=8)),
    ]
    expected = [reference.spread(graph, cues, config) for cues, config in mine]
    start = threading.Barrier(2)
    failures = []

    def spread_many(engine, which):
        cues, config = mine[which]
        try:
            start.wait(timeout=30)
            for _ in range(25):
                result = engine.spread(cues, config)
                assert result.stats.runner == "engine (2 actors)"
                assert_same(result, expected[which])
        except BaseException as error:  # reported by the main thread
            failures.append(error)

    with Engine(graph, actors=2) as engine:
        threads = [
            threading.Thread(target=spread_many, args=(engine, which))
            for which in (0, 1)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not any(thread.is_alive() for thread in threads)
    assert not failures, failures


def test_memory_per_spread_grows_with_touched_nodes_not_the_graph():
    import tracemalloc

    graph = generators.generate("random", 200_000, seed=21)
    with Engine(graph, actors=2) as engine:
        cues = {5: 1.0}
        config = SpreadConfig(threshold=0.3, max_hops=3)
        engine.spread(cues, config)  # kernels loaded, caches warm
        tracemalloc.start()
        try:
            result = engine.spread(cues, config)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    # The result holds 12 bytes a touched node; allow for Python objects,
    # never for anything sized by the 200,000-node graph (800 kB a array).
    assert len(result) < 5_000
    assert peak < 100_000 + 64 * len(result)
