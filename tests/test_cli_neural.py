"""``engram-actors spread --model neural``: options, output, trace CSV.

The expected numbers come from the library's own neural spread, so these
tests check what the command line adds (option mapping, printing, the CSV)
rather than the model. The graph file is made once per module; the first
neural spread in a process loads the compiled kernels.
"""

import csv
import json
import math
import re

import pytest

from engram_actors import Graph, io, reference
from engram_actors.cli import main
from engram_actors.config import NeuralConfig, SpreadConfig

pytestmark = pytest.mark.timeout(120)

LABELS = [
    "coffee",
    "cafe",
    "bitter",
    "first date",
    "rain",
    "umbrella",
    "dark chocolate",
    "paris",
    "tea",
    "morning",
]
EDGES = [
    (0, 1, 0.9),
    (0, 2, 0.8),
    (1, 3, 0.9),
    (2, 6, 0.8),
    (3, 4, 0.7),
    (4, 5, 0.9),
    (1, 7, 0.75),
    (7, 3, 0.5),
    (0, 9, 0.6),
    (9, 8, 0.3),
    (8, 0, 0.4),
    (6, 2, 0.7),
    (5, 4, 0.8),
    (3, 1, 0.6),
]
# A synaptic gain of 3 carries a spread from "coffee" through the whole
# graph within the default 8 cycles and fills working memory.
GAIN = 3.0


@pytest.fixture(scope="module")
def memories(tmp_path_factory):
    """A small labelled memory graph, as a file and as a Graph."""
    src, dst, weight = zip(*EDGES, strict=True)
    graph = Graph.from_edges(list(src), list(dst), list(weight), labels=LABELS)
    path = tmp_path_factory.mktemp("neural") / "memories.npz"
    io.save(graph, path)
    return str(path), graph


def _spread(argv, capsys):
    assert main(["spread", *argv]) == 0
    return capsys.readouterr().out


def _json(argv, capsys):
    return json.loads(_spread([*argv, "--json"], capsys))


def _without_timing(report):
    """A JSON report less what differs between runs and runners."""
    report = dict(report, stats=dict(report["stats"]))
    for key in ("wall_time_s", "edges_per_s", "runner", "counters"):
        del report["stats"][key]
    return report


def test_text_output_shows_top_memories_working_memory_and_trace(memories, capsys):
    path, graph = memories
    expected = reference.spread(
        graph, {"coffee": 1.0}, NeuralConfig(synaptic_gain=GAIN)
    )
    argv = [path, "-c", "coffee", "--model", "neural", "--gain", str(GAIN)]
    lines = _spread([*argv, "--reference", "--trace", "-k", "10"], capsys).splitlines()

    spikes = int(expected.spikes.sum())
    cycles = expected.stats.waves
    assert lines[0].startswith(
        f"{len(expected)} nodes touched, {spikes} spikes in {cycles} gamma cycles "
        "of 25 ms, "
    )
    heading = "rank node activation spikes first ms cycle label"
    assert lines[1].split() == heading.split()
    top = expected.top(10, ids=True)
    for rank, ((node, activation), line) in enumerate(
        zip(top, lines[2 : 2 + len(top)], strict=True), 1
    ):
        at = list(expected.nodes).index(node)
        first = float(expected.first_spike_ms[at])
        assert line.split(None, 6) == [
            str(rank),
            str(node),
            f"{activation:.6g}",
            str(expected.spikes[at]),
            "-" if math.isnan(first) else f"{first:.1f}",
            str(expected.first_hop[at]),
            LABELS[node],
        ], line

    rest = lines[2 + len(top) :]
    memory = expected.working_memory
    assert len(memory) == memory.capacity == 7  # the spread fills it
    assert rest[0] == f"working memory: 7 of 7 items, {memory.displaced} displaced"
    assert rest[1].split() == ["rank", "node", "level", "entered", "label"]
    for rank, ((label, level), line) in enumerate(
        zip(memory.items(), rest[2:9], strict=True), 1
    ):
        assert line.split()[:3] == [str(rank), str(LABELS.index(label)), f"{level:.6g}"]
        assert line.endswith(f"  {label}")

    assert rest[9].startswith("trace per gamma cycle")
    assert (
        rest[10].split() == "cycle time ms gain spikes active driven wm items".split()
    )
    rows = [line.split() for line in rest[11:]]
    assert len(rows) == cycles + 1
    trace = expected.trace
    for c, row in enumerate(rows):
        assert int(row[0]) == trace["cycle"][c] == c
        assert float(row[1]) == trace["time_ms"][c]
        assert float(row[2]) == pytest.approx(trace["gain"][c], abs=1e-4)
        assert [int(v) for v in row[3:]] == [
            trace[key][c] for key in ("spikes", "active", "driven", "wm_items")
        ]


def test_trace_table_only_with_trace(memories, capsys):
    path, _ = memories
    out = _spread([path, "-c", "coffee", "--model", "neural", "--reference"], capsys)
    assert "working memory: " in out
    assert "trace per gamma cycle" not in out


