"""Signed graphs: inhibitory (negative) weights, opt-in, in memory and on disk."""

import zipfile

import msgpack
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engram_actors import Graph, GraphError, GraphFormatError
from engram_actors import io as graph_io

SUFFIX = {"npz": ".npz", "edgelist": ".txt", "msgpack": ".msgpack"}
HINT = r"pass signed=True to allow inhibitory \(negative\) weights"
BIG = float(np.finfo(np.float32).max)

# Mixed signs, both zeros, the float32 extremes either way, a subnormal, and
# values whose text needs many digits.
SIGNED_WEIGHTS = [
    0.5,
    -0.25,
    -1e-30,
    3.0,
    -0.0,
    0.0,
    -BIG,
    BIG,
    -1.4e-45,
    -2.0 / 3.0,
    -123456792.0,
    0.1,
]


def same_graph(a, b):
    """True when both graphs have bit-identical arrays, labels and flag."""
    return (
        a.indptr.dtype == b.indptr.dtype
        and a.indices.dtype == b.indices.dtype
        and a.weights.dtype == b.weights.dtype
        and a.indptr.tobytes() == b.indptr.tobytes()
        and a.indices.tobytes() == b.indices.tobytes()
        and a.weights.tobytes() == b.weights.tobytes()
        and a.labels == b.labels
        and a.signed is b.signed
    )


def signed_graph(labelled=False):
    """Six nodes, twelve edges of both signs; node 5 has no edges."""
    src = [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 0, 2]
    dst = [1, 2, 2, 3, 3, 4, 4, 0, 0, 1, 3, 0]
    labels = ["coffee", "café", "bitter", "rain", "München", "日本"]
    return Graph.from_edges(
        src,
        dst,
        SIGNED_WEIGHTS,
        num_nodes=6,
        labels=labels if labelled else None,
        signed=True,
    )


def save_and_load(graph, folder, fmt, **kwargs):
    path = folder / f"graph{SUFFIX[fmt]}"
    graph_io.save(graph, path)
    if fmt == "edgelist":
        kwargs.setdefault("duplicates", "keep")
        return graph_io.load_edgelist(path, **kwargs)
    return graph_io.load(path, **kwargs)


def write_bytes(folder, name, data):
    path = folder / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


# -- construction ------------------------------------------------------------


def test_signed_from_edges_keeps_negative_weights():
    g = Graph.from_edges([0, 0, 1], [1, 2, 2], [0.5, -0.25, -1.0], signed=True)
    assert g.signed is True
    assert g.weights.tolist() == [0.5, -0.25, -1.0]
    assert g.has_negative_weights is True
    assert repr(g) == "<Graph 3 nodes, 3 edges, signed>"
    ids, weights = g.neighbors(0)
    assert ids.tolist() == [1, 2] and weights.tolist() == [0.5, -0.25]


def test_signed_csr_constructor():
    g = Graph(
        np.array([0, 2, 2]), np.array([0, 1], np.int32), np.array([-2.0, 1.0]),
        signed=True,
    )  # fmt: skip
    assert g.signed and g.has_negative_weights
    assert g.weights.dtype == np.float32 and g.weights.tolist() == [-2.0, 1.0]


def test_a_signed_graph_need_not_have_negative_weights():
    g = Graph.from_edges([0, 1], [1, 0], [0.5, -0.0], signed=True)
    # -0.0 compares equal to 0.0: it is not a negative weight.
    assert g.signed and not g.has_negative_weights
    assert not Graph.from_edges([], [], num_nodes=1, signed=True).has_negative_weights


def test_unsigned_is_the_default():
    g = Graph.from_edges([0, 1], [1, 2], [0.5, 0.0])
    assert g.signed is False and g.has_negative_weights is False
    assert repr(g) == "<Graph 3 nodes, 2 edges>"
    assert Graph(np.array([0, 1]), np.array([0]), np.array([1.0])).signed is False


def test_has_negative_weights_is_computed_once():
    g = Graph.from_edges([0], [1], [-1.0], signed=True)
    assert g._has_negative_weights is None
    assert g.has_negative_weights is True
    assert g._has_negative_weights is True
    # The reverse holds the same weights, so it takes the answer along.
    assert g.reverse()._has_negative_weights is True


