"""Memory: one-shot encoding, recall by completion, slow consolidation.

Each effect of the two learning systems, end to end over an engine: a
partial cue recalls its episode, replay makes the graph recall episodes
by itself, interleaved replay protects what was learned first, surprising
episodes are replayed more, and everything is the same at any number of
actors and survives a save and load of the graph.
"""

import os
from unittest import mock

import numpy as np
import pytest
from leaks import assert_same

import engram_actors.engine as engine_module
from engram_actors import ConfigError, CueError, generators, io, reference
from engram_actors.config import NeuralConfig, SpreadConfig
from engram_actors.hippocampus import Episode
from engram_actors.memory import ConsolidationConfig, Memory
from shm.segments import SHM_DIR

pytestmark = [
    pytest.mark.usefixtures("leaves_nothing_behind"),
    pytest.mark.skipif(
        not os.path.isdir(SHM_DIR), reason="needs POSIX shared memory in /dev/shm"
    ),
    pytest.mark.timeout(240),
]

FAST = ConsolidationConfig(learning_rate=0.01)
ONE_HOP = SpreadConfig(decay=1.0, threshold=0.0, max_hops=1)


@pytest.fixture(scope="module")
def graph():
    return generators.generate("random", 2000, seed=1)


def episode_sets(seed=5, count=20):
    """Set A: ``count`` episodes of 6 random nodes. Set B: as many, each
    starting from the first node of an A episode and going on to 5 nodes
    of its own, so that learning B competes with A at those nodes."""
    nodes = np.random.default_rng(seed).permutation(2000)
    first = [nodes[i * 6 : (i + 1) * 6] for i in range(count)]
    second = [
        np.r_[first[i][0], nodes[10 * count + i * 5 : 10 * count + (i + 1) * 5]]
        for i in range(count)
    ]
    as_episode = [Episode([int(v) for v in e]) for e in first]
    return as_episode, [Episode([int(v) for v in e]) for e in second]


def graph_recall(memory, indices):
    """Mean recall score of episodes by the graph alone (1 - error)."""
    return 1.0 - float(np.mean([memory.recall_error(i) for i in indices]))


def test_a_partial_cue_recalls_its_whole_episode(graph):
    first, _ = episode_sets()
    with Memory(graph, actors=2) as memory:
        for episode in first:
            memory.encode(episode)
        for index, episode in enumerate(first[:8]):
            cue = {int(v): 1.0 for v in episode.nodes[:2]}  # a third of it
            recall = memory.recall(cue)
            assert recall.completion.index == index
            assert sorted(recall.cues) == episode.nodes.tolist()
            touched = set(recall.result.nodes.tolist())
            assert set(episode.nodes.tolist()) <= touched
            assert 0 < len(recall.working_memory) <= 7
        unknown = memory.recall({1999: 1.0})  # in no episode
        assert unknown.completion.index == -1 and list(unknown.cues) == [1999]


def test_replay_makes_the_graph_recall_the_episode_by_itself(graph):
    first, _ = episode_sets()
    with Memory(graph, actors=2, consolidation=FAST) as memory:
        indices = [memory.encode(episode) for episode in first]
        start = [int(e.nodes[np.argmin(e.times_ms)]) for e in first]
        before = [memory.engine.spread({s: 1.0}, ONE_HOP) for s in start]
        assert graph_recall(memory, indices) == 0.0
        report = memory.consolidate(800)
        assert sum(report["replayed"].values()) == 800
        assert report["created"] > 0 and 10 <= report["compression"] <= 20
        assert graph_recall(memory, indices) > 0.4
        for episode, s, old in zip(first, start, before, strict=True):
            new = memory.engine.spread({s: 1.0}, ONE_HOP)
            others = [int(v) for v in episode.nodes if v != s]
            gained = [new.activation_of(v) - old.activation_of(v) for v in others]
            assert min(gained) > 0, "every association of the episode grew"


def test_interleaved_replay_protects_what_was_learned_first(graph):
    first, second = episode_sets()
    scores = {}
    for interleaved in (False, True):
        with Memory(graph, actors=1, consolidation=FAST) as memory:
            a = [memory.encode(e) for e in first]
            memory.consolidate(800, episodes=a)
            learned = graph_recall(memory, a)
            b = [memory.encode(e) for e in second]
            if interleaved:
                memory.consolidate(1600)  # A and B replayed together
            else:
                memory.consolidate(800, episodes=b)  # B alone
            scores[interleaved] = (
                learned,
                graph_recall(memory, a),
                graph_recall(memory, b),
            )
    (learned, after_sequential, b_sequential) = scores[False]
    (_, after_interleaved, b_interleaved) = scores[True]
    assert after_sequential < learned - 0.05  # catastrophic interference
    assert after_interleaved > after_sequential + 0.1  # replay protects
    assert b_interleaved > 0.3 and b_sequential > 0.3  # B is learned either way