def test_every_neural_option_reaches_its_config_field(memories, capsys):
    path, graph = memories
    fields = {
        "--cycles": ("max_cycles", 6),
        "--gain": ("synaptic_gain", 3.5),
        "--gamma-hz": ("gamma_hz", 50.0),
        "--theta-hz": ("theta_hz", 5.0),
        "--theta-depth": ("theta_depth", 0.2),
        "--theta-phase": ("theta_phase", 1.0),
        "--dt-ms": ("dt_ms", 0.5),
        "--tau-m-ms": ("tau_m_ms", 15.0),
        "--v-rest": ("v_rest", -0.1),
        "--v-threshold": ("v_threshold", 1.1),
        "--v-reset": ("v_reset", -0.2),
        "--refractory-ms": ("refractory_ms", 2.0),
        "--depletion": ("depletion", 0.7),
        "--tau-recovery-ms": ("tau_recovery_ms", 500.0),
        "--wm-capacity": ("wm_capacity", 5),
        "--wm-tau-ms": ("wm_tau_ms", 200.0),
        "--wm-inhibition": ("wm_inhibition", 0.2),
        "--wm-floor": ("wm_floor", 0.01),
    }
    argv = [path, "-c", "coffee", "-c", "tea=0.5", "--model", "neural", "--reference"]
    for option, (_, value) in fields.items():
        argv += [option, str(value)]
    report = _json(argv, capsys)
    config = NeuralConfig(**dict(fields.values()))
    assert report["config"] == config.to_dict()
    expected = reference.spread(graph, {"coffee": 1.0, "tea": 0.5}, config)
    assert _without_timing(report) == _without_timing(
        dict(expected.to_dict(k=10), config=config.to_dict())
    )
    assert len(report["working_memory"]) <= 5


def test_json_is_the_results_dict(memories, capsys):
    path, graph = memories
    argv = [path, "-c", "coffee", "--model", "neural", "--gain", "3", "-k", "4"]
    report = _json([*argv, "--reference"], capsys)
    expected = reference.spread(graph, {"coffee": 1.0}, NeuralConfig(synaptic_gain=3))
    document = expected.to_dict(k=4)
    assert set(report) == {*document, "config"}
    assert _without_timing(report) == _without_timing(
        dict(document, config=NeuralConfig(synaptic_gain=3).to_dict())
    )
    assert report["stats"]["runner"] == "reference"
    assert [entry["label"] for entry in report["working_memory"]] == [
        label for label, _ in expected.working_memory.items()
    ]
    assert len(report["trace"]["cycle"]) == report["stats"]["waves"] + 1


# Small spreads run in the engine's driver; a gain of 20 floods a 20k-node
# graph within a few cycles, dense enough for the waves to go to the actors.
@pytest.mark.parametrize(
    "where, argv",
    [
        ("driver", ["{memories}", "-c", "coffee", "-c", "tea=0.8", "--gain", "3"]),
        ("actors", ["random:20000:seed=1", "-c", "1", "-c", "2", "--gain", "20"]),
    ],
    ids=["driver", "actors"],
)
def test_engine_gives_the_references_json(
    memories, capsys, leaves_nothing_behind, where, argv
):
    argv = [a.format(memories=memories[0]) for a in argv]
    argv += ["--model", "neural", "--cycles", "6", "-k", "50"]
    ours = _json([*argv, "--reference"], capsys)
    theirs = _json([*argv, "--actors", "2", "--deterministic"], capsys)
    runner = theirs["stats"]["runner"]
    assert runner.startswith("engine") and ("2 actors" in runner) == (where == "actors")
    assert _without_timing(theirs) == _without_timing(ours)


def test_trace_csv_matches_the_json_trace(memories, tmp_path, capsys):
    path, _ = memories
    out = tmp_path / "trace.csv"
    argv = [path, "-c", "coffee", "--model", "neural", "--gain", "3", "--reference"]
    report = _json([*argv, "--trace-out", str(out)], capsys)
    with open(out, newline="") as file:
        rows = list(csv.reader(file))
    trace = report["trace"]
    assert rows[0] == list(trace)
    assert len(rows) == 1 + len(trace["cycle"])
    for c, row in enumerate(rows[1:]):
        assert [float(v) for v in row] == [trace[key][c] for key in trace]
        assert int(row[0]) == c

    text = _spread([*argv, "--trace-out", str(out)], capsys)
    assert f"trace written to {out}" in text
    with open(out, newline="") as file:
        assert list(csv.reader(file)) == rows