def test_reverse_keeps_the_flag_and_weights():
    g = Graph.from_edges(
        [0, 0, 1], [1, 2, 2], [0.5, -0.25, -1.0], labels=list("abc"), signed=True
    )
    r = g.reverse()
    assert r.signed is True and r.has_negative_weights is True
    assert r.reverse() is g
    ids, weights = g.in_neighbors("c")
    assert ids.tolist() == [0, 1] and weights.tolist() == [-0.25, -1.0]
    assert Graph.from_edges([0], [1]).reverse().signed is False


def test_kernel_arrays_hold_negative_weights_unchanged():
    g = Graph.from_edges([0, 1], [1, 0], [-0.5, 2.0], signed=True)
    indptr, indices, weights = g.kernel_arrays()
    assert weights is g.weights and weights.tolist() == [-0.5, 2.0]
    assert indptr.dtype == np.uint64 and indices.dtype == np.uint32


def test_degree_stats_report_negative_weights():
    stats = Graph.from_edges([0, 1], [1, 0], [-0.5, 2.0], signed=True).degree_stats()
    assert stats["weight"]["min"] == -0.5 and stats["weight"]["max"] == 2.0


@pytest.mark.parametrize("signed", [1, 0, "yes", None, 1.0])
def test_signed_must_be_a_bool(signed):
    with pytest.raises(GraphError, match="signed must be True or False"):
        Graph.from_edges([0], [1], signed=signed)
    with pytest.raises(GraphError, match="signed must be True or False"):
        Graph(np.array([0, 1]), np.array([0]), np.array([1.0]), signed=signed)


def test_numpy_bool_is_a_bool():
    g = Graph.from_edges([0], [1], [-1.0], signed=np.bool_(True))
    assert g.signed is True


# -- refusals ----------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"weight": [1.0, -0.5]},
            rf"^weight\[1\] is -0\.5; association weights must be finite and "
            rf">= 0; {HINT}$",
        ),
        (
            {"weight": [1.0, np.nan]},
            r"^weight\[1\] is nan; association weights must be finite and >= 0$",
        ),
        ({"weight": [np.inf, 1.0]}, r"^weight\[0\] is inf; .* finite and >= 0$"),
        ({"weight": -1.0}, rf"^weight\[0\] is -1\.0; .*{HINT}$"),
    ],
)
def test_unsigned_refuses_negative_weights_and_says_how_to_allow_them(kwargs, message):
    with pytest.raises(GraphError, match=message):
        Graph.from_edges([0, 1], [1, 0], **kwargs)


def test_unsigned_csr_constructor_refuses_negative_weights():
    with pytest.raises(GraphError, match=rf"^weights\[1\] is -3\.0; .*{HINT}$"):
        Graph(np.array([0, 2]), np.array([0, 0]), np.array([1.0, -3.0]))


@pytest.mark.parametrize(
    "weight, message",
    [
        ([1.0, np.nan], r"^weight\[1\] is nan; association weights must be finite$"),
        ([np.inf, -1.0], r"^weight\[0\] is inf; association weights must be finite$"),
        ([-np.inf, 1.0], r"^weight\[0\] is -inf; association weights must be finite$"),
        (
            [1.0, -1e300],
            r"^weight \(as float32\)\[1\] is -inf; association weights must be finite$",
        ),
    ],
)
def test_signed_still_refuses_what_is_not_finite(weight, message):
    with pytest.raises(GraphError, match=message):
        Graph.from_edges([0, 1], [1, 0], weight, signed=True)


def test_signed_csr_constructor_refuses_nan():
    with pytest.raises(GraphError, match=r"^weights\[0\] is nan; .* must be finite$"):
        Graph(
            np.array([0, 1]), np.array([0]), np.array([np.nan], np.float32), signed=True
        )


# -- duplicates of mixed signs ---------------------------------------------------


@pytest.mark.parametrize(
    "policy, weights, expected",
    [
        ("sum", [0.5, -0.75, 1.0], [-0.25, 1.0]),
        ("sum", [0.5, -0.5, -2.0], [0.0, -2.0]),
        ("max", [-0.5, -0.25, -1.0], [-0.25, -1.0]),
        ("max", [-0.5, 0.25, -3.0], [0.25, -3.0]),
        ("keep", [-0.5, 0.25, -3.0], [-0.5, 0.25, -3.0]),
    ],
)
def test_mixed_sign_duplicates(policy, weights, expected):
    g = Graph.from_edges([0, 0, 1], [1, 1, 0], weights, duplicates=policy, signed=True)
    assert g.weights.tolist() == expected
    assert g.signed is True


