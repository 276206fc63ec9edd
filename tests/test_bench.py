"""The benchmark harness (bench/): records, tables and the regression check.

The harness runs end to end on tiny graphs with the systems of the test
extra; systems whose packages are missing must still leave records.
"""

import csv
import json
import math
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import compare  # noqa: E402
import records  # noqa: E402
import report  # noqa: E402
import run  # noqa: E402
import systems  # noqa: E402
import workloads  # noqa: E402

import engram_actors  # noqa: E402

NODES = 2000


@pytest.fixture(scope="module")
def harness_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    argv = ["--sizes", str(NODES), "--topologies", "random", "small-world"]
    argv += ["--cue-sets", "20", "--repeats", "2", "--actors", "1", "2"]
    argv += ["--systems", "engine", "reference", "reference-kernel", "scipy"]
    argv += ["networkx", "igraph", "--no-plots", "--out", str(out)]
    path = run.main(argv)
    meta, found = records.load_results(path)
    return path, meta, found


def test_run_writes_json_csv_latest_and_summary(harness_run):
    path, meta, found = harness_run
    assert path.parent.joinpath("latest.json").read_text() == path.read_text()
    with open(path.with_suffix(".csv"), newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == len(found)
    assert tuple(rows[0]) == records.FIELDS
    summary = path.with_name(path.stem + "-summary.md").read_text()
    assert "## Claims" in summary and "| reference |" in summary
    assert meta["machine"]["cores"] >= 1
    assert meta["versions"]["numpy"] and meta["versions"]["numba"]


def test_every_record_has_the_schema_and_sane_values(harness_run):
    _, _, found = harness_run
    assert {r["topology"] for r in found} == {"random", "small-world"}
    for record in found:
        assert set(records.FIELDS) <= set(record)
        assert record["status"] in records.STATUSES
        assert record["nodes"] == NODES and record["edges"] > 0
        if record["status"] != "ok":
            assert record["reason"]
            continue
        assert math.isfinite(record["value"]) and record["value"] > 0
        assert record["value_min"] <= record["value_max"]
        recalls = ("recall", "neural_recall")
        if record["workload"] not in recalls:  # a recall's spread: chunk medians
            assert record["value_min"] <= record["value"] <= record["value_max"]
        assert record["repeats"] >= 1 and record["peak_rss_mb"] > 0
        if record["workload"] in recalls:
            assert 0 < record["p50_us"] <= record["p99_us"]
            assert len(record["latencies_us"]) == 20
        if record["system"] == "reference":
            assert record["ratio_vs_reference"] == pytest.approx(1.0)


def test_every_system_appears_for_every_graph_and_workload(harness_run):
    _, _, found = harness_run
    wanted = {"reference", "reference-kernel", "scipy", "networkx", "igraph", "engine"}
    for topology in ("random", "small-world"):
        for workload in ("full_wave", "recall", "neural_recall"):
            seen = {
                r["system"]
                for r in found
                if r["topology"] == topology and r["workload"] == workload
            }
            assert seen == wanted
    kernel_recall = [
        r
        for r in found
        if r["system"] == "reference-kernel" and r["workload"] == "recall"
    ]
    assert {r["status"] for r in kernel_recall} == {"unsupported"}


def test_other_systems_compute_the_same_recall(harness_run):
    _, _, found = harness_run
    recalls = [r for r in found if r["workload"] == "recall" and r["status"] == "ok"]
    for topology in ("random", "small-world"):
        touched = {
            r["system"]: r["touched_median"]
            for r in recalls
            if r["topology"] == topology
        }
        # Float32 sums in another order may tip a node over the threshold.
        assert touched["scipy"] == pytest.approx(touched["reference"], rel=0.02)
        assert touched["networkx"] == pytest.approx(touched["reference"], rel=0.02)


def test_engine_rows_are_measured_at_each_actor_count(harness_run):
    _, _, found = harness_run
    engine = [
        r
        for r in found
        if r["system"] == "engine" and r["workload"] in ("full_wave", "recall")
    ]
    assert len(engine) == 2 * 2 * 2  # topologies x workloads x actor counts
    assert sorted({r["actors"] for r in engine}) == [1, 2]
    for record in engine:
        assert record["status"] == "ok", record.get("reason")
    # The engine computes the reference's numbers: the same nodes lit.
    for record in engine:
        if record["workload"] != "recall":
            continue
        reference = next(
            r
            for r in found
            if r["system"] == "reference"
            and r["workload"] == "recall"
            and r["topology"] == record["topology"]
        )
        assert record["touched_median"] == reference["touched_median"]


def test_neural_recall_is_measured_by_the_runners_that_have_the_model(harness_run):
    _, _, found = harness_run
    neural = [r for r in found if r["workload"] == "neural_recall"]
    for topology in ("random", "small-world"):
        rows = [r for r in neural if r["topology"] == topology]
        ran = {(r["system"], r["actors"]) for r in rows if r["status"] == "ok"}
        assert ran == {("reference", 1), ("engine", 1), ("engine", 2)}
        for record in rows:
            if record["status"] == "ok":
                assert record["touched_median"] > 0 and record["spikes_median"] > 0
                assert record["edges_per_s"] > 0
                continue
            # Every other system says why it has no figure.
            assert record["status"] in ("unsupported", "unavailable"), record
            assert record["reason"]
        reference = next(r for r in rows if r["system"] == "reference")
        for record in rows:
            if record["system"] == "engine":
                # The same model: the same nodes lit and spikes (a push wave
                # on the actors may add a node's inputs in another order).
                assert record["touched_median"] == pytest.approx(
                    reference["touched_median"], rel=0.02
                )
                assert record["spikes_median"] == pytest.approx(
                    reference["spikes_median"], rel=0.02
                )
    unsupported = {
        r["system"]: r["reason"] for r in neural if r["status"] == "unsupported"
    }
    assert "pulse model only" in unsupported["scipy"]
    assert "reference row" in unsupported["reference-kernel"]


def test_a_system_without_its_package_leaves_unavailable_records():
    class Missing(systems.System):
        name = "missing"
        package = "engram_bench_no_such_package"

    options = workloads.Options(
        repeats=1, cue_sets=2, workloads=["full_wave", "recall"]
    )
    found = workloads.measure_graph("random", 500, [Missing()], options)
    assert [(r["workload"], r["status"]) for r in found] == [
        ("full_wave", "unavailable"),
        ("recall", "unavailable"),
    ]
    assert all("engram_bench_no_such_package" in r["reason"] for r in found)


def _figure(workload, value, low, high, system="reference", **fields):
    metric = records.METRICS[workload][0]
    return records.make_record(
        workload,
        "random",
        1000,
        10000,
        system,
        value_min=low,
        value_max=high,
        **{metric: value},
        **fields,
    )


def _write(path, found):
    path.write_text(json.dumps({"meta": {}, "records": found}))
    return str(path)


def test_compare_flags_a_planted_2x_regression_and_passes_identical(tmp_path):
    before = [
        _figure("full_wave", 100e6, 90e6, 110e6),
        _figure("recall", 200.0, 190.0, 215.0),
    ]
    slower = [
        _figure("full_wave", 100e6, 90e6, 110e6),
        _figure("recall", 400.0, 380.0, 430.0),
    ]
    baseline = _write(tmp_path / "before.json", before)
    assert compare.main([baseline, _write(tmp_path / "same.json", before)]) == 0
    assert compare.main([baseline, _write(tmp_path / "slower.json", slower)]) == 1
    rows, flagged = compare.compare(before, slower)
    assert flagged
    assert [row["verdict"] for row in rows] == ["", "REGRESSION"]


def test_compare_ignores_a_change_inside_the_baselines_spread():
    before = [_figure("full_wave", 100e6, 60e6, 130e6)]
    noisy = [_figure("full_wave", 80e6, 70e6, 90e6)]  # 20% worse, inside 60-130
    rows, flagged = compare.compare(before, noisy)
    assert not flagged
    assert rows[0]["change"] == "-20.0%" and rows[0]["verdict"] == ""


def test_claims_table_computes_ratios_from_given_records():
    given = [
        _figure("recall", 300.0, 290, 310, p99_us=500.0, edges_per_s=20e6),
        records.make_record(
            "recall",
            "small-world",
            1000,
            10000,
            "reference",
            p50_us=100.0,
            p99_us=200.0,
            edges_per_s=12.5e6,
            touched_median=1000.0,
        ),
    ]
    given[0]["touched_median"] = 990.0
    rows = {row["claim"]: row for row in report.claims(given)}
    assert rows["10M+ activations per second"]["ratio"] == "2.00x"
    assert rows["under 1 ms for a 1,000-node spread"]["ratio"] == "2.00x"
    assert rows["25M updates per second on small-world graphs"]["ratio"] == "0.50x"
    efficiency = rows["95% parallel efficiency up to 32 cores"]
    assert efficiency["measured as"].startswith("not measured: needs the engine")

    for actors, rate in ((1, 100e6), (2, 190e6)):
        given.append(
            _figure("full_wave", rate, rate, rate, system="engine", actors=actors)
        )
    rows = {row["claim"]: row for row in report.claims(given)}
    efficiency = rows["95% parallel efficiency up to 32 cores"]
    assert efficiency["measured"] == "95%" and efficiency["ratio"] == "1.00x"


class _StandInEngine:
    """The engine's documented API, computed by the reference."""

    def __init__(self, graph, actors, config=None, deterministic=False):
        self.graph, self.actors = graph, actors

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def spread(self, cues, config):
        return engram_actors.reference.spread(self.graph, cues, config)


def test_engine_rows_are_measured_once_the_engine_exists(monkeypatch):
    monkeypatch.setattr(engram_actors, "Engine", _StandInEngine, raising=False)
    chosen = systems.make_systems(["engine", "reference"], actors=(1, 2))
    options = workloads.Options(
        repeats=1, cue_sets=5, workloads=["full_wave", "recall"]
    )
    found = records.add_ratios(workloads.measure_graph("random", 500, chosen, options))
    engine = [r for r in found if r["system"] == "engine"]
    assert [(r["workload"], r["actors"], r["status"]) for r in engine] == [
        ("full_wave", 1, "ok"),
        ("full_wave", 2, "ok"),
        ("recall", 1, "ok"),
        ("recall", 2, "ok"),
    ]
    reference = {r["workload"]: r for r in found if r["system"] == "reference"}
    for record in engine:
        assert record["ratio_vs_reference"] > 0
        if record["workload"] == "recall":
            assert record["touched_median"] == reference["recall"]["touched_median"]
            assert record["edges_per_s"] > 0


def test_neural_speed_writes_its_figures_on_a_tiny_graph(tmp_path):
    import neural_speed

    argv = ["--nodes", str(NODES), "--topologies", "random", "--blocks", "64"]
    argv += ["--repeats", "1", "--wave-cues", "50", "--wave-sets", "3"]
    argv += ["--recall-sets", "4", "--out", str(tmp_path)]
    path = neural_speed.main(argv)
    assert path.name.startswith("neural-") and path.suffix == ".json"
    assert path.with_suffix(".md").read_text().startswith("# Neural model speed")
    report = json.loads(path.read_text())
    (kernel,) = report["kernel"]
    assert kernel["nodes"] == 64 and kernel["bit_identical"]
    assert kernel["vectorised_ns_per_node_step"] > 0 and kernel["speedup"] > 0
    ops = report["asm"]["integrate_cycle"]
    assert {"packed_ymm", "packed_xmm", "scalar_ss", "masked_stores"} <= set(ops)
    assert report["asm"]["integrate_cycle_scalar"]["scalar_ss"] > 0
    entry = report["topologies"]["random"]
    assert entry["nodes"] == NODES
    for workload in ("wave", "recall"):
        found = entry["workloads"][workload]
        assert found["engine_matches_reference"]
        for runner in ("reference", "engine x2", "engine x2 actors"):
            rows = found[runner]
            assert set(rows) == {"neural", "pulse-t0", "pulse-matched"}
            assert all(
                row["edges"] > 0 and row["ns_per_edge"] > 0 for row in rows.values()
            )
            assert rows["neural"]["ratio_vs_pulse-matched"] > 0
            assert rows["neural"]["ns_per_driven_node_cycle"] > 0


def test_consolidation_curves_show_interleaving_protect_the_first_set(tmp_path):
    import consolidation_curves

    argv = ["--nodes", "600", "--episodes", "8", "--rounds", "3", "--replays", "120"]
    argv += ["--actors", "1", "--out", str(tmp_path)]
    report = consolidation_curves.main(argv)
    assert (tmp_path / next(p.name for p in tmp_path.glob("*.json"))).exists()
    command = " ".join(["bench/consolidation_curves.py", *argv])
    assert report["meta"]["command"] == command
    assert report["meta"]["versions"]["numba"] and report["wall_s"] > 0
    assert report["a_after_b"]["interleaved"] > report["a_after_b"]["sequential"]
    for mode in ("sequential", "interleaved"):
        assert 10 <= report["curves"][mode]["compression"] <= 20
        rows = report["curves"][mode]["rows"]
        assert len(rows) == 1 + 2 * 3 and rows[0]["a"] < 0.1 < rows[3]["a"]


def test_hippocampus_curves_write_their_figures_at_a_tiny_size(tmp_path):
    import hippocampus_curves

    argv = ["--ec-size", "128", "--num-nodes", "5000", "--shares", "0,0.5,1"]
    argv += ["--pairs", "4", "--loads", "10,20", "--cues", "8", "--jobs", "1"]
    argv += ["--out", str(tmp_path)]
    path = hippocampus_curves.main(argv)
    assert path.name.startswith("hippocampus-") and path.suffix == ".json"
    report = json.loads(path.read_text())
    overlaps = [row["input_overlap"] for row in report["separation"]]
    assert overlaps == [0.0, 0.5, 1.0]
    assert report["separation"][-1]["dg_overlap"] == 1.0
    curves = {(r["kind"], r["separation"], r["rule"]) for r in report["capacity"]}
    assert curves == set(hippocampus_curves.CONDITIONS) and len(curves) == 6
    for row in report["capacity"]:
        assert 0 <= row["accuracy"] <= 1 and row["tested"] == 8
    assert "random, separation on, covariance" in report["capacity_at_0.9"]
    assert len(report["summary"]) == 1 + 6
    for name in ("separation", "capacity"):
        drawn = Path(f"{path.with_suffix('')}-{name}.png")
        assert drawn.exists() or "not drawn" in report["plots"][0]