def test_an_unwritable_trace_file_is_a_user_error(memories, tmp_path, capsys):
    path, _ = memories
    argv = ["spread", path, "-c", "coffee", "--model", "neural", "--reference"]
    target = tmp_path / "no such folder" / "trace.csv"
    assert main([*argv, "--trace-out", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("engram-actors: error: ") and "no such folder" in err


@pytest.mark.parametrize(
    "options, message",
    [
        (
            ["--model", "neural", "--decay", "0.5"],
            "--decay is an option of --model pulse, not --model neural",
        ),
        (
            ["--model", "neural", "--threshold", "0.1", "--max-hops", "2"],
            "--threshold, --max-hops are options of --model pulse, not --model "
            "neural; use --v-threshold instead of --threshold, --cycles instead "
            "of --max-hops",
        ),
        (
            ["--model", "neural", "--fan-normalize"],
            "--fan-normalize is an option of --model pulse",
        ),
        (
            ["--cycles", "3"],
            "--cycles is an option of --model neural, not --model pulse "
            r"\(the default\); use --max-hops instead of --cycles",
        ),
        (["--model", "pulse", "--gain", "2"], "--gain is an option of --model neural"),
        (["--trace"], "--trace is an option of --model neural"),
        (["--trace-out", "t.csv"], "--trace-out is an option of --model neural"),
        (
            ["--model", "neural", "--cycles", "2.5"],
            "argument --cycles: invalid int value: '2.5'",
        ),
        (
            ["--model", "neural", "--gain", "strong"],
            "argument --gain: invalid float value: 'strong'",
        ),
        (["--model", "spiking"], "argument --model: invalid choice: 'spiking'"),
    ],
)
def test_options_of_the_other_model_are_usage_errors(
    memories, capsys, options, message
):
    path, _ = memories
    with pytest.raises(SystemExit) as stop:
        main(["spread", path, "-c", "coffee", *options])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: engram-actors spread")
    assert re.search(message, err), err


@pytest.mark.parametrize(
    "options, message",
    [
        (
            ["--cycles", "5000"],
            r"max_cycles is 5000; allowed range is \[0, 2000\] \(option --cycles\)",
        ),
        (
            ["--wm-capacity", "10"],
            r"wm_capacity is 10; allowed range is \[5, 9\] \(option --wm-capacity\)",
        ),
        (["--wm-capacity", "4"], r"wm_capacity is 4; allowed range is \[5, 9\]"),
        (["--depletion", "0"], r"depletion is 0.0; allowed range is \(0.0, 1.0\]"),
        (["--gain", "nan"], r"synaptic_gain is nan; .* \(option --gain\)"),
        (
            ["--theta-depth", "1.5"],
            r"theta_depth is 1.5; allowed range is \[0.0, 1.0\]",
        ),
        (["--dt-ms", "0"], r"dt_ms is 0.0; allowed range is \[0.01, 5.0\]"),
        (
            ["--gamma-hz", "10", "--theta-hz", "12"],
            r"theta_hz is 12.0; it must be below gamma_hz \(10.0\) "
            r"\(option --theta-hz\)",
        ),
        (
            ["--v-threshold", "-1"],
            r"v_rest is 0.0; it must be below v_threshold \(-1.0\)$",
        ),
    ],
)
def test_out_of_range_values_name_the_field(memories, capsys, options, message):
    path, _ = memories
    argv = ["spread", path, "-c", "coffee", "--model", "neural", *options]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("engram-actors: error: ")
    assert len(err.strip().splitlines()) == 1
    assert re.search(message, err.strip()), err


def test_pulse_stays_the_default(memories, capsys):
    path, graph = memories
    argv = [path, "-c", "coffee", "--reference"]
    default = _json(argv, capsys)
    assert _without_timing(_json([*argv, "--model", "pulse"], capsys)) == (
        _without_timing(default)
    )
    expected = reference.spread(graph, {"coffee": 1.0}, SpreadConfig())
    document = dict(expected.to_dict(k=10), config=SpreadConfig().to_dict())
    assert _without_timing(default) == _without_timing(document)
    assert "working_memory" not in default and "trace" not in default

    text = _spread([*argv, "--decay", "0.5", "--threshold", "0"], capsys)
    lines = text.splitlines()
    assert re.fullmatch(
        r"\d+ nodes touched in \d+ waves, \d+ edges, [\d.]+ ms", lines[0]
    )
    assert lines[1].split() == ["rank", "node", "activation", "hop", "label"]
    assert "working memory" not in text and "spikes" not in text


def test_a_signed_graph_file_spreads_neurally_and_is_refused_by_the_pulse_model(
    tmp_path, capsys
):
    path = tmp_path / "signed.txt"
    io.save(Graph.from_edges([0, 0], [1, 2], [1.0, -1.0], signed=True), path)
    assert main(["spread", str(path), "-c", "0", "--model", "neural"]) != 0
    assert "signed=True" in capsys.readouterr().err
    report = _json([str(path), "--signed", "-c", "0=3", "--model", "neural"], capsys)
    potential = {entry["id"]: entry["potential"] for entry in report["top"]}
    assert potential[2] < 0 < potential[1]  # node 2 was inhibited
    assert main(["spread", str(path), "--signed", "-c", "0", "--reference"]) != 0
    err = capsys.readouterr().err
    assert "pulse model needs association weights >= 0" in err
