"""The neural model, sequential reference: each effect the model defines.

Refractory periods, synaptic fatigue and its recovery, the membrane leak,
theta gating, bounded firing where the pulse model runs away, working
memory, and the kernels themselves (the vectorised cycle against the
node-by-node one, bit for bit, and its packed instructions).
"""

import math
import re

import numba as nb
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engram_actors import ConfigError, Graph, reference
from engram_actors.config import NeuralConfig, SpreadConfig
from engram_actors.models import neural, working_memory
from engram_actors.neural_model import dynamics_of

# Theta gating off unless a test is about it: every cycle gets the full gain.
FLAT = NeuralConfig(theta_depth=0.0)


def isolated(n=1):
    """``n`` nodes without edges."""
    return Graph.from_edges([], [], [], num_nodes=n)


def spikes_of(result, node):
    """Spike times (ms) of one node from a recorded raster."""
    ids, times = result.spike_raster
    return times[ids == node]


# -- refractory period -------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    drive=st.floats(0.6, 500.0),
    refractory_ms=st.sampled_from([0.0, 0.5, 1.0, 2.5, 3.0, 7.0]),
    dt_ms=st.sampled_from([0.25, 0.5, 1.0]),
)
def test_no_interval_between_spikes_is_shorter_than_the_refractory_period(
    drive, refractory_ms, dt_ms
):
    # Node 0 is cued; it drives itself through a self-loop and node 1 over
    # several cycles, so that refractoriness also spans cycle boundaries.
    graph = Graph.from_edges([0, 0], [0, 1], [1.0, 1.0])
    config = FLAT.replace(refractory_ms=refractory_ms, dt_ms=dt_ms, max_cycles=4)
    result = reference.spread_neural(graph, {0: drive}, config, record_spikes=True)
    least = config.refractory_steps * dt_ms
    for node in (0, 1):
        times = spikes_of(result, node)
        if times.size > 1:
            assert np.diff(times).min() >= least - 1e-4


def test_under_overwhelming_drive_a_node_fires_once_every_refractory_period():
    config = FLAT.replace(max_cycles=0)
    result = reference.spread_neural(isolated(), {0: 1e4}, config, record_spikes=True)
    times = spikes_of(result, 0)
    # Steps 1, 4, 7, ... 25: the 3 ms period, no less and no more.
    np.testing.assert_array_equal(times, np.arange(1, 26, 3, dtype=np.float32))
    assert result.spikes[0] == 9 == math.ceil(config.cycle_ms / 3.0)

    no_refractory = reference.spread_neural(
        isolated(), {0: 1e4}, config.replace(refractory_ms=0.0)
    )
    assert no_refractory.spikes[0] == config.steps_per_cycle


# -- synaptic fatigue --------------------------------------------------------


def output_of_spikes(times_ms, config):
    """Summed resources at the given spike times, by the documented curve
    (recovery each step toward 1, depletion at each spike)."""
    dt = config.dt_ms
    resources, total, step = 1.0, 0.0, 0
    for time_ms in times_ms:
        spike_step = round(time_ms / dt)
        while step < spike_step:
            resources = 1 - (1 - resources) * math.exp(-dt / config.tau_recovery_ms)
            step += 1
        total += resources
        resources *= config.depletion
    return total, resources


@pytest.mark.parametrize("depletion", [0.8, 0.5, 1.0])
def test_each_spike_emits_less_by_the_depletion_factor(depletion):
    # Recovery far slower than the cycle: spike k emits depletion ** k.
    config = FLAT.replace(
        max_cycles=0, depletion=depletion, tau_recovery_ms=1e6, refractory_ms=5.0
    )
    result = reference.spread_neural(isolated(), {0: 1e4}, config, record_spikes=True)
    count = int(result.spikes[0])
    assert count == 5
    expected = sum(depletion**k for k in range(count))
    # (a millionth of recovery a step accounts for the rest)
    assert result.activation[0] == pytest.approx(expected, rel=2e-5)
    assert result.resources[0] == pytest.approx(depletion**count, rel=1e-3)
    exact, _ = burst_output(1.0, count, config)
    assert result.activation[0] == pytest.approx(exact, rel=1e-6)


def test_output_follows_the_documented_recovery_curve():
    config = FLAT.replace(max_cycles=0, tau_recovery_ms=20.0)
    result = reference.spread_neural(isolated(), {0: 50.0}, config, record_spikes=True)
    expected, _ = output_of_spikes(spikes_of(result, 0), config)
    assert result.spikes[0] > 3
    assert result.activation[0] == pytest.approx(expected, rel=1e-5)


