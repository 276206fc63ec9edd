"""SpreadConfig and cue checking: every parameter and its allowed range."""

import numpy as np
import pytest

from engram_actors import ConfigError, CueError, Graph, SpreadConfig, UnknownNodeError
from engram_actors.cues import resolve_cues
from engram_actors.reference import spread


def test_defaults_are_valid_and_documented_values():
    config = SpreadConfig()
    assert (config.decay, config.threshold, config.max_hops) == (0.8, 0.01, 3)
    assert config.refractory_waves == 0 and config.max_activation is None


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("decay", 0.0, r"decay is 0.0; allowed range is \(0.0, 1.0\]"),
        ("decay", 1.5, r"decay is 1.5; allowed range is \(0.0, 1.0\]"),
        ("decay", float("nan"), "decay is nan"),
        ("decay", "0.5", "decay must be a number"),
        ("threshold", -0.1, r"threshold is -0.1; allowed range is \[0.0, inf\)"),
        ("threshold", float("inf"), "threshold is inf"),
        ("max_hops", -1, r"max_hops is -1; allowed range is \[0, 10000\]"),
        ("max_hops", 2.5, "max_hops must be an integer"),
        ("max_hops", True, "max_hops must be an integer"),
        ("refractory_waves", -2, "refractory_waves is -2"),
        ("max_activation", 0.0, r"max_activation is 0.0; allowed range is \(0.0"),
        ("max_activation", float("inf"), "max_activation is inf"),
        ("fan_normalize", 1, "fan_normalize must be True or False"),
    ],
)
def test_out_of_range_values_are_refused(field, value, message):
    with pytest.raises(ConfigError, match=message):
        SpreadConfig(**{field: value})


def test_replace_and_coerce():
    assert SpreadConfig.coerce({"decay": 0.5}).decay == 0.5
    assert SpreadConfig.coerce(None, max_hops=1).max_hops == 1
    with pytest.raises(ConfigError, match="unknown SpreadConfig field"):
        SpreadConfig().replace(hops=2)
    with pytest.raises(ConfigError, match="config must be a SpreadConfig"):
        SpreadConfig.coerce([1, 2])


@pytest.fixture
def graph():
    return Graph.from_edges([0, 1, 2], [1, 2, 3], labels=["a", "b", "c", "d"])


def test_cues_by_id_label_and_arrays_sum_duplicates(graph):
    ids, x = resolve_cues(graph, {"c": 0.5, 0: 1.0, 2: 0.25})
    assert ids.tolist() == [0, 2] and x.tolist() == [1.0, 0.75]
    ids, x = resolve_cues(graph, (np.array([3, 1, 3]), np.array([1.0, 2.0, 0.5])))
    assert ids.tolist() == [1, 3] and x.tolist() == [2.0, 1.5]
    assert ids.dtype == np.int32 and x.dtype == np.float32


@pytest.mark.parametrize(
    "cues, error, message",
    [
        ({}, CueError, "no cues given"),
        ({"zz": 1.0}, UnknownNodeError, "unknown node label 'zz'"),
        ({9: 1.0}, UnknownNodeError, r"unknown node id 9: ids are in \[0, 4\)"),
        ({"a": -1.0}, CueError, "cue activation of 'a' is -1.0"),
        ({"a": float("nan")}, CueError, "cue activation of 'a' is nan"),
        ({"a": "high"}, CueError, "cue activation of 'a' is 'high'"),
        ({"a": 1e40}, CueError, r"node 0 \(as float32\)"),
        (
            (np.array([0, 9]), np.array([1.0, 1.0])),
            UnknownNodeError,
            "unknown node id 9 at cue position 1",
        ),
        ((np.array([0, 1]), np.array([1.0])), CueError, "same length"),
        ((np.array([0.0]), np.array([1.0])), CueError, "cue ids must be integers"),
        (
            (np.array([0]), np.array([np.inf])),
            CueError,
            r"node 0 \(cue position 0\) is inf",
        ),
        ([0, 1], CueError, "cues must be a mapping"),
    ],
)
def test_bad_cues_are_refused(graph, cues, error, message):
    with pytest.raises(error, match=message):
        resolve_cues(graph, cues)


def test_bad_input_leaves_reference_state_clean(graph):
    before = spread(graph, {"a": 1.0}, threshold=0.0)
    with pytest.raises(UnknownNodeError):
        spread(graph, {"a": 1.0, "zz": 1.0})
    with pytest.raises(ConfigError):
        spread(graph, {"a": 1.0}, decay=2.0)
    after = spread(graph, {"a": 1.0}, threshold=0.0)
    assert before.activation.tolist() == after.activation.tolist()