def test_mixed_sign_sum_is_float32_in_input_order():
    # 1e8 + 1 rounds back to 1e8 in float32, so the run sums to 0, not 1.
    g = Graph.from_edges([0, 0, 0], [1, 1, 1], [1e8, 1.0, -1e8], signed=True)
    assert g.weights.tolist() == [0.0]
    g = Graph.from_edges([0, 0, 0], [1, 1, 1], [1e8, -1e8, 1.0], signed=True)
    assert g.weights.tolist() == [1.0]


def test_mixed_sign_duplicates_are_refused_with_error_policy():
    with pytest.raises(GraphError, match=r"edge 0 -> 1 is given more than once"):
        Graph.from_edges([0, 0], [1, 1], [1.0, -1.0], duplicates="error", signed=True)


@pytest.mark.parametrize(
    "weights, shown",
    [([BIG, BIG, -BIG], "inf"), ([-BIG, 1.0, -BIG], "-inf"), ([-BIG, -BIG], "-inf")],
)
def test_summed_mixed_sign_duplicates_must_stay_finite(weights, shown):
    n = len(weights)
    with pytest.raises(
        GraphError,
        match=rf"^summed duplicate weights\[0\] is {shown}; association weights "
        r"must be finite$",
    ):
        Graph.from_edges([0] * n, [1] * n, weights, signed=True)


# -- round trips --------------------------------------------------------------


@pytest.mark.parametrize("labelled", [False, True])
@pytest.mark.parametrize("fmt", graph_io.FORMATS)
def test_signed_round_trip_is_exact(tmp_path, fmt, labelled):
    graph = signed_graph(labelled)
    back = save_and_load(graph, tmp_path, fmt, signed=True)
    assert same_graph(graph, back)
    assert back.has_negative_weights and back.out_degree[5] == 0


@pytest.mark.parametrize("fmt", ["npz", "msgpack"])
def test_binary_files_record_the_flag(tmp_path, fmt):
    graph = signed_graph()
    assert same_graph(graph, save_and_load(graph, tmp_path, fmt))
    positive = Graph.from_edges([0, 1], [1, 0], [0.5, 2.0], signed=True)
    back = save_and_load(positive, tmp_path, fmt)
    assert back.signed is True and not back.has_negative_weights


def test_mapped_npz_keeps_the_flag(tmp_path):
    graph = signed_graph(labelled=True)
    graph_io.save(graph, tmp_path / "g.npz")
    back = graph_io.load(tmp_path / "g.npz", mmap=True)
    assert isinstance(back.weights.base, np.memmap)
    assert same_graph(graph, back)


@pytest.mark.parametrize("fmt", graph_io.FORMATS)
def test_unsigned_round_trip_stays_unsigned(tmp_path, fmt):
    graph = Graph.from_edges([0, 1, 2], [1, 2, 0], [0.5, 0.0, 2.0])
    back = save_and_load(graph, tmp_path, fmt)
    assert same_graph(graph, back) and back.signed is False
    # Asked for, the flag is set on any file; the arrays are the same.
    asked = save_and_load(graph, tmp_path, fmt, signed=True)
    assert asked.signed is True
    assert asked.weights.tobytes() == graph.weights.tobytes()


def test_edgelist_does_not_record_the_flag(tmp_path):
    positive = Graph.from_edges([0, 1], [1, 0], [0.5, 2.0], signed=True)
    graph_io.save(positive, tmp_path / "g.txt")
    assert graph_io.load(tmp_path / "g.txt").signed is False
    assert graph_io.load(tmp_path / "g.txt", signed=True).signed is True


def test_unsigned_files_have_no_flag(tmp_path):
    graph = Graph.from_edges([0, 1], [1, 0], [0.5, 2.0])
    graph_io.save(graph, tmp_path / "g.npz")
    graph_io.save(graph, tmp_path / "g.msgpack")
    with zipfile.ZipFile(tmp_path / "g.npz") as archive:
        assert "signed.npy" not in archive.namelist()
    document = msgpack.unpackb((tmp_path / "g.msgpack").read_bytes())
    assert "signed" not in document