class OneNode:
    """One node's record, driven cycle by cycle through the kernels."""

    def __init__(self, config):
        self.config = config
        self.dynamics = dynamics_of(config)
        self.nstate = neural.new_neural_state(1)
        self.acc = np.zeros(1, np.float32)
        self.out = np.zeros(1, np.float32)
        self.spikes = np.zeros(1, np.int32)
        self.block = neural.new_block()

    def drive(self, cycle, drive):
        """Drive it in ``cycle``; returns (output, spikes) of that cycle."""
        self.acc[0] = drive
        neural.integrate_list(
            np.zeros(1, np.uint32), 1, self.acc, self.nstate, cycle,
            self.dynamics, self.block, self.out, self.spikes, False,
            np.empty(0, np.uint32), np.empty(0, np.int64), 0,
        )  # fmt: skip
        return float(self.out[0]), int(self.spikes[0])

    def record(self):
        return self.nstate[0]


def burst_output(resources, count, config):
    """Output of ``count`` spikes fired from the first step of a cycle,
    one refractory period apart, by the documented curve."""
    recover = math.exp(-config.dt_ms / config.tau_recovery_ms)
    total = 0.0
    for k in range(count):
        for _ in range(1 if k == 0 else config.refractory_steps):
            resources = 1 - (1 - resources) * recover
        total += resources
        resources *= config.depletion
    return total, resources


@pytest.mark.parametrize("rest_cycles", [1, 4, 20, 200])
def test_resources_recover_after_rest_by_the_documented_curve(rest_cycles):
    """Drive one node hard in cycle 0, let it rest, drive it again: the
    second burst starts from resources recovered along the curve."""
    config = FLAT.replace(tau_recovery_ms=100.0)
    node = OneNode(config)
    total, count = node.drive(0, 1e4)
    assert count == 9
    expected, left = burst_output(1.0, count, config)
    assert total == pytest.approx(expected, rel=1e-5)

    # The last spike came at the cycle's last step; between the bursts
    # nothing touches the record (the rest is applied lazily).
    after_first = float(node.record()["resources"])
    assert after_first == pytest.approx(left, rel=1e-5)
    rest_ms = rest_cycles * config.cycle_ms
    recovered = 1 - (1 - after_first) * math.exp(-rest_ms / config.tau_recovery_ms)
    total, count = node.drive(1 + rest_cycles, 1e4)
    assert count == 9
    expected, _ = burst_output(recovered, count, config)
    assert total == pytest.approx(expected, rel=1e-5)


# -- membrane leak -----------------------------------------------------------


def leak_graph(delay_cycles):
    """Sources A (0) and B (1) each reach T (2) with a sub-threshold drive.
    A is cued; B is reached through a chain of ``delay_cycles`` relays
    (3, 4, ...) from a second cue C, so it fires that many cycles later."""
    src, dst, weight = [0, 1], [2, 2], [0.6, 0.6]
    chain = list(range(3, 3 + delay_cycles))
    for a, b in zip(chain, (chain + [1])[1:], strict=True):
        src.append(a)
        dst.append(b)
        weight.append(1.0)
    cues = {0: 1.0, chain[0]: 1.0} if chain else {0: 1.0, 1: 1.0}
    graph = Graph.from_edges(src, dst, weight, num_nodes=3 + delay_cycles)
    return graph, cues


@pytest.mark.parametrize("tau_m_ms", [20.0, 30.0])
def test_inputs_close_together_fire_a_node_that_inputs_far_apart_do_not(tau_m_ms):
    config = FLAT.replace(max_cycles=30, tau_m_ms=tau_m_ms)
    # Each input alone is below threshold: it would need 1 / (1 - exp(-25 /
    # tau)) times its drive to fire the target within a cycle.
    alone = 2.0 * 0.6 * (1 - math.exp(-config.cycle_ms / tau_m_ms))
    assert alone < 1.0 < 2 * alone

    graph, cues = leak_graph(0)
    together = reference.spread_neural(graph, cues, config)
    assert together.spikes[together.nodes == 2][0] >= 1

    graph, cues = leak_graph(12)
    apart = reference.spread_neural(graph, cues, config)
    fired = dict(zip(apart.nodes.tolist(), apart.spikes.tolist(), strict=True))
    assert fired[0] >= 1 and fired[1] >= 1  # both inputs did arrive
    assert fired[2] == 0
    # T was driven twice, 12 cycles apart, and leaked back to rest between.
    assert apart.first_hop[apart.nodes == 2][0] == 1


