"""The engram-actors command line, in process and as a console script."""

import json
import re
import subprocess
import sys

import pytest

from engram_actors import Graph, generators, io
from engram_actors.cli import main


@pytest.fixture
def labelled_file(tmp_path):
    graph = Graph.from_edges(
        [0, 0, 1, 2],
        [1, 2, 3, 3],
        [0.9, 0.4, 0.8, 0.5],
        labels=["coffee", "cafe", "bitter", "first date"],
    )
    path = tmp_path / "memories.npz"
    io.save(graph, path)
    return path


def test_generate_info_and_spread_round_trip(tmp_path, capsys):
    path = tmp_path / "sw.npz"
    assert main(["generate", "small-world", "-n", "2000", "-o", str(path)]) == 0
    assert "2000 nodes" in capsys.readouterr().out
    assert main(["info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["nodes"] == 2000 and info["edges"] == 20_000
    assert main(["spread", str(path), "-c", "5", "--json", "-k", "3"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["touched"] > 10 and report["stats"]["waves"] == 3
    assert len(report["top"]) == 3
    values = [entry["activation"] for entry in report["top"]]
    assert values == sorted(values, reverse=True)
    assert report["config"]["max_hops"] == 3


def test_spread_by_label_prints_a_table(labelled_file, capsys):
    code = main(
        [
            "spread",
            str(labelled_file),
            "-c",
            "coffee",
            "--decay",
            "0.5",
            "--threshold",
            "0",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "coffee" in out and "first date" in out
    assert "4 nodes touched" in out


def test_spread_from_generator_spec(capsys):
    argv = ["spread", "random:500:seed=2", "-c", "0=2.0", "--max-hops", "1"]
    assert main([*argv, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    # One wave, no self-loops: the cue keeps exactly its own activation and
    # each neighbour gets at most decay * 2.0 * weight < 2.0.
    assert report["top"][0] == {"id": 0, "activation": 2.0}
    graph = generators.generate("random", 500, seed=2)
    assert report["touched"] == 1 + graph.out_degree[0]
    assert report["stats"]["waves"] == 1


@pytest.mark.parametrize(
    "argv, message",
    [
        (["spread", "{file}", "-c", "espresso"], "unknown node label 'espresso'"),
        (["spread", "{file}", "-c", "99"], "unknown node id 99"),
        (
            ["spread", "{file}", "-c", "coffee", "--decay", "3"],
            r"decay is 3.0; allowed range is \(0.0, 1.0\]",
        ),
        (["spread", "{file}", "-c", "coffee=-1"], "cue activation of 'coffee'"),
        (["spread", "nowhere.npz", "-c", "1"], "neither an existing file"),
        (["spread", "random:abc", "-c", "1"], "node count 'abc'"),
        (["info", "random:100:p"], "'p' is not key=value"),
        (["generate", "random", "-n", "0", "-o", "{dir}/x.npz"], "n"),
    ],
)
def test_user_errors_are_one_line_with_exit_2(labelled_file, capsys, argv, message):
    argv = [a.format(file=labelled_file, dir=labelled_file.parent) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("engram-actors: error: ")
    assert len(err.strip().splitlines()) == 1
    assert re.search(message, err), err


def _run_console(*argv):
    command = [sys.executable, "-m", "engram_actors.cli", *argv]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_console_script_reports_without_traceback(labelled_file):
    quiet = _run_console("spread", str(labelled_file), "-c", "espresso")
    assert quiet.returncode == 2
    assert "Traceback" not in quiet.stderr
    loud = _run_console("-v", "spread", str(labelled_file), "-c", "espresso")
    assert loud.returncode == 2
    assert "Traceback" in loud.stderr


def test_demo_runs_small_and_caches_its_graph(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert main(["demo", "--nodes", "5000", "--spreads", "20"]) == 0
    out = capsys.readouterr().out
    assert "generating the demo graph" in out
    assert "latency p50" in out and "M edges/s" in out
    assert list((tmp_path / "engram-actors").glob("demo-*.npz"))
    assert main(["demo", "--nodes", "5000", "--spreads", "20"]) == 0
    assert "loaded" in capsys.readouterr().out


def test_a_negative_top_is_an_argument_error(capsys):
    from engram_actors import cli

    with pytest.raises(SystemExit) as stop:
        cli.main(["spread", "random:50:seed=1", "-c", "0", "-k", "-1", "--reference"])
    assert stop.value.code == 2
    assert "--top: must be at least 0, got -1" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["spread", "random:50", "-c", "0"], ["demo"]])
def test_actor_counts_are_checked_where_the_engine_runs(capsys, command):
    from engram_actors import cli

    with pytest.raises(SystemExit) as stop:
        cli.main([*command, "--actors", "5000"])
    assert stop.value.code == 2
    assert "--actors: must be at most 1024, got 5000" in capsys.readouterr().err
