"""The hippocampal pathway: separation, completion, capacity, replay.

Small layers (``ec_size`` 128 or 256 instead of 2048) keep every test
fast; the curves at the default size are in ``docs/hippocampus.md``.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import engram_actors as ea
from engram_actors import reference
from engram_actors.errors import ConfigError, CueError, UnknownNodeError
from engram_actors.hippocampus import (
    Completion,
    Episode,
    EpisodeIndexError,
    Hippocampus,
    HippocampusConfig,
    HippocampusError,
)
from engram_actors.models import hippocampus_kernels as kernels

NODES = 10_000
SMALL = HippocampusConfig(ec_size=256)
TINY = HippocampusConfig(ec_size=128)
HIPPOCAMPUS_SMALL = Hippocampus(NODES, SMALL)


def random_episodes(count, size=10, seed=0, family=1, shared=0.0):
    """``count`` episodes of ``size`` nodes; with ``family > 1`` they come in
    families whose members keep ``shared`` of a common prototype's nodes."""
    rng = np.random.default_rng(seed)
    episodes = []
    for i in range(count):
        if i % family == 0:
            prototype = rng.choice(NODES, size, replace=False)
        kept = rng.choice(prototype, round(shared * size), replace=False)
        rest = rng.choice(NODES, size - kept.size, replace=False)
        episodes.append(Episode(np.union1d(kept, rest)[:size]))
    return episodes


def cue_of(episode, fraction=0.3, seed=0):
    rng = np.random.default_rng(seed)
    size = max(1, round(fraction * len(episode)))
    return rng.choice(episode.nodes, size, replace=False)


def recall_accuracy(hippocampus, episodes, tested):
    correct = 0
    for index in tested:
        completion = hippocampus.complete(cue_of(episodes[index], seed=index))
        correct += completion.index == index
    return correct / len(tested)


def overlap(a, b):
    return np.intersect1d(a, b).size / math.sqrt(a.size * b.size)


# -- config --------------------------------------------------------------------


def test_config_defaults_and_derived_sizes():
    config = HippocampusConfig()
    assert (config.ec_size, config.dg_width, config.winners) == (2048, 20480, 614)
    assert config.replace(separation=False).ca3_width == 2048
    assert config.replace(separation=False).winners == 61


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("ec_size", 32, r"ec_size is 32; allowed range is \[64, 65536\]"),
        ("ec_size", 2048.0, "ec_size must be an integer"),
        ("node_code", 0, r"node_code is 0; allowed range is \[1, 2048\]"),
        ("dg_expansion", 33, r"dg_expansion is 33; allowed range is \[1, 32\]"),
        ("dg_fan_in", 4096, r"dg_fan_in is 4096; allowed range is \[1, 2048\]"),
        ("dg_active", 0.1, r"dg_active is 0.1; allowed range is \[0.02, 0.05\]"),
        ("dg_active", math.nan, "dg_active is nan"),
        ("ca3_learning_rate", 0.6, r"ca3_learning_rate is 0.6; .*\[0.1, 0.5\]"),
        ("ca3_iterations", 0, r"ca3_iterations is 0; .*\[1, 1000\]"),
        ("ca3_rule", "oja", "ca3_rule is 'oja'; allowed values are"),
        ("separation", 1, "separation must be True or False"),
        ("replay_alpha", 1.5, r"replay_alpha is 1.5; allowed range is \[0, 1\]"),
        ("replay_beta", -0.1, r"replay_beta is -0.1; allowed range is \[0, 1\]"),
        ("priority_epsilon", 0, r"priority_epsilon is 0.0; .*\(0, 1\]"),
        ("compression", 5, r"compression is 5.0; allowed range is \[10, 20\]"),
        ("recall_threshold", 2, r"recall_threshold is 2.0; .*\[0, 1\]"),
        ("seed", -1, r"seed is -1; allowed range is \[0, "),
        ("seed", "0", "seed must be an integer"),
    ],
)
def test_bad_config_values_name_the_field_and_range(field, value, message):
    with pytest.raises(ConfigError, match=message):
        HippocampusConfig(**{field: value})


def test_replace_refuses_unknown_fields():
    with pytest.raises(ConfigError, match="unknown HippocampusConfig field"):
        HippocampusConfig().replace(dentate=3)