def test_the_potential_leaks_back_to_rest_between_drives():
    """One node, the same sub-threshold drive twice: in consecutive cycles
    the second finds the first's potential and fires; after a rest the
    potential has leaked away in closed form and it does not."""
    config = FLAT
    node = OneNode(config)
    assert node.drive(0, 1.2) == (0.0, 0)
    after_one = float(node.record()["u"])
    assert after_one == pytest.approx(1.2 * (1 - math.exp(-25 / 20)), rel=1e-5)
    assert node.drive(1, 1.2)[1] == 1

    node = OneNode(config)
    node.drive(0, 1.2)
    assert node.drive(13, 1.2) == (0.0, 0)
    gap_ms = 12 * config.cycle_ms
    start = after_one * math.exp(-gap_ms / config.tau_m_ms)
    expected = 1.2 + (start - 1.2) * math.exp(-config.cycle_ms / config.tau_m_ms)
    assert float(node.record()["u"]) == pytest.approx(expected, rel=1e-4)


# -- theta gating ------------------------------------------------------------


def test_a_closed_gate_stops_propagation_and_an_open_one_restores_it():
    graph = Graph.from_edges([0, 1], [1, 2], [1.0, 1.0])
    config = NeuralConfig(theta_depth=1.0, max_cycles=4)
    # The phase that puts cycle 1 (t = 25 ms) at the theta trough.
    trough = (math.pi - 2 * math.pi * config.theta_hz * config.cycle_ms / 1000) % (
        2 * math.pi
    )
    closed_config = config.replace(theta_phase=trough)
    assert closed_config.theta_gain(1) == 0.0
    closed = reference.spread_neural(graph, {0: 1.0}, closed_config)
    assert closed.spikes.tolist() == [1]  # node 0 fired ...
    assert closed.nodes.tolist() == [0]  # ... but nothing reached node 1
    assert closed.stats.waves == 0 and closed.stats.edges_traversed == 0

    opened = reference.spread_neural(graph, {0: 1.0}, config)
    assert opened.trace["gain"][1] > 0
    assert opened.nodes.tolist() == [0, 1, 2]
    assert opened.spikes[:2].tolist() == [1, 1]  # 0 fired, and so did 1


def test_theta_gain_follows_its_formula_cycle_by_cycle():
    config = NeuralConfig(theta_depth=0.7, theta_phase=1.0, max_cycles=12)
    graph = Graph.from_edges([0], [0], [1.0])
    result = reference.spread_neural(graph, {0: 5.0}, config)
    for cycle, gain in zip(result.trace["cycle"], result.trace["gain"], strict=True):
        if cycle == 0:
            assert gain == np.float32(config.synaptic_gain)
            continue
        t_s = cycle * config.cycle_ms / 1000
        theta = 1 - 0.7 * (1 - math.cos(2 * math.pi * 6.0 * t_s + 1.0)) / 2
        assert gain == pytest.approx(config.synaptic_gain * theta, rel=1e-6)


# -- bounded firing where the pulse model runs away ----------------------------


def test_firing_stays_bounded_on_a_graph_where_the_pulse_model_runs_away():
    n = 60
    src, dst = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    keep = src != dst
    graph = Graph.from_edges(src[keep], dst[keep], 1.0)
    cues = {0: 1.0, 1: 1.0}

    pulse = [
        reference.spread(
            graph, cues, SpreadConfig(decay=1.0, threshold=0.0, max_hops=h)
        )
        for h in (4, 8)
    ]
    grown = [float(r.activation.sum()) for r in pulse]
    assert grown[1] > 1e6 * grown[0]  # each wave multiplies it by n - 1

    config = NeuralConfig(max_cycles=40, theta_depth=0.0)
    result = reference.spread_neural(graph, cues, config)
    most_per_cycle = n * math.ceil(config.steps_per_cycle / config.refractory_steps)
    spikes = result.trace["spikes"]
    assert result.stats.waves == 40  # it keeps going ...
    assert spikes.max() <= most_per_cycle  # ... within the refractory bound
    assert spikes[-10:].max() <= spikes.max()
    # ... and fatigue takes what each spike passes on down to a fraction.
    assert result.resources.max() < 0.2
    assert result.activation.sum() / result.spikes.sum() < 0.3
    assert np.isfinite(result.activation).all()
    assert result.activation.max() < config.max_cycles * most_per_cycle / n


# -- working memory ----------------------------------------------------------


