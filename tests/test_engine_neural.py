"""The engine's neural spreads against the neural reference, bit for bit.

Every cycle of a neural spread is a wave of the engine: the same hand-over
from the driver to the actors, the same push and pull, then the neural
settle. These tests force each path on tiny signed graphs (inhibitory
weights included) for 1 to 3 actors, and run the generated topologies at
a size where the engine chooses by itself.
"""

import os
from functools import partial
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from leaks import assert_same
from test_engine import AUTO, CUES, EDGES, spread_and_check

import engram_actors.engine as engine_module
from engram_actors import Engine, Graph, GraphError, generators, reference
from engram_actors.config import NeuralConfig
from scheduler.partition import CHUNK_EDGES, partition
from shm.segments import SHM_DIR

pytestmark = [
    pytest.mark.usefixtures("leaves_nothing_behind"),
    pytest.mark.skipif(
        not os.path.isdir(SHM_DIR), reason="needs POSIX shared memory in /dev/shm"
    ),
]


@st.composite
def signed_graphs(draw):
    """A graph of 1 to 120 nodes with excitatory, inhibitory and zero
    weights (exact cancellations included), and a chunk weight."""
    n = draw(st.integers(1, 120))
    m = draw(st.integers(0, 8 * n))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    src = rng.integers(0, n, m)
    dst = rng.integers(0, n, m)
    choices = np.array([0.0, 0.25, 0.5, 1.0, 1.5, -0.25, -0.5, -1.0], np.float32)
    inhibitory = draw(st.sampled_from([0, 3, 5, 8]))  # how many choices to use
    weight = choices[rng.integers(0, max(inhibitory, 5), m)]
    graph = Graph.from_edges(src, dst, weight, num_nodes=n, signed=True)
    chunk_edges = draw(st.sampled_from([3, 16, CHUNK_EDGES]))
    return graph, chunk_edges


def neural_cues(n):
    ids = st.integers(0, n - 1)
    values = st.sampled_from([0.0, 0.4, 1.0, 2.0, 30.0])
    return st.dictionaries(ids, values, min_size=1, max_size=10)


neural_configs = st.builds(
    NeuralConfig,
    dt_ms=st.sampled_from([0.5, 1.0, 2.5]),
    theta_depth=st.sampled_from([0.0, 0.5, 1.0]),
    theta_phase=st.sampled_from([0.0, 2.0, 4.5]),
    refractory_ms=st.sampled_from([0.0, 3.0, 9.0]),
    depletion=st.sampled_from([0.5, 0.8, 1.0]),
    tau_recovery_ms=st.sampled_from([50.0, 800.0]),
    synaptic_gain=st.sampled_from([0.8, 2.0, 6.0]),
    max_cycles=st.integers(0, 7),
    wm_capacity=st.integers(5, 9),
    v_reset=st.sampled_from([0.0, -0.5]),
)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    signed_graphs().flatmap(
        lambda case: st.tuples(
            st.just(case),
            neural_cues(case[0].num_nodes),
            neural_configs,
            st.sampled_from(["packed", "padded"]),
        )
    )
)
def test_tiny_signed_graphs_match_the_neural_reference_bit_for_bit(drawn):
    (graph, chunk_edges), cues, config, slot_layout = drawn
    expected = reference.spread_neural(graph, cues, config)
    # The node-by-node kernel gives the same numbers as the vectorised one.
    assert_same(reference.spread_neural(graph, cues, config, record_spikes=True),
                expected)  # fmt: skip
    cut = partial(partition, chunk_edges=chunk_edges)
    for actors in (1, 2, 3):
        with (
            mock.patch.object(engine_module, "partition", cut),
            Engine(graph, actors, deterministic=True, slot_layout=slot_layout) as eng,
        ):
            result = spread_and_check(eng, cues, config, expected, AUTO, "auto")
            assert result.stats.runner == "engine (driver)"
            for where, direction in (
                (EDGES, "pull"),
                (EDGES, "push"),
                (CUES, "auto"),
                (CUES, "pull"),
            ):
                spread_and_check(eng, cues, config, expected, where, direction)


@pytest.mark.slow
@pytest.mark.parametrize("topology", generators.TOPOLOGIES)
def test_generated_graphs_match_the_neural_reference(topology):
    n = 20_000
    graph = generators.generate(topology, n, seed=3)
    rng = np.random.default_rng(8)
    many = rng.choice(n, engine_module.HAND_OVER_CUES + 100, replace=False)
    cases = [
        ({0: 1.0, 10: 2.0, 19_999: 1.0}, NeuralConfig()),
        ({int(v): 1.0 for v in rng.choice(n, 50)}, NeuralConfig(max_cycles=5)),
        ((many, np.full(many.size, 1.5)), NeuralConfig(max_cycles=3)),
    ]
    expected = [reference.spread_neural(graph, c, cfg) for c, cfg in cases]
    for actors in (1, 2, 3):
        with Engine(graph, actors) as engine:
            for (cues, config), want in zip(cases, expected, strict=True):
                assert_same(engine.spread(cues, config), want)


def test_an_engine_runs_both_models_in_turn():
    graph = generators.generate("small-world", 3000, seed=2)
    neural_config = NeuralConfig(max_cycles=6)
    cues = {1: 1.0, 2: 3.0}
    with Engine(graph, 2) as engine, mock.patch.object(
        engine_module, "HAND_OVER_EDGES", 0
    ):  # fmt: skip
        for _ in range(3):
            assert_same(
                engine.spread(cues, neural_config),
                reference.spread_neural(graph, cues, neural_config),
            )
            assert_same(engine.spread(cues), reference.spread(graph, cues))


def test_an_engine_made_with_a_neural_config_spreads_neurally_by_default():
    graph = generators.generate("random", 500, seed=4)
    config = NeuralConfig(max_cycles=4, synaptic_gain=3.0)
    with Engine(graph, 1, config=config) as engine:
        result = engine.spread({0: 1.0}, max_cycles=2)
        assert_same(result, reference.spread_neural(graph, {0: 1.0}, max_cycles=2,
                                                     synaptic_gain=3.0))  # fmt: skip


def test_the_pulse_model_refuses_inhibitory_weights_and_the_neural_takes_them():
    graph = Graph.from_edges([0, 1], [1, 2], [1.0, -0.5], signed=True)
    with pytest.raises(GraphError, match="pulse model needs association weights"):
        reference.spread(graph, {0: 1.0})
    with Engine(graph, 1) as engine:
        with pytest.raises(GraphError, match="negative .inhibitory. weights"):
            engine.spread({0: 1.0})
        result = engine.spread({0: 3.0}, NeuralConfig(theta_depth=0.0))
        assert result.potential[result.nodes == 2][0] < 0  # inhibited below rest