@pytest.mark.parametrize(
    ("num_nodes", "config", "message"),
    [
        (0, None, r"num_nodes is 0; allowed range is \[1, 2147483647\]"),
        (2**31, None, "num_nodes is 2147483648"),
        (10.0, None, "num_nodes must be an integer"),
        (10, {"ec_size": 256}, "config must be a HippocampusConfig, got dict"),
    ],
)
def test_bad_construction(num_nodes, config, message):
    with pytest.raises(ConfigError, match=message):
        Hippocampus(num_nodes, config)


# -- episodes ------------------------------------------------------------------


def test_episode_sorts_its_nodes_and_keeps_them_aligned():
    episode = Episode([9, 2, 5], activation=[0.9, 0.2, 0.5], times_ms=[0, 10, 20])
    assert episode.nodes.tolist() == [2, 5, 9]
    assert episode.activation.tolist() == pytest.approx([0.2, 0.5, 0.9])
    assert episode.times_ms.tolist() == [10.0, 20.0, 0.0]
    assert episode.duration_ms == 45.0
    assert episode.nodes.dtype == np.int32 and episode.activation.dtype == np.float32
    with pytest.raises(ValueError, match="read-only"):
        episode.nodes[0] = 3


def test_episode_defaults_space_nodes_a_gamma_cycle_apart_in_given_order():
    episode = Episode({4: 1.0, 1: 2.0, 3: 3.0})
    assert episode.nodes.tolist() == [1, 3, 4]
    assert episode.times_ms.tolist() == [25.0, 50.0, 0.0]
    assert episode.duration_ms == 75.0
    assert Episode([1, 2], duration_ms=200).duration_ms == 200.0


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "message"),
    [
        (([],), {}, CueError, "an episode needs at least one node"),
        (([1, 2, 2],), {}, CueError, "node 2 is given twice"),
        (([1, -3],), {}, UnknownNodeError, "unknown node id -3"),
        (([2**31],), {}, UnknownNodeError, "unknown node id 2147483648"),
        ((["a"],), {}, CueError, "must be integers"),
        (([1.5],), {}, CueError, "must be integers"),
        (([[1, 2]],), {}, CueError, "must be a flat sequence"),
        (([1, 2], [1.0]), {}, CueError, "activation has 1 values for 2 nodes"),
        (([1, 2], [1.0, math.nan]), {}, CueError, "activation of node 2 is nan"),
        (([1, 2], [1.0, 0.0]), {}, CueError, "activation of node 2 is 0.0"),
        (([1], [1e39]), {}, CueError, "activation of node 1 is 1e\\+39"),
        (([1, 2], [1.0, -1.0]), {}, CueError, "must be finite and > 0"),
        (([1, 2],), {"times_ms": [0, -5]}, CueError, "times_ms of node 2 is -5"),
        (([1],), {"times_ms": [math.inf]}, CueError, "times must be finite"),
        (([1],), {"duration_ms": 0}, CueError, "duration_ms is 0.0"),
        (([1, 2],), {"duration_ms": 10}, CueError, "at least the last time, 25"),
        (([1],), {"duration_ms": "x"}, CueError, "duration_ms must be a number"),
        (({1: 1.0}, [2.0]), {}, CueError, "takes no separate activation"),
    ],
)
def test_bad_episodes_say_what_is_wrong(args, kwargs, error, message):
    with pytest.raises(error, match=message):
        Episode(*args, **kwargs)


@given(
    st.dictionaries(
        st.integers(0, NODES - 1),
        st.floats(0.01, 100, allow_nan=False),
        min_size=1,
        max_size=30,
    )
)
@settings(max_examples=50, deadline=None)
def test_episode_and_its_ec_code_keep_every_node(pairs):
    episode = Episode(pairs)
    assert episode.nodes.tolist() == sorted(pairs)
    for node, value in zip(episode.nodes, episode.activation, strict=True):
        assert value == np.float32(pairs[int(node)])
    assert episode == episode.copy()
    ec = HIPPOCAMPUS_SMALL.ec_code(episode.nodes, episode.activation)
    expected = SMALL.node_code * episode.activation.astype(np.float64).sum()
    assert ec.sum() == pytest.approx(expected, rel=1e-5)