def cycles_of(*rows):
    """Candidate lists from rows of (node, output) pairs, strongest first."""
    out = []
    for row in rows:
        row = sorted(row, key=lambda p: (-p[1], p[0]))
        out.append(
            (
                np.array([p[0] for p in row], np.int64),
                np.array([p[1] for p in row], np.float64),
            )
        )
    return out


def test_working_memory_displaces_its_weakest_item():
    config = NeuralConfig(wm_capacity=5, wm_inhibition=0.0, wm_tau_ms=1e6)
    first = [(v, 1.0 + v) for v in range(5)]  # node 0 is the weakest
    memory, sizes = working_memory.run(cycles_of(first, [(99, 1.5)]), config)
    assert sizes.tolist() == [5, 5]
    assert 0 not in memory.nodes.tolist() and 99 in memory.nodes.tolist()
    assert memory.displaced == 1

    # A newcomer weaker than every item does not get in.
    memory, _ = working_memory.run(cycles_of(first, [(99, 0.5)]), config)
    assert 99 not in memory.nodes.tolist() and memory.displaced == 0


def test_working_memory_items_fade_unless_refreshed_and_inhibit_each_other():
    config = NeuralConfig(wm_inhibition=0.0, wm_tau_ms=50.0)
    memory, sizes = working_memory.run(
        cycles_of([(1, 1.0), (2, 1.0)], [(1, 1.0)], [(1, 1.0)]), config
    )
    keep = math.exp(-config.cycle_ms / 50.0)
    levels = dict(memory.items(ids=True))
    assert levels[1] == pytest.approx(1 + keep * (1 + keep))
    assert levels[2] == pytest.approx(keep**2)

    inhibiting = config.replace(wm_inhibition=0.2, wm_tau_ms=1e6)
    memory, _ = working_memory.run(cycles_of([(1, 1.0), (2, 3.0)], []), inhibiting)
    levels = dict(memory.items(ids=True))
    keep = math.exp(-config.cycle_ms / 1e6)
    assert levels[1] == pytest.approx((1.0 - 0.2 * 3.0) * keep)
    assert levels[2] == pytest.approx((3.0 - 0.2 * 1.0) * keep)


@settings(max_examples=60, deadline=None)
@given(
    capacity=st.integers(5, 9),
    rows=st.lists(
        st.lists(
            st.tuples(st.integers(0, 40), st.floats(0.01, 10.0)),
            max_size=9,
            unique_by=lambda p: p[0],
        ),
        min_size=1,
        max_size=30,
    ),
)
def test_working_memory_never_exceeds_its_capacity(capacity, rows):
    config = NeuralConfig(wm_capacity=capacity)
    memory, sizes = working_memory.run(cycles_of(*rows), config)
    assert sizes.max() <= capacity and len(memory) <= capacity
    assert (memory.levels > config.wm_floor).all()
    assert (np.diff(memory.levels) <= 0).all()


def test_a_spread_fills_working_memory_with_its_strongest_firers():
    weights = np.linspace(0.2, 1, 30)
    graph = Graph.from_edges(np.zeros(30, int), np.arange(1, 31), weights)
    config = NeuralConfig(max_cycles=3, wm_capacity=5)
    result = reference.spread_neural(graph, {0: 5.0}, config)
    assert (result.trace["wm_items"] <= 5).all()
    assert len(result.working_memory) == 5
    # The targets fire only in cycle 1; the strongest of them are held.
    held = set(result.working_memory.nodes.tolist()) - {0}
    output = dict(zip(result.nodes.tolist(), result.activation.tolist(), strict=True))
    left_out = set(range(1, 31)) - held
    assert min(output[v] for v in held) >= max(output[v] for v in left_out)
    assert len(set(output.values())) > 3  # stronger links fired more


# -- kernels -----------------------------------------------------------------


def random_block(rng, n):
    u = rng.uniform(-0.5, 0.99, n).astype(np.float32)
    u_inf = rng.choice([0.0, 0.5, 1.2, 3.0, 50.0, -1.0], n).astype(np.float32)
    r = rng.uniform(0.1, 1.0, n).astype(np.float32)
    ref = rng.integers(0, 4, n).astype(np.int32)
    zeros_f = np.zeros(n, np.float32)
    zeros_i = np.zeros(n, np.int32)
    return [u, u_inf, r, ref, zeros_f, zeros_i, zeros_i - 1, zeros_i - 1]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 300))