def test_signed_files_hold_the_flag(tmp_path):
    graph = signed_graph()
    graph_io.save(graph, tmp_path / "g.npz")
    graph_io.save(graph, tmp_path / "g.msgpack")
    with np.load(tmp_path / "g.npz", allow_pickle=False) as archive:
        assert archive["signed"].dtype == np.bool_
        assert archive["signed"].tolist() == [True]
    document = msgpack.unpackb((tmp_path / "g.msgpack").read_bytes())
    assert document["signed"] is True


def test_negative_weights_are_written_short(tmp_path):
    graph = Graph.from_edges(
        [0, 0, 0, 0, 0], [1, 2, 3, 4, 5], [-0.1, -1.0, -3e-7, -1e20, -0.0], signed=True
    )
    graph_io.save(graph, tmp_path / "g.txt")
    lines = (tmp_path / "g.txt").read_text().splitlines()
    assert lines[2:] == ["0 1 -0.1", "0 2 -1", "0 3 -3e-07", "0 4 -1e+20", "0 5 -0"]


def test_every_negative_float32_weight_reads_back_exactly(tmp_path):
    rng = np.random.default_rng(11)
    bits = rng.integers(0x80000000, 0xFF800000, 50_000, dtype=np.uint32)
    weights = np.sort(bits).view(np.float32)
    n = weights.size
    graph = Graph.from_edges(np.zeros(n, np.int64), np.arange(n), weights, signed=True)
    back = save_and_load(graph, tmp_path, "edgelist", signed=True)
    assert back.weights.tobytes() == graph.weights.tobytes()


# -- loading: what signed=True allows and what it still refuses ------------------


@pytest.mark.parametrize(
    "text, line, shown",
    [
        ("0 1 -0.5\n", 1, r"-0\.5"),
        ("0 1\n1 0 -1e-30\n", 2, r"-1e-30"),
        # Beyond the compiled fast path: numpy converts it.
        ("0 1 -1.00000000000000000001\n", 1, r"-1\.00000000000000000001"),
    ],
)
def test_edgelist_negative_weight_needs_signed(tmp_path, text, line, shown):
    path = write_bytes(tmp_path, "neg.txt", text)
    with pytest.raises(
        GraphFormatError,
        match=rf"neg\.txt, line {line}, field weight: weight {shown} is negative; "
        rf"association weights must be >= 0; {HINT}$",
    ) as caught:
        graph_io.load(path)
    assert caught.value.line == line and caught.value.field == "weight"
    graph = graph_io.load(path, signed=True)
    assert graph.signed and graph.has_negative_weights


def test_edgelist_signed_weights_read_correctly(tmp_path):
    text = "a b -0.5\nb c -1.00000000000000000001\nc a 2\na c -7e-3\nb a -0\n"
    graph = graph_io.load(write_bytes(tmp_path, "g.txt", text), signed=True)
    expected = np.float32([-0.5, -0.007, -0.0, -1.0, 2.0])
    assert graph.weights.tobytes() == expected.tobytes()
    assert graph.labels == ("a", "b", "c")


@pytest.mark.parametrize(
    "text, message",
    [
        ("0 1 --1\n", r"weight '--1' is not a number"),
        ("0 1 -\n", r"weight '-' is not a number"),
        ("0 1 -x\n", r"weight '-x' is not a number"),
        ("0 1 -1e\n", r"weight '-1e' is not a number"),
        ("0 1 -NaN\n", r"weight '-NaN' is NaN; association weights must be finite$"),
        (
            "0 1 -inf\n",
            r"weight '-inf' is infinite; association weights must be finite$",
        ),
        ("0 1 -1e39\n", r"weight -1e39 overflows float32"),
        ("0 1 -1e400\n", r"weight -1e400 overflows float32"),
    ],
)
def test_signed_edgelist_still_refuses_malformed_weights(tmp_path, text, message):
    path = write_bytes(tmp_path, "bad.txt", text)
    with pytest.raises(GraphFormatError, match=r"bad\.txt, line 1, field weight: "):
        graph_io.load(path, signed=True)
    with pytest.raises(GraphFormatError, match=message):
        graph_io.load(path, signed=True)