def test_episode_from_a_pulse_spread_uses_waves_as_gamma_cycles():
    graph = ea.generators.generate("small-world", 200, seed=1)
    result = reference.spread(graph, {0: 1.0, 5: 1.0}, max_hops=3)
    episode = Episode.from_result(result, k=6)
    top = [node for node, _ in result.top(6, ids=True)]
    assert episode.nodes.tolist() == sorted(top)
    for node, time in zip(episode.nodes, episode.times_ms, strict=True):
        hop = result.first_hop[np.searchsorted(result.nodes, node)]
        assert time == 25.0 * hop
    everything = Episode.from_result(result)
    assert len(everything) == int((result.activation > 0).sum())
    above = Episode.from_result(result, min_activation=1.5)
    assert (above.activation > 1.5).all()


def test_episode_from_a_neural_spread_uses_first_spikes():
    graph = ea.generators.generate("small-world", 200, seed=1)
    result = reference.spread_neural(graph, {0: 1.0, 5: 1.0})
    episode = Episode.from_result(result, k=10)
    at = np.searchsorted(result.nodes, episode.nodes)
    first_spike = result.first_spike_ms[at]
    assert np.isfinite(first_spike).all()
    assert episode.times_ms.tolist() == first_spike.tolist()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"k": 0}, "k must be an integer >= 1 or None, got 0"),
        ({"min_activation": 1e9}, "no node of the result has activation above"),
        ({"min_activation": math.nan}, "min_activation is nan"),
    ],
)
def test_episode_from_result_errors(kwargs, message):
    graph = ea.generators.generate("random", 50, seed=1)
    result = reference.spread(graph, {0: 1.0})
    with pytest.raises(CueError, match=message):
        Episode.from_result(result, **kwargs)


# -- codes and separation ------------------------------------------------------


def test_a_node_code_depends_only_on_the_seed_and_the_node():
    few = Hippocampus(10, SMALL)
    many = Hippocampus(10**7, SMALL)
    for node in (0, 5, 9):
        units = few.node_units(node)
        assert units.size == SMALL.node_code and np.all(np.diff(units) > 0)
        assert units.tolist() == many.node_units(node).tolist()
    assert many.node_units(9_999_999).size == SMALL.node_code
    other = Hippocampus(10, SMALL.replace(seed=1))
    assert other.node_units(5).tolist() != few.node_units(5).tolist()


def test_separate_keeps_the_k_most_driven_units():
    hippocampus = HIPPOCAMPUS_SMALL
    code = hippocampus.separate(hippocampus.ec_code(range(10)))
    assert code.dtype == np.int32 and code.size == SMALL.winners
    assert np.all(np.diff(code) > 0) and code.max() < SMALL.dg_width
    without = Hippocampus(NODES, SMALL.replace(separation=False))
    ec = without.ec_code(range(10))
    code = without.separate(ec)
    assert code.size == round(0.03 * 256)
    assert ec[code].min() >= np.delete(ec, code).max()
    # Fewer units than k carry input: only those win.
    assert without.separate(without.ec_code([3])).size == SMALL.node_code


def separation_curve(hippocampus, shares, pairs=30, size=20, seed=0):
    rng = np.random.default_rng(seed)
    ec_overlaps, code_overlaps = [], []
    for share in shares:
        ec_values, code_values = [], []
        for _ in range(pairs):
            nodes = rng.choice(NODES, 2 * size, replace=False)
            kept = round(share * size)
            first = nodes[:size]
            second = np.concatenate([nodes[:kept], nodes[size : 2 * size - kept]])
            ec_first = hippocampus.ec_code(first)
            ec_second = hippocampus.ec_code(second)
            ec_values.append(
                ec_first
                @ ec_second
                / (np.linalg.norm(ec_first) * np.linalg.norm(ec_second))
            )
            code_values.append(
                overlap(hippocampus.separate(ec_first), hippocampus.separate(ec_second))
            )
        ec_overlaps.append(np.mean(ec_values))
        code_overlaps.append(np.mean(code_values))
    return np.array(ec_overlaps), np.array(code_overlaps)


def test_dentate_gyrus_separates_overlapping_episodes():
    shares = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    ec, dg = separation_curve(HIPPOCAMPUS_SMALL, shares)
    assert np.all(np.diff(dg) > 0), dg  # monotone: more shared, more overlap
    assert dg[-1] == 1.0 and ec[-1] == pytest.approx(1.0)
    at = shares.index(0.8)
    assert ec[at] > 0.75
    assert dg[at] < ec[at] - 0.2, (ec[at], dg[at])
    assert np.all(dg[1:-1] < ec[1:-1])


# -- completion and capacity ---------------------------------------------------