def test_without_normalisation_there_is_nothing_to_protect(graph):
    """The interference comes from each node's budget: without it,
    learning B leaves A where it was."""
    first, second = episode_sets()
    config = FAST.replace(normalize=False)
    with Memory(graph, actors=1, consolidation=config) as memory:
        a = [memory.encode(e) for e in first]
        memory.consolidate(800, episodes=a)
        learned = graph_recall(memory, a)
        b = [memory.encode(e) for e in second]
        memory.consolidate(800, episodes=b)
        assert graph_recall(memory, a) == pytest.approx(learned)


def test_surprising_episodes_are_replayed_more_in_proportion(graph):
    first, _ = episode_sets()
    with Memory(graph, actors=1, consolidation=FAST) as memory:
        indices = [memory.encode(e) for e in first[:4]]
        # Lower the priority of two episodes: they are already learned.
        memory.hippocampus.update_priority(indices[0], 0.05)
        memory.hippocampus.update_priority(indices[1], 0.2)
        config = memory.hippocampus.config
        p = memory.hippocampus.priorities**config.replay_alpha
        expected = p / p.sum()
        counts = memory.consolidate(4000)["replayed"]
        observed = np.array([counts.get(i, 0) for i in indices]) / 4000
        np.testing.assert_allclose(observed, expected, atol=0.025)
        assert observed[0] < observed[1] < observed[2]


def test_encode_recall_and_consolidate_are_the_same_at_any_actor_count(graph):
    first, second = episode_sets(count=6)
    outcomes = []
    for actors in (1, 2, 3):
        with (
            mock.patch.object(engine_module, "HAND_OVER_EDGES", 0),
            Memory(graph, actors=actors, consolidation=FAST) as memory,
        ):
            indices = [memory.encode(e) for e in first + second]
            report = memory.consolidate(300)
            recalls = [memory.recall({int(e.nodes[1]): 1.0}) for e in first]
            pulse = memory.recall({int(first[0].nodes[0]): 1.0}, SpreadConfig())
            assert recalls[0].result.stats.runner == f"engine ({actors} actors)"
            outcomes.append(
                (
                    indices,
                    report,
                    recalls,
                    pulse,
                    memory.graph,
                    memory.hippocampus.priorities,
                )
            )
    first_outcome = outcomes[0]
    for other in outcomes[1:]:
        assert other[0] == first_outcome[0] and other[1] == first_outcome[1]
        mine_all = other[2] + [other[3]]
        theirs_all = first_outcome[2] + [first_outcome[3]]
        for mine, theirs in zip(mine_all, theirs_all, strict=True):
            assert mine.cues == theirs.cues
            assert_same(mine.result, theirs.result)
        for name in ("indptr", "indices", "weights"):
            np.testing.assert_array_equal(
                getattr(other[4], name), getattr(first_outcome[4], name)
            )
        np.testing.assert_array_equal(other[5], first_outcome[5])


def test_what_consolidation_changed_is_seen_by_every_actor_and_survives_a_save(
    graph, tmp_path
):
    first, _ = episode_sets(count=6)
    cues = {int(first[0].nodes[0]): 1.0, int(first[3].nodes[2]): 2.0}
    with Memory(graph, actors=3, consolidation=FAST) as memory:
        for e in first:
            memory.encode(e)
        report = memory.consolidate(400)
        assert report["updated"] > 0 and report["created"] > 0
        changed = memory.graph
        for config in (SpreadConfig(threshold=0.0, max_hops=3), NeuralConfig()):
            expected = reference.spread(changed, cues, config)
            with mock.patch.object(engine_module, "HAND_OVER_EDGES", 0):
                for pull_edges in (1, 2**62):  # every wave pulls / pushes
                    memory.engine.pull_edges = pull_edges
                    result = memory.engine.spread(cues, config)
                    assert result.stats.runner == "engine (3 actors)"
                    assert_same(result, expected)
        path = tmp_path / "consolidated.npz"
        io.save(changed, path)
    loaded = io.load(path)
    for name in ("indptr", "indices", "weights"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(changed, name))
    assert_same(reference.spread(loaded, cues), reference.spread(changed, cues))


def test_bad_input_is_refused_by_name(graph):
    with Memory(graph, actors=1) as memory:
        with pytest.raises(CueError, match="outside a graph of 2000 nodes"):
            memory.encode({5000: 1.0})
        with pytest.raises(CueError, match="an episode is an Episode"):
            memory.encode([1, 2, 3])
        with pytest.raises(CueError, match="non-empty mapping"):
            memory.recall({})
        with pytest.raises(ConfigError, match="replays is -1"):
            memory.consolidate(-1)
        with pytest.raises(CueError, match="episode 3 is not stored"):
            memory.consolidate(10, episodes=[3])
        assert memory.consolidate(10)["replayed"] == {}  # nothing stored yet
    with pytest.raises(ConfigError, match=r"learning_rate is 0.1; allowed range"):
        ConsolidationConfig(learning_rate=0.1)
    with pytest.raises(ConfigError, match="spread_config must be"):
        Memory(graph, actors=1, spread_config={"decay": 0.5})