def test_unsigned_edgelist_keeps_its_messages(tmp_path):
    path = write_bytes(tmp_path, "bad.txt", "0 1 nan\n")
    with pytest.raises(
        GraphFormatError,
        match=r"weight 'nan' is NaN; association weights must be finite and >= 0$",
    ):
        graph_io.load(path)


def test_signed_edgelist_with_mixed_sign_duplicates(tmp_path):
    path = write_bytes(tmp_path, "g.txt", "0 1 0.5\n0 1 -0.75\n1 0 -1\n1 0 -2\n")
    assert graph_io.load(path, signed=True).weights.tolist() == [-0.25, -3.0]
    maxed = graph_io.load_edgelist(path, duplicates="max", signed=True)
    assert maxed.weights.tolist() == [0.5, -1.0]


def npz_members(graph, **changes):
    members = {
        "format": np.frombuffer(b"engram-actors graph", np.uint8),
        "version": np.array([1], np.int64),
        "indptr": graph.indptr,
        "indices": graph.indices,
        "weights": graph.weights,
    }
    members.update(changes)
    return {key: value for key, value in members.items() if value is not None}


@pytest.mark.parametrize("mmap", [False, True])
def test_npz_with_negative_weights_and_no_flag_is_refused(tmp_path, mmap):
    graph = Graph.from_edges([0, 1], [1, 0], [2.0, -1e-30], signed=True)
    np.savez(tmp_path / "old.npz", **npz_members(graph))
    with pytest.raises(
        GraphFormatError,
        match=r"old\.npz: weights\[1\] is -1\.0000000031710769e-30; association "
        rf"weights must be finite and >= 0; {HINT}$",
    ):
        graph_io.load(tmp_path / "old.npz", mmap=mmap)
    back = graph_io.load(tmp_path / "old.npz", mmap=mmap, signed=True)
    assert same_graph(graph, back)


@pytest.mark.parametrize("mmap", [False, True])
def test_npz_flag_written_by_numpy(tmp_path, mmap):
    graph = Graph.from_edges([0, 1], [1, 0], [2.0, -1.0], signed=True)
    np.savez(tmp_path / "yes.npz", **npz_members(graph, signed=np.array([True])))
    assert same_graph(graph, graph_io.load(tmp_path / "yes.npz", mmap=mmap))
    np.savez(tmp_path / "no.npz", **npz_members(graph, signed=np.array([False])))
    with pytest.raises(GraphFormatError, match=rf"no\.npz: weights\[1\] .*{HINT}$"):
        graph_io.load(tmp_path / "no.npz", mmap=mmap)
    assert graph_io.load(tmp_path / "no.npz", mmap=mmap, signed=True).signed


@pytest.mark.parametrize(
    "flag, message",
    [
        (np.array([1], np.uint8), r"array 'signed' has dtype \|u1"),
        (np.array([True, True]), r"array 'signed' holds the bytes \[1, 1\]"),
        (np.array([], np.bool_), r"array 'signed' holds the bytes \[\]"),
        (
            np.array([2], np.uint8).view(np.bool_),
            r"array 'signed' holds the bytes \[2\]",
        ),
    ],
)
def test_npz_with_a_bad_flag_is_refused(tmp_path, flag, message):
    graph = Graph.from_edges([0, 1], [1, 0], [2.0, 1.0])
    np.savez(tmp_path / "bad.npz", **npz_members(graph, signed=flag))
    with pytest.raises(GraphFormatError, match=rf"bad\.npz: {message}"):
        graph_io.load(tmp_path / "bad.npz")


def msgpack_document(graph, **changes):
    document = {
        "format": "engram-actors graph",
        "version": 1,
        "num_nodes": graph.num_nodes,
        "num_edges": graph.num_edges,
        "indptr": graph.indptr.tobytes(),
        "indices": graph.indices.tobytes(),
        "weights": graph.weights.tobytes(),
    }
    document.update(changes)
    return msgpack.packb(document, use_bin_type=True)