def test_completion_from_a_third_of_an_episode_below_capacity():
    hippocampus = Hippocampus(NODES, SMALL)
    episodes = random_episodes(30, seed=1)
    for index, episode in enumerate(episodes):
        assert hippocampus.encode(episode) == index
    assert len(hippocampus) == 30
    completions = [
        hippocampus.complete(cue_of(episode, seed=i))
        for i, episode in enumerate(episodes)
    ]
    correct = [c.index == i for i, c in enumerate(completions)]
    assert np.mean(correct) >= 0.9
    for i, completion in enumerate(completions):
        assert isinstance(completion, Completion)
        if completion.index == i:
            assert completion.match > 0.8
            assert completion.episode == episodes[i]
            assert completion.state.dtype == np.int32
            assert 1 <= completion.steps <= SMALL.ca3_iterations


def test_a_cue_points_to_its_episode_and_an_unrelated_cue_does_not():
    hippocampus = Hippocampus(NODES, SMALL)
    empty = hippocampus.complete([1, 2, 3])
    assert (empty.index, empty.match, empty.episode) == (-1, 0.0, None)
    episodes = random_episodes(20, seed=2)
    for episode in episodes:
        hippocampus.encode(episode)
    related = [hippocampus.complete(cue_of(e, seed=i)) for i, e in enumerate(episodes)]
    rng = np.random.default_rng(3)
    unrelated = [hippocampus.complete(rng.choice(NODES, 3)) for _ in range(20)]
    # The dynamics complete any cue into some stored code ...
    assert np.mean([c.match for c in unrelated]) > 0.9
    # ... but a related cue's own code overlaps it well beyond chance.
    related_overlap = np.mean([c.cue_match for c in related])
    unrelated_overlap = np.mean([c.cue_match for c in unrelated])
    assert related_overlap > 0.2 > unrelated_overlap


@pytest.mark.parametrize("rule", ["covariance", "hebbian"])
def test_a_single_stored_episode_is_completed(rule):
    # One code is its own mean, so the covariance weights are zero; CA3
    # must still complete the only episode it holds.
    hippocampus = Hippocampus(NODES, SMALL.replace(ca3_rule=rule))
    episode = Episode(range(100, 110))
    hippocampus.encode(episode)
    completion = hippocampus.complete([101, 104, 108])
    assert completion.index == 0
    assert completion.match > 0.9
    assert completion.episode == episode
    assert hippocampus.prediction_error(0) < 0.1
    # A second episode switches the covariance rule on; both are recalled.
    hippocampus.encode(Episode(range(500, 510)))
    assert hippocampus.complete([101, 104, 108]).index == 0
    assert hippocampus.complete([502, 505, 509]).index == 1


def test_a_match_below_the_threshold_recalls_nothing():
    hippocampus = Hippocampus(NODES, SMALL.replace(recall_threshold=1.0))
    hippocampus.encode(Episode(range(10)))
    hippocampus.encode(Episode(range(5, 15)))
    completion = hippocampus.complete([5, 6, 7])
    assert completion.match < 1.0
    assert (completion.index, completion.episode) == (-1, None)


def test_recall_falls_as_more_episodes_are_stored():
    hippocampus = Hippocampus(NODES, TINY)
    episodes = random_episodes(400, seed=3)
    accuracy = []
    for load in (25, 100, 400):
        for episode in episodes[len(hippocampus) : load]:
            hippocampus.encode(episode)
        accuracy.append(recall_accuracy(hippocampus, episodes, range(25)))
    assert accuracy[0] >= 0.75 and accuracy[2] <= 0.2, accuracy
    assert accuracy[0] > accuracy[1] > accuracy[2], accuracy


def test_separation_recalls_correlated_episodes_better():
    episodes = random_episodes(50, seed=4, family=10, shared=0.5)
    accuracy = {}
    for separation in (True, False):
        hippocampus = Hippocampus(NODES, TINY.replace(separation=separation))
        for episode in episodes:
            hippocampus.encode(episode)
        accuracy[separation] = recall_accuracy(hippocampus, episodes, range(50))
    assert accuracy[True] >= accuracy[False] + 0.3, accuracy