def test_vectorised_cycle_is_bit_identical_to_the_scalar_one(seed, n):
    dynamics = dynamics_of(NeuralConfig(refractory_ms=2.0, depletion=0.7))
    a = random_block(np.random.default_rng(seed), n)
    b = [x.copy() for x in a]
    neural.integrate_cycle(n, *a, *dynamics[:7])
    neural.integrate_cycle_scalar(
        n, *b, *dynamics[:7], np.arange(n, dtype=np.uint32), 0,
        np.empty(0, np.uint32), np.empty(0, np.int64), 0,
    )  # fmt: skip
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.view(np.uint32), y.view(np.uint32))


def test_the_cycle_kernel_compiles_to_packed_vector_instructions():
    # Cached machine code cannot be inspected: compile a fresh copy.
    kernel = nb.njit(nogil=True)(neural.integrate_cycle.py_func)
    a = random_block(np.random.default_rng(0), 64)
    kernel(64, *a, *dynamics_of(NeuralConfig())[:7])
    asm = kernel.inspect_asm(kernel.signatures[0])
    packed = re.findall(r"\bv?(?:mul|add|sub)ps\b", asm)
    # Selects: blends or bit masks on AVX2, or blends and moves under a
    # mask register ({%k1}) where the CPU has AVX-512.
    selects = re.findall(r"\bv?(?:blendvps|pblendvb|andps|andnps|pand)\b", asm)
    selects += re.findall(r"\bv(?:blendmps|pblendmd)\b|\{%k[1-7]\}", asm)
    assert packed and selects, "the cycle's node loop was not vectorised"


def test_recording_spikes_changes_no_result():
    rng = np.random.default_rng(3)
    graph = Graph.from_edges(
        rng.integers(0, 300, 3000), rng.integers(0, 300, 3000), rng.random(3000)
    )
    config = NeuralConfig(max_cycles=6)
    plain = reference.spread_neural(graph, {1: 1.0, 2: 2.0}, config)
    recorded = reference.spread_neural(
        graph, {1: 1.0, 2: 2.0}, config, record_spikes=True
    )
    from leaks import assert_same

    assert_same(recorded, plain)
    ids, times = recorded.spike_raster
    assert ids.size == int(plain.spikes.sum())
    assert (np.diff(times) >= 0).all()
    per_node = np.bincount(ids, minlength=300)[plain.nodes]
    np.testing.assert_array_equal(per_node, plain.spikes)


def test_a_spread_leaves_no_state_behind():
    graph = Graph.from_edges([0, 1, 2], [1, 2, 0], [1.0, 1.0, 1.0])
    config = NeuralConfig(max_cycles=7)
    first = reference.spread_neural(graph, {0: 3.0}, config)
    reference.spread(graph, {1: 1.0})  # a pulse spread in between
    again = reference.spread_neural(graph, {0: 3.0}, config)
    from leaks import assert_same

    assert_same(again, first)
    nstate = reference._workspace_for(graph).nstate
    np.testing.assert_array_equal(nstate, neural.new_neural_state(3))


# -- configuration -------------------------------------------------------------


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("wm_capacity", 10, r"wm_capacity is 10; allowed range is \[5, 9\]"),
        ("wm_capacity", 4, r"wm_capacity is 4"),
        ("refractory_ms", -1.0, "refractory_ms is -1.0"),
        ("depletion", 0.0, r"depletion is 0.0; allowed range is \(0"),
        ("tau_m_ms", float("nan"), "tau_m_ms is nan"),
        ("theta_hz", 50.0, "theta_hz is 50.0"),
        ("theta_hz", 15.0, "it must be below gamma_hz"),
        ("v_reset", 1.0, "v_reset is 1.0; it must be below v_threshold"),
        ("max_cycles", 2001, "max_cycles is 2001"),
        ("synaptic_gain", "2", "synaptic_gain must be a number"),
        ("gamma_hz", 12.0, None),
    ],
)
def test_config_refuses_bad_values_by_name(field, value, message):
    if message is None:  # a valid change, for contrast
        assert NeuralConfig(theta_hz=6.0).replace(**{field: value}).gamma_hz == 12.0
        return
    with pytest.raises(ConfigError, match=message):
        NeuralConfig(**({"gamma_hz": 12.0} if field == "theta_hz" and value == 15.0
                         else {}), **{field: value})  # fmt: skip


def test_config_rounds_the_gamma_cycle_to_whole_steps():
    config = NeuralConfig(gamma_hz=30.0, dt_ms=1.0)
    assert config.steps_per_cycle == 33 and config.cycle_ms == 33.0
    assert NeuralConfig(refractory_ms=2.2, dt_ms=1.0).refractory_steps == 3
    with pytest.raises(ConfigError, match="unknown NeuralConfig field"):
        NeuralConfig().replace(decay=0.5)