def test_msgpack_with_negative_weights_and_no_flag_is_refused(tmp_path):
    graph = Graph.from_edges([0, 1], [1, 0], [2.0, -0.5], signed=True)
    path = write_bytes(tmp_path, "old.msgpack", msgpack_document(graph))
    with pytest.raises(
        GraphFormatError,
        match=r"old\.msgpack: weights\[1\] is -0\.5; association weights must be "
        rf"finite and >= 0; {HINT}$",
    ):
        graph_io.load(path)
    assert same_graph(graph, graph_io.load(path, signed=True))
    path = write_bytes(tmp_path, "no.msgpack", msgpack_document(graph, signed=False))
    with pytest.raises(GraphFormatError, match=rf"weights\[1\] is -0\.5; .*{HINT}$"):
        graph_io.load(path)
    path = write_bytes(tmp_path, "yes.msgpack", msgpack_document(graph, signed=True))
    assert same_graph(graph, graph_io.load(path))


@pytest.mark.parametrize(
    "flag, kind", [(1, "int"), ("true", "str"), (None, "NoneType"), (1.0, "float")]
)
def test_msgpack_flag_must_be_a_bool(tmp_path, flag, kind):
    graph = Graph.from_edges([0, 1], [1, 0], [2.0, 1.0])
    path = write_bytes(tmp_path, "bad.msgpack", msgpack_document(graph, signed=flag))
    with pytest.raises(
        GraphFormatError,
        match=rf"bad\.msgpack: key 'signed' holds a {kind}; expected bool",
    ):
        graph_io.load(path)


@pytest.mark.parametrize("fmt", graph_io.FORMATS)
def test_loaders_check_the_signed_argument(tmp_path, fmt):
    path = tmp_path / f"g{SUFFIX[fmt]}"
    graph_io.save(Graph.from_edges([0], [1]), path)
    with pytest.raises(GraphError, match="signed must be True or False, got 1"):
        graph_io.load(path, signed=1)


# -- properties ----------------------------------------------------------------

label_text = st.text(
    st.characters(
        blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp"),
        blacklist_characters=",#",
    ),
    min_size=1,
    max_size=6,
)


@st.composite
def signed_graphs(draw):
    n = draw(st.integers(1, 9))
    m = draw(st.integers(0, 25))
    ends = st.lists(st.integers(0, n - 1), min_size=m, max_size=m)
    # Capped so that merged duplicates cannot sum past float32's range.
    weight = st.floats(-(2.0**122), 2.0**122, width=32)
    weights = st.lists(weight, min_size=m, max_size=m)
    labels = None
    if draw(st.booleans()):
        labels = draw(st.lists(label_text, min_size=n, max_size=n, unique=True))
    return Graph.from_edges(
        draw(ends),
        draw(ends),
        draw(weights),
        num_nodes=n,
        labels=labels,
        duplicates=draw(st.sampled_from(["sum", "max", "keep"])),
        signed=True,
    )


@settings(max_examples=60, deadline=None)
@given(graph=signed_graphs())
def test_random_signed_graphs_round_trip(tmp_path_factory, graph):
    folder = tmp_path_factory.mktemp("signed")
    for fmt in graph_io.FORMATS:
        assert same_graph(graph, save_and_load(graph, folder, fmt, signed=True))
    for fmt in ("npz", "msgpack"):
        assert same_graph(graph, save_and_load(graph, folder, fmt))
    assert same_graph(graph, save_and_load(graph, folder, "npz", mmap=True))
    if graph.has_negative_weights:
        with pytest.raises(GraphFormatError, match=HINT):
            save_and_load(graph, folder, "edgelist")


edge_text = st.text(st.sampled_from("0123456789 \t,#\n\r.-+eE_abé"), max_size=120)


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(text=edge_text)
def test_random_edge_text_loads_signed_or_raises_format_error(tmp_path, text):
    path = tmp_path / "fuzz.txt"
    path.write_text(text, encoding="utf-8")
    try:
        graph = graph_io.load(path, signed=True)
    except GraphFormatError:
        return
    assert graph.signed is True
    assert np.isfinite(graph.weights).all()


def test_open_graph_passes_signed_on(tmp_path):
    from engram_actors.sources import open_graph

    graph = signed_graph()
    graph_io.save(graph, tmp_path / "g.txt")
    with pytest.raises(GraphFormatError, match=HINT):
        open_graph(str(tmp_path / "g.txt"))
    assert same_graph(graph, open_graph(str(tmp_path / "g.txt"), signed=True))
    assert open_graph("random:50:seed=1").signed is False