@pytest.mark.parametrize("rule", ["covariance", "hebbian"])
def test_implicit_weights_give_what_the_weight_matrix_gives(rule):
    config = HippocampusConfig(ec_size=64, ca3_rule=rule, ca3_iterations=1)
    hippocampus = Hippocampus(NODES, config)
    episodes = random_episodes(12, size=6, seed=5)
    for episode in episodes:
        hippocampus.encode(episode)
    stored = len(hippocampus)
    codes = np.zeros((stored, config.ca3_width), np.int64)
    for index in range(stored):
        codes[index, hippocampus.code(index)] = 1
    counts = codes.sum(axis=0)
    if rule == "hebbian":
        scaled = stored * codes.T @ codes  # stored / lr times W
    else:  # stored**2 / lr times W, W = sum (x - mean)(x - mean)^T
        centred = stored * codes - counts
        scaled = centred.T @ centred
    np.fill_diagonal(scaled, 0)
    rng = np.random.default_rng(6)
    for _ in range(5):
        start = np.sort(rng.choice(config.ca3_width, config.winners, replace=False))
        state = np.zeros(config.ca3_width, np.int64)
        state[start] = 1
        drive = scaled @ state
        if rule == "covariance":
            drive //= stored  # exact: the kernel's drive is stored / lr W s
        expected = kernels.k_winners(drive, config.winners, hippocampus._rank)
        settled, _, steps = hippocampus._settle(start.astype(np.int32))
        assert steps == 1
        assert settled.tolist() == expected.tolist()


def test_k_winners_breaks_ties_by_rank_and_skips_undriven_units():
    rank = np.array([0, 5, 1, 4, 2, 3])
    drive = np.array([3.0, 1.0, 1.0, 1.0, 0.0, -1.0])
    assert kernels.k_winners(drive, 2, rank).tolist() == [0, 1]
    assert kernels.k_winners(drive, 3, rank).tolist() == [0, 1, 3]
    assert kernels.k_winners(drive, 5, rank).tolist() == [0, 1, 2, 3]


def test_fan_in_draws_are_distinct():
    uniform = np.random.default_rng(0).random((500, 30))
    chosen = kernels.draw_fan_in(uniform, 32)
    assert all(np.unique(row).size == 30 for row in chosen)
    assert chosen.min() >= 0 and chosen.max() < 32


# -- priorities and replay -----------------------------------------------------


def test_novel_episodes_have_high_priority_and_repeated_ones_low():
    hippocampus = Hippocampus(NODES, SMALL)
    episodes = random_episodes(20, seed=7)
    for episode in episodes:
        hippocampus.encode(episode)
    epsilon = SMALL.priority_epsilon
    assert (hippocampus.priorities > 0.8 + epsilon).all()
    again = hippocampus.encode(episodes[3])
    assert hippocampus.priorities[again] < 0.05 + epsilon
    assert hippocampus.prediction_error(3) < 0.1
    assert hippocampus.prediction_error(3) == hippocampus.prediction_error(3)
    assert 0.0 <= hippocampus.prediction_error(5, cue_fraction=1.0) <= 0.1


def test_replay_samples_follow_the_priorities():
    from scipy import stats

    config = SMALL.replace(replay_alpha=0.7, replay_beta=0.5)
    hippocampus = Hippocampus(NODES, config)
    for episode in random_episodes(6, seed=8):
        hippocampus.encode(episode)
    errors = [0.0, 0.1, 0.3, 0.5, 1.0, 2.0]
    for index, error in enumerate(errors):
        hippocampus.update_priority(index, error)
    priorities = np.array(errors) + config.priority_epsilon
    assert hippocampus.priorities.tolist() == pytest.approx(priorities.tolist())
    expected = priorities**0.7 / (priorities**0.7).sum()
    assert hippocampus.replay_probabilities() == pytest.approx(expected)

    draws = 60_000
    indices, weights = hippocampus.sample_replays(draws, np.random.default_rng(9))
    assert indices.dtype == np.int64 and weights.dtype == np.float64
    counts = np.bincount(indices, minlength=6)
    assert stats.chisquare(counts, draws * expected).pvalue > 0.001
    formula = (6 * expected) ** -0.5
    assert weights == pytest.approx((formula / formula.max())[indices])
    assert weights.max() <= 1.0 and weights.min() > 0


def test_replay_without_prioritization_is_uniform_and_unweighted():
    hippocampus = Hippocampus(NODES, SMALL.replace(replay_alpha=0.0))
    for episode in random_episodes(4, seed=10):
        hippocampus.encode(episode)
    hippocampus.update_priority(0, 5.0)
    assert hippocampus.replay_probabilities() == pytest.approx([0.25] * 4)
    _, weights = hippocampus.sample_replays(10, 0)
    assert weights.tolist() == [1.0] * 10


