"""``engram-actors memory``: encode, consolidate and recall from the shell."""

import contextlib
import json

import numpy as np
import pytest

from engram_actors import generators, io
from engram_actors.cli import main
from engram_actors.hippocampus import Episode
from engram_actors.memory import ConsolidationConfig, Memory

pytestmark = [
    pytest.mark.usefixtures("leaves_nothing_behind"),
    pytest.mark.timeout(120),
]

GRAPH = "random:2000:seed=1"
ARGS = ["-e", "10,20,30,40,50", "-e", "60=2,70,80,90", "--consolidate", "300",
        "-r", "20,30", "-r", "1999", "--actors", "2"]  # fmt: skip


def test_memory_session_matches_the_python_api(tmp_path, capsys):
    saved = tmp_path / "consolidated.npz"
    assert main(["memory", GRAPH, *ARGS, "--json", "--save", str(saved)]) == 0
    report = json.loads(capsys.readouterr().out)

    graph = generators.generate("random", 2000, seed=1)
    with Memory(graph, 2, consolidation=ConsolidationConfig()) as memory:
        memory.encode(Episode([10, 20, 30, 40, 50]))
        memory.encode(Episode([60, 70, 80, 90], [2.0, 1.0, 1.0, 1.0]))
        done = memory.consolidate(300)
        recall = memory.recall({20: 1.0, 30: 1.0})
        expected_graph = memory.graph

    assert [e["index"] for e in report["episodes"]] == [0, 1]
    assert report["consolidation"]["created"] == done["created"] > 0
    assert report["consolidation"]["updated"] == done["updated"]
    first, unknown = report["recalls"]
    assert first["episode"] == 0 and first["spread_from"] == [10, 20, 30, 40, 50]
    assert first["result"] == json.loads(json.dumps(recall.result.to_dict(k=10))) | {
        "stats": first["result"]["stats"]
    }
    assert len(first["result"]["working_memory"]) <= 7
    assert unknown["episode"] == -1 and unknown["spread_from"] == [1999]

    loaded = io.load(saved)
    assert report["saved"]["edges"] == loaded.num_edges == expected_graph.num_edges
    np.testing.assert_array_equal(loaded.weights, expected_graph.weights)


def test_memory_text_report(capsys):
    assert main(["memory", GRAPH, *ARGS]) == 0
    out = capsys.readouterr().out
    assert "episode 0: 5 nodes" in out and "episode 1: 4 nodes" in out
    assert "consolidated: 300 replays (15.0x compressed)" in out
    assert "recall 20,30: episode 0 (match" in out
    assert "recall 1999: no stored episode" in out
    assert "working memory:" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["-e", "10,,20"], "an empty node in the list"),
        (["-e", "10=x"], "activation 'x' is not a number"),
        (["-e", "99999"], "99999"),
        (["-e", "10", "--learning-rate", "0.5"], "learning_rate is 0.5"),
        (["-r", "nosuchlabel"], "nosuchlabel"),
    ],
)
def test_memory_refuses_bad_arguments_by_name(argv, message, capsys):
    usage_error = "empty" in message or "number" in message
    with pytest.raises(SystemExit) if usage_error else contextlib.nullcontext():
        assert main(["memory", GRAPH, "--actors", "1", *argv]) == 2
    assert message in capsys.readouterr().err