def test_replay_is_compressed_in_time():
    hippocampus = Hippocampus(NODES, SMALL)
    episode = Episode([30, 10, 20, 40], times_ms=[300, 0, 150, 150])
    index = hippocampus.encode(episode)
    nodes, times = hippocampus.replay_schedule(index)
    assert nodes.tolist() == [10, 20, 40, 30]  # by time, ties by id
    assert times.tolist() == pytest.approx([0.0, 10.0, 10.0, 20.0])
    assert times.dtype == np.float32
    factor = hippocampus.replay_factor(index)
    assert 10 <= factor <= 20 and factor == pytest.approx(SMALL.compression)
    assert hippocampus.replay_duration_ms(index) == pytest.approx(325 / 15)
    faster = Hippocampus(NODES, SMALL.replace(compression=20))
    faster.encode(episode)
    assert faster.replay_schedule(0)[1][-1] == pytest.approx(15.0)


# -- determinism ---------------------------------------------------------------


def test_the_same_seed_gives_the_same_everything():
    runs = []
    for _ in range(2):
        hippocampus = Hippocampus(NODES, SMALL.replace(seed=11))
        for episode in random_episodes(10, seed=12):
            hippocampus.encode(episode)
        completion = hippocampus.complete([5, 77, 3000])
        samples = hippocampus.sample_replays(20)
        runs.append(
            (
                hippocampus.code(4).tolist(),
                completion.state.tolist(),
                completion.match,
                hippocampus.priorities.tolist(),
                samples[0].tolist(),
                samples[1].tolist(),
                hippocampus.prediction_error(2),
            )
        )
    assert runs[0] == runs[1]
    other = Hippocampus(NODES, SMALL.replace(seed=12))
    other.encode(random_episodes(10, seed=12)[4])
    assert other.code(0).tolist() != runs[0][0]


def test_a_stored_episode_is_a_copy():
    hippocampus = Hippocampus(NODES, SMALL)
    episode = Episode([1, 2, 3])
    index = hippocampus.encode(episode)
    assert hippocampus.episodes[index] == episode
    assert hippocampus.episodes[index] is not episode
    assert hippocampus.episodes[index].nodes is not episode.nodes


# -- bad input -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda h: h.complete([1, NODES]), UnknownNodeError, "unknown node id 10000"),
        (lambda h: h.complete([-1]), UnknownNodeError, "unknown node id -1"),
        (lambda h: h.complete([]), CueError, "a cue needs at least one node"),
        (lambda h: h.complete([1, 2], [1.0, math.nan]), CueError, "node 2 is nan"),
        (lambda h: h.complete({1: 1.0}, [1.0]), CueError, "takes no separate"),
        (lambda h: h.ec_code([1, 2], [1.0]), CueError, "1 values for 2 nodes"),
        (lambda h: h.encode([1, 2]), CueError, "encode takes an Episode, got list"),
        (lambda h: h.encode(Episode([NODES])), UnknownNodeError, "ids are in"),
        (lambda h: h.node_units(NODES), UnknownNodeError, "unknown node id"),
        (lambda h: h.separate(np.ones(3)), CueError, r"has shape \(256,\)"),
        (lambda h: h.separate(-np.ones(256)), CueError, "finite and >= 0"),
        (lambda h: h.code(1), EpisodeIndexError, "episode index 1 is out of range"),
        (lambda h: h.code(True), EpisodeIndexError, "an episode index is an"),
        (lambda h: h.replay_schedule(-1), EpisodeIndexError, "out of range"),
        (lambda h: h.prediction_error(0, 0.0), CueError, r"cue_fraction is 0.0"),
        (lambda h: h.update_priority(0, math.nan), HippocampusError, "error is nan"),
        (lambda h: h.update_priority(0, -1), HippocampusError, "finite and >= 0"),
        (lambda h: h.sample_replays(-1), HippocampusError, "count must be an"),
    ],
)
def test_bad_calls_say_what_is_wrong(call, error, message):
    hippocampus = Hippocampus(NODES, SMALL)
    hippocampus.encode(Episode([1, 2, 3]))
    with pytest.raises(error, match=message):
        call(hippocampus)


def test_nothing_to_replay_before_anything_is_stored():
    with pytest.raises(HippocampusError, match="no episodes stored"):
        Hippocampus(NODES, SMALL).sample_replays(3)
    with pytest.raises(EpisodeIndexError, match="0 episodes are stored"):
        Hippocampus(NODES, SMALL).prediction_error(0)
