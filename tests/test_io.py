"""Saving and loading graphs: exact round trips, atomic saves, bad input."""

import os
import struct
import types
import zipfile

import msgpack
import numpy as np
import psutil
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engram_actors import Graph, GraphError, GraphFormatError
from engram_actors import io as graph_io

SUFFIX = {"npz": ".npz", "edgelist": ".txt", "msgpack": ".msgpack"}

# Weights that exercise the text format: shortest forms, carries, the
# float32 extremes, a subnormal, and values where nine digits are needed.
AWKWARD_WEIGHTS = [
    0.0,
    0.1,
    0.5,
    1.0,
    3e-7,
    1e-5,
    1e-4,
    123456792.0,
    1e16,
    3.4028235e38,
    1.4e-45,
    1.1754944e-38,
    0.3,
    2.0 / 3.0,
]


def same_graph(a, b):
    """True when both graphs have bit-identical arrays and equal labels."""
    return (
        a.indptr.dtype == b.indptr.dtype
        and a.indices.dtype == b.indices.dtype
        and a.weights.dtype == b.weights.dtype
        and a.indptr.tobytes() == b.indptr.tobytes()
        and a.indices.tobytes() == b.indices.tobytes()
        and a.weights.tobytes() == b.weights.tobytes()
        and a.labels == b.labels
    )


def reload(graph, folder, fmt, **kwargs):
    path = folder / f"graph{SUFFIX[fmt]}"
    graph_io.save(graph, path)
    if fmt == "edgelist":
        return graph_io.load_edgelist(path, duplicates="keep", **kwargs)
    return graph_io.load(path, **kwargs)


def sample_graph(labelled=False):
    """Seven nodes; 2 and 6 have no edges at all, 5 only receives."""
    src = [0, 0, 1, 3, 3, 4, 4, 0, 1, 3, 4, 0, 1, 3]
    dst = [1, 5, 0, 3, 4, 5, 1, 3, 4, 0, 0, 4, 5, 1]
    labels = ["coffee", "café", "first-date", "rain", "München", "x", "日本"]
    return Graph.from_edges(
        src,
        dst,
        AWKWARD_WEIGHTS,
        num_nodes=7,
        labels=labels if labelled else None,
    )


# -- round trips -----------------------------------------------------------


@pytest.mark.parametrize("labelled", [False, True])
@pytest.mark.parametrize("fmt", graph_io.FORMATS)
def test_round_trip_is_exact(tmp_path, fmt, labelled):
    graph = sample_graph(labelled)
    back = reload(graph, tmp_path, fmt)
    assert same_graph(graph, back)
    assert back.num_nodes == 7
    assert back.out_degree[2] == 0 and back.out_degree[6] == 0


@pytest.mark.parametrize("fmt", graph_io.FORMATS)
def test_parallel_edges_survive(tmp_path, fmt):
    graph = Graph.from_edges(
        [0, 0, 0, 1], [1, 1, 1, 0], [0.5, 0.25, 0.125, 1.0], duplicates="keep"
    )
    back = reload(graph, tmp_path, fmt)
    assert same_graph(graph, back)
    assert back.num_edges == 4


def test_edgelist_merges_repeated_edges_by_default(tmp_path):
    graph = Graph.from_edges([0, 0], [1, 1], [0.5, 0.25], duplicates="keep")
    graph_io.save(graph, tmp_path / "g.txt")
    merged = graph_io.load(tmp_path / "g.txt")
    assert merged.num_edges == 1 and merged.weights.tolist() == [0.75]


@pytest.mark.parametrize("fmt", graph_io.FORMATS)
def test_single_isolated_node(tmp_path, fmt):
    graph = Graph.from_edges([], [], num_nodes=1)
    assert same_graph(graph, reload(graph, tmp_path, fmt))


def test_numeric_labels_stay_labels(tmp_path):
    # Labels that look like ids, even negative ones, come back as labels
    # because the file declares every node by label.
    graph = Graph.from_edges([0, 1], [1, 2], labels=["10", "-3", "7"])
    assert same_graph(graph, reload(graph, tmp_path, "edgelist"))


def test_negative_zero_weight_round_trips(tmp_path):
    graph = Graph.from_edges([0], [1], np.float32([-0.0]))
    back = reload(graph, tmp_path, "edgelist")
    assert back.weights.tobytes() == graph.weights.tobytes()


def test_every_float32_weight_reads_back_exactly(tmp_path):
    rng = np.random.default_rng(7)
    bits = rng.integers(0, 0x7F800000, 50_000, dtype=np.uint32)
    weights = np.sort(bits).view(np.float32)
    n = weights.size
    graph = Graph.from_edges(np.zeros(n, np.int64), np.arange(n), weights)
    back = reload(graph, tmp_path, "edgelist")
    assert back.weights.tobytes() == graph.weights.tobytes()


def test_weights_are_written_short(tmp_path):
    graph = Graph.from_edges([0, 0, 0, 0], [1, 2, 3, 4], [0.1, 1.0, 3e-7, 1e20])
    graph_io.save(graph, tmp_path / "g.txt")
    lines = (tmp_path / "g.txt").read_text().splitlines()
    assert lines[:2] == ["# engram-actors edge list: src dst weight", "# nodes: 5"]
    assert lines[2:] == ["0 1 0.1", "0 2 1", "0 3 3e-07", "0 4 1e+20"]


def test_npz_is_plain_numpy_and_reproducible(tmp_path):
    graph = sample_graph(labelled=True)
    graph_io.save(graph, tmp_path / "g.npz")
    graph_io.save(graph, tmp_path / "again.npz")
    assert (tmp_path / "g.npz").read_bytes() == (tmp_path / "again.npz").read_bytes()
    with np.load(tmp_path / "g.npz", allow_pickle=False) as archive:
        assert archive["indices"].tobytes() == graph.indices.tobytes()
        assert archive["version"].tolist() == [1]
        offsets = archive["label_offsets"]
        blob = archive["label_bytes"].tobytes()
        assert blob[offsets[1] : offsets[2]].decode() == "café"


@pytest.mark.parametrize("fmt", graph_io.FORMATS)
def test_format_argument_overrides_suffix(tmp_path, fmt):
    graph = sample_graph()
    path = tmp_path / "graph.bin"
    graph_io.save(graph, path, format=fmt)
    if fmt == "edgelist":
        back = graph_io.load_edgelist(path, duplicates="keep")
    else:
        back = graph_io.load(path, format=fmt)
    assert same_graph(graph, back)


# -- memory mapping ----------------------------------------------------------


def test_mmap_maps_read_only_arrays(tmp_path):
    graph = sample_graph(labelled=True)
    graph_io.save(graph, tmp_path / "g.npz")
    mapped = graph_io.load(tmp_path / "g.npz", mmap=True)
    assert same_graph(graph, mapped)
    for array in (mapped.indptr, mapped.indices, mapped.weights):
        assert isinstance(array.base, np.memmap)
        assert array.base.offset % 64 == 0
        assert array.flags.aligned and not array.flags.writeable
        with pytest.raises(ValueError):
            array[0] = 1


def test_mmap_reads_what_it_cannot_map(tmp_path):
    graph = sample_graph()
    arrays = {
        "format": np.frombuffer(b"engram-actors graph", np.uint8),
        "version": np.array([1], np.int64),
        "indptr": graph.indptr,
        "indices": graph.indices,
        "weights": graph.weights,
    }
    np.savez_compressed(tmp_path / "packed.npz", **arrays)
    np.savez(tmp_path / "plain.npz", **arrays)
    for name in ("packed.npz", "plain.npz"):
        assert same_graph(graph, graph_io.load(tmp_path / name, mmap=True))


def test_mmap_still_checks_the_graph(tmp_path):
    graph = Graph.from_edges([0, 1], [1, 0])
    graph_io.save(graph, tmp_path / "g.npz")
    raw = bytearray((tmp_path / "g.npz").read_bytes())
    # The first edge's destination: after the member's name in its local
    # header comes the .npy magic, a 2-byte header length, the header, data.
    magic = raw.index(b"\x93NUMPY", raw.index(b"indices.npy"))
    at = magic + 10 + struct.unpack("<H", raw[magic + 8 : magic + 10])[0]
    raw[at : at + 4] = np.int32(9).tobytes()
    (tmp_path / "g.npz").write_bytes(bytes(raw))
    with pytest.raises(GraphFormatError, match=r"g\.npz: indices\[0\] is 9"):
        graph_io.load(tmp_path / "g.npz", mmap=True)
    with pytest.raises(GraphFormatError, match="Bad CRC"):
        graph_io.load(tmp_path / "g.npz")


def test_mmap_needs_npz(tmp_path):
    graph_io.save(sample_graph(), tmp_path / "g.txt")
    with pytest.raises(GraphError, match="mmap=True needs the npz format"):
        graph_io.load(tmp_path / "g.txt", mmap=True)


# -- atomic saves ----------------------------------------------------------

# A step each writer takes part-way through, after bytes are on disk, by the
# module that looks it up.
MID_WRITE_STEP = {
    "npz": (graph_io.npz, "_write_npz_member"),
    "edgelist": (graph_io.edgelist, "_format_edge_lines"),
    "msgpack": (graph_io.msgpack_format, "_write_msgpack_bin"),
}


@pytest.mark.parametrize("fmt", graph_io.FORMATS)
def test_failed_save_leaves_old_file_and_no_temp(tmp_path, monkeypatch, fmt):
    path = tmp_path / f"graph{SUFFIX[fmt]}"
    graph_io.save(Graph.from_edges([0], [1]), path)
    before = path.read_bytes()
    module, name = MID_WRITE_STEP[fmt]
    real_step = getattr(module, name)
    calls = []

    def failing_step(*args):
        calls.append(1)
        if len(calls) == 2 or fmt == "edgelist":
            raise OSError("disk full")
        return real_step(*args)

    monkeypatch.setattr(module, name, failing_step)
    with pytest.raises(OSError, match="disk full"):
        graph_io.save(sample_graph(labelled=fmt != "edgelist"), path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == [path.name]


def test_unwritable_label_is_refused_before_writing(tmp_path):
    graph = Graph.from_edges([0], [1], labels=["fine", "first date"])
    with pytest.raises(GraphError, match=r"node 1 has label 'first date'"):
        graph_io.save(graph, tmp_path / "g.txt")
    assert os.listdir(tmp_path) == []


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
def graphs(draw):
    n = draw(st.integers(1, 9))
    m = draw(st.integers(0, 25))
    ends = st.lists(st.integers(0, n - 1), min_size=m, max_size=m)
    # Capped so that merged duplicates cannot sum past float32's range.
    weights = st.lists(st.floats(0, 2.0**122, width=32), min_size=m, max_size=m)
    labels = None
    if draw(st.booleans()):
        labels = draw(st.lists(label_text, min_size=n, max_size=n, unique=True))
    return Graph.from_edges(
        draw(ends),
        draw(ends),
        draw(weights),
        num_nodes=n,
        labels=labels,
        duplicates=draw(st.sampled_from(["sum", "keep"])),
    )


@settings(max_examples=60, deadline=None)
@given(graph=graphs())
def test_random_graphs_round_trip(tmp_path_factory, graph):
    folder = tmp_path_factory.mktemp("prop")
    for fmt in graph_io.FORMATS:
        assert same_graph(graph, reload(graph, folder, fmt))
    assert same_graph(graph, reload(graph, folder, "npz", mmap=True))


def loads_or_refuses(path, loader):
    try:
        graph = loader(path)
    except GraphFormatError:
        return
    assert isinstance(graph, Graph)


LOADERS = {
    "npz": graph_io.load_npz,
    "npz-mmap": lambda path: graph_io.load_npz(path, mmap=True),
    "edgelist": graph_io.load_edgelist,
    "msgpack": graph_io.load_msgpack,
}
FUZZ = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@FUZZ
@given(data=st.binary(max_size=400))
@pytest.mark.parametrize("kind", LOADERS)
def test_random_bytes_load_or_raise_format_error(tmp_path, kind, data):
    path = tmp_path / "fuzz"
    path.write_bytes(data)
    loads_or_refuses(path, LOADERS[kind])


edge_text = st.text(st.sampled_from("0123456789 \t,#\n\r.-+eE_abé"), max_size=120)


@FUZZ
@given(text=edge_text)
def test_random_edge_text_loads_or_raises_format_error(tmp_path, text):
    path = tmp_path / "fuzz.txt"
    path.write_text(text, encoding="utf-8")
    loads_or_refuses(path, graph_io.load_edgelist)


@FUZZ
@given(data=st.data())
@pytest.mark.parametrize("kind", LOADERS)
def test_damaged_files_load_or_raise_format_error(tmp_path, kind, data):
    fmt = "npz" if kind.startswith("npz") else kind
    path = tmp_path / f"g{SUFFIX[fmt]}"
    graph_io.save(sample_graph(labelled=data.draw(st.booleans())), path)
    raw = bytearray(path.read_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(raw) - 1))
        raw[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(1, len(raw)))
    path.write_bytes(bytes(raw[:cut]))
    loads_or_refuses(path, LOADERS[kind])


# -- bad edge lists --------------------------------------------------------------


def write_text(tmp_path, text, name="bad.txt"):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


@pytest.mark.parametrize(
    "text, line, field, message",
    [
        ("0 1\n2\n", 2, None, r"expected 2 or 3 fields .*found 1"),
        ("0 1 0.5 7\n", 1, None, r"expected 2 or 3 fields .*found 4"),
        ("0 1\n1 2 heavy\n", 2, "weight", r"weight 'heavy' is not a number"),
        ("0 1 NaN\n", 1, "weight", r"is NaN"),
        ("# c\n0 1 inf\n", 2, "weight", r"is infinite"),
        ("0 1 -0.5\n", 1, "weight", r"weight -0.5 is negative"),
        ("0 1 1e39\n", 1, "weight", r"weight 1e39 overflows float32"),
        ("0 1\n1 0 -1e-30\n", 2, "weight", r"weight -1e-30 is negative"),
        ("0 1 1e400\n", 1, "weight", r"weight 1e400 overflows float32"),
        ("0 1\n-3 1\n", 2, "src", r"node id -3 is negative"),
        ("0 2147483648\n", 1, "dst", r"node id 2147483648 does not fit in 32 bits"),
        ("0 2147483647\n", 1, "dst", r"does not fit in 32 bits"),
        ("0,,1\n", 1, "dst", r"field is empty"),
        ("# nodes: 2\n0 5\n", 2, "dst", r"node id 5 is out of range"),
        ("# nodes: lots\n", 1, "nodes", r"node count 'lots' is not an integer"),
        ("# nodes: 3\n# nodes: 4\n", 2, "nodes", r"contradicts the 3 declared"),
        ("# node: a b\n", 1, "node", r"declared label 'a b'"),
    ],
)
def test_bad_edge_list_names_line_and_field(tmp_path, text, line, field, message):
    path = write_text(tmp_path, text)
    where = rf"bad\.txt, line {line}" + (f", field {field}" if field else "")
    with pytest.raises(GraphFormatError, match=rf"{where}: .*{message}") as caught:
        graph_io.load(path)
    assert caught.value.line == line and caught.value.field == field


def test_invalid_utf8_names_the_line(tmp_path):
    path = write_text(tmp_path, b"0 1\n# caf\xe9\n1 0\n")
    with pytest.raises(GraphFormatError, match=r"line 2: not valid UTF-8"):
        graph_io.load(path)


@pytest.mark.parametrize("text", ["", "# only a comment\n\n   \n"])
def test_empty_file_has_no_nodes(tmp_path, text):
    with pytest.raises(GraphFormatError, match=r"bad\.txt: no nodes"):
        graph_io.load(write_text(tmp_path, text))


def test_node_count_header_keeps_nodes_without_edges(tmp_path):
    graph = graph_io.load(write_text(tmp_path, "# nodes: 4\n", "ok.txt"))
    assert graph.num_nodes == 4 and graph.num_edges == 0
    graph = graph_io.load_edgelist(tmp_path / "ok.txt", num_nodes=6)
    assert graph.num_nodes == 6


def test_labelled_count_must_match(tmp_path):
    path = write_text(tmp_path, "# nodes: 3\na b\n")
    with pytest.raises(GraphFormatError, match=r"line 1, field nodes: declares 3"):
        graph_io.load(path)
    with pytest.raises(GraphFormatError, match=r"num_nodes is 5 but the file names 2"):
        graph_io.load_edgelist(write_text(tmp_path, "a b\n"), num_nodes=5)


def pretend_free_memory(monkeypatch, nbytes):
    """Make the loaders see ``nbytes`` of available memory."""
    memory = types.SimpleNamespace(available=nbytes)
    monkeypatch.setattr(psutil, "virtual_memory", lambda: memory)


@pytest.mark.parametrize(
    "text, line, field, claim",
    [
        ("# nodes: 1000000\n0 1\n", 1, "nodes", "declares 1000000 nodes"),
        ("0 1\n999999 2\n", 2, "src", "node id 999999 makes 1000000 nodes"),
    ],
)
def test_node_count_beyond_memory_is_refused(
    tmp_path, monkeypatch, text, line, field, claim
):
    # With 1 MiB free the 24 MB that a million nodes take must be refused;
    # were it not, the load would still only take those 24 MB.
    pretend_free_memory(monkeypatch, 1 << 20)
    with pytest.raises(
        GraphFormatError,
        match=rf"bad\.txt, line {line}, field {field}: {claim}, more than memory "
        r"holds: 24000024 bytes needed, 1048576 bytes available",
    ) as caught:
        graph_io.load(write_text(tmp_path, text))
    assert caught.value.line == line and caught.value.field == field
    graph = graph_io.load(write_text(tmp_path, "# nodes: 40000\n0 1\n", "ok.txt"))
    assert graph.num_nodes == 40000


# -- reading hand-written edge lists ---------------------------------------------


def test_comments_commas_and_default_weight(tmp_path):
    text = "# a comment\n\n0, 1, 0.5  # trailing\n1 ,2\r\n  2\t0\t2e-1\n"
    graph = graph_io.load(write_text(tmp_path, text, "ok.csv"))
    assert graph.indptr.tolist() == [0, 1, 2, 3]
    assert graph.indices.tolist() == [1, 2, 0]
    assert graph.weights.tolist() == pytest.approx([0.5, 1.0, 0.2])


def test_weights_beyond_the_fast_path_round_correctly(tmp_path):
    tokens = ["0.1000000000000000055511151231257827", "1e-30", "2.5E+30", "7"]
    text = "".join(f"0 {i + 1} {token}\n" for i, token in enumerate(tokens))
    graph = graph_io.load(write_text(tmp_path, text, "ok.txt"))
    assert graph.weights.tolist() == np.float32([float(t) for t in tokens]).tolist()


def test_labels_in_order_of_first_appearance(tmp_path):
    text = "coffee cafe 0.5\nrain coffee\n-1 rain\n"
    graph = graph_io.load(write_text(tmp_path, text, "ok.txt"))
    assert graph.labels == ("coffee", "cafe", "rain", "-1")
    assert graph.neighbors("rain")[0].tolist() == [0]


def test_explicit_delimiter_allows_spaces_in_labels(tmp_path):
    text = "first date\tcoffee\t0.5\n coffee \train\n"
    path = write_text(tmp_path, text, "ok.tsv")
    graph = graph_io.load_edgelist(path, delimiter="\t")
    assert graph.labels == ("first date", "coffee", "rain")
    with pytest.raises(GraphError, match="delimiter is '##'"):
        graph_io.load_edgelist(path, delimiter="##")


# -- bad npz files ---------------------------------------------------------------


def npz_arrays(graph):
    return {
        "format": np.frombuffer(b"engram-actors graph", np.uint8),
        "version": np.array([1], np.int64),
        "indptr": graph.indptr,
        "indices": graph.indices,
        "weights": graph.weights,
    }


@pytest.mark.parametrize(
    "change, message",
    [
        ({"indices": np.array([1, 2, 0], np.int64)}, r"array 'indices' has dtype <i8"),
        ({"weights": np.ones(3)}, r"array 'weights' has dtype <f8"),
        ({"indptr": np.array([0, 2, 1, 3])}, r"indptr decreases at position 2"),
        ({"weights": None}, r"array 'weights' is missing"),
        ({"version": np.array([2])}, r"array 'version' is \[2\]"),
        ({"format": np.frombuffer(b"other", np.uint8)}, r"not an engram-actors"),
        ({"extra": np.zeros(1)}, r"unexpected member 'extra.npy'"),
        ({"label_offsets": np.zeros(4, np.int64)}, r"'label_bytes' is missing"),
    ],
)
@pytest.mark.parametrize("mmap", [False, True])
def test_bad_npz_names_the_array(tmp_path, change, message, mmap):
    arrays = npz_arrays(Graph.from_edges([0, 1, 2], [1, 2, 0]))
    arrays.update(change)
    arrays = {key: value for key, value in arrays.items() if value is not None}
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(GraphFormatError, match=rf"bad\.npz: .*{message}"):
        graph_io.load(tmp_path / "bad.npz", mmap=mmap)


def test_npz_refuses_pickled_objects(tmp_path):
    arrays = npz_arrays(Graph.from_edges([0], [1]))
    arrays["weights"] = np.array([1.0], dtype=object)
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(GraphFormatError, match=r"array 'weights' has dtype \|O"):
        graph_io.load(tmp_path / "bad.npz")


@pytest.mark.parametrize("mmap", [False, True])
def test_truncated_npz(tmp_path, mmap):
    graph_io.save(sample_graph(), tmp_path / "g.npz")
    raw = (tmp_path / "g.npz").read_bytes()
    (tmp_path / "g.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(GraphFormatError, match=r"g\.npz: not a readable npz archive"):
        graph_io.load(tmp_path / "g.npz", mmap=mmap)


def test_npz_with_bad_label_bytes(tmp_path):
    graph = Graph.from_edges([0], [1], labels=["a", "b"])
    arrays = npz_arrays(graph)
    arrays["label_bytes"] = np.frombuffer(b"a\xff", np.uint8)
    arrays["label_offsets"] = np.array([0, 1, 2], np.int64)
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(GraphFormatError, match=r"label of node 1 is not UTF-8"):
        graph_io.load(tmp_path / "bad.npz")


@pytest.mark.parametrize("savez", [np.savez, np.savez_compressed])
def test_npz_array_beyond_memory_is_refused(tmp_path, monkeypatch, savez):
    graph = Graph.from_edges(np.arange(999), np.arange(1, 1000))
    savez(tmp_path / "big.npz", **npz_arrays(graph))
    graph_io.save(sample_graph(), tmp_path / "small.npz")
    pretend_free_memory(monkeypatch, 4096)
    with pytest.raises(
        GraphFormatError,
        match=r"big\.npz: array 'indptr' declares 1001 values of 8 bytes, more "
        r"than memory holds: 8008 bytes needed, 4096 bytes available",
    ):
        graph_io.load(tmp_path / "big.npz")
    assert same_graph(sample_graph(), graph_io.load(tmp_path / "small.npz"))


# -- bad msgpack files -------------------------------------------------------------


def msgpack_document(graph):
    return {
        "format": "engram-actors graph",
        "version": 1,
        "num_nodes": graph.num_nodes,
        "num_edges": graph.num_edges,
        "indptr": graph.indptr.tobytes(),
        "indices": graph.indices.tobytes(),
        "weights": graph.weights.tobytes(),
    }


@pytest.mark.parametrize(
    "change, message",
    [
        ({"indptr": [0, 1, 2]}, r"key 'indptr' holds a list; expected bytes"),
        ({"num_nodes": "2"}, r"key 'num_nodes' holds a str; expected int"),
        ({"num_edges": True}, r"key 'num_edges' holds a bool"),
        ({"weights": b"\x00" * 7}, r"key 'weights' holds 7 bytes"),
        ({"num_nodes": 0}, r"key 'num_nodes' is 0"),
        ({"version": 9}, r"key 'version' is 9"),
        ({"labels": ["a", 5]}, r"key 'labels': entry 1 is a int"),
        ({"labels": ["a"]}, r"key 'labels' has 1 entries for 2 nodes"),
        ({"indptr": np.int64([0, 1, 0]).tobytes()}, r"indptr decreases"),
        ({"indices": np.int32([7]).tobytes()}, r"indices\[0\] is 7"),
        ({"colour": "red"}, r"unexpected key 'colour'"),
    ],
)
def test_bad_msgpack_names_the_key(tmp_path, change, message):
    document = msgpack_document(Graph.from_edges([0], [1]))
    document.update(change)
    path = tmp_path / "bad.msgpack"
    path.write_bytes(msgpack.packb(document, use_bin_type=True))
    with pytest.raises(GraphFormatError, match=rf"bad\.msgpack: {message}"):
        graph_io.load(path)


def test_truncated_msgpack(tmp_path):
    graph_io.save(sample_graph(), tmp_path / "g.msgpack")
    raw = (tmp_path / "g.msgpack").read_bytes()
    (tmp_path / "g.msgpack").write_bytes(raw[:-5])
    with pytest.raises(GraphFormatError, match=r"g\.msgpack: not readable msgpack"):
        graph_io.load(tmp_path / "g.msgpack")


def test_msgpack_huge_declared_length_is_refused(tmp_path):
    # A one-entry map whose bin value claims 2 GiB but holds four bytes.
    raw = b"\x81" + msgpack.packb("indptr") + struct.pack(">BI", 0xC6, 2**31)
    (tmp_path / "huge.msgpack").write_bytes(raw + b"\x00" * 4)
    with pytest.raises(GraphFormatError, match=r"huge\.msgpack: not readable"):
        graph_io.load(tmp_path / "huge.msgpack")


def test_msgpack_top_level_must_be_a_map(tmp_path):
    (tmp_path / "list.mpk").write_bytes(msgpack.packb([1, 2]))
    with pytest.raises(GraphFormatError, match=r"top level is a list"):
        graph_io.load(tmp_path / "list.mpk")


# -- choosing a format -------------------------------------------------------------


@pytest.mark.parametrize("name", ["graph.json", "graph"])
def test_unknown_suffix_lists_the_allowed_ones(tmp_path, name):
    with pytest.raises(GraphFormatError, match=r"cannot tell the format .*\.npz"):
        graph_io.load(tmp_path / name)
    with pytest.raises(GraphFormatError, match=r"\.json|no suffix"):
        graph_io.save(sample_graph(), tmp_path / name)


def test_unknown_format_name(tmp_path):
    with pytest.raises(GraphFormatError, match=r"unknown format 'csv'"):
        graph_io.save(sample_graph(), tmp_path / "g.npz", format="csv")


def test_missing_file_is_not_a_format_error(tmp_path):
    for name in ("g.npz", "g.txt", "g.msgpack"):
        with pytest.raises(FileNotFoundError):
            graph_io.load(tmp_path / name)


def test_zip_that_is_not_a_graph(tmp_path):
    with zipfile.ZipFile(tmp_path / "other.npz", "w") as archive:
        archive.writestr("notes.txt", "hello")
    with pytest.raises(GraphFormatError, match=r"unexpected member 'notes.txt'"):
        graph_io.load(tmp_path / "other.npz")


def _npz_bytes_with(tmp_path, mutate):
    """Save a small graph as npz, rewrite one member with ``mutate``."""
    graph = Graph.from_edges([0, 1], [1, 0], [0.5, 1.0])
    source = tmp_path / "ok.npz"
    graph_io.save(graph, source)
    target = tmp_path / "bad.npz"
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            data = old.read(info)
            name, data, method = mutate(info.filename, data)
            new.writestr(name, data, compress_type=method)
    return target


@pytest.mark.parametrize("mmap", [False, True])
def test_npz_with_bzip2_members_is_refused(tmp_path, mmap):
    path = _npz_bytes_with(tmp_path, lambda name, data: (name, data, zipfile.ZIP_BZIP2))
    with pytest.raises(GraphFormatError, match="compression method 12"):
        graph_io.load(path, mmap=mmap)


@pytest.mark.parametrize("mmap", [False, True])
def test_npz_header_claiming_gigabytes_is_refused_before_reading(tmp_path, mmap):
    def huge_header(name, data):
        if name == "indptr.npy":
            data = b"\x93NUMPY\x02\x00" + struct.pack("<I", 2**32 - 1) + data[10:]
        return name, data, zipfile.ZIP_STORED

    path = _npz_bytes_with(tmp_path, huge_header)
    with pytest.raises(GraphFormatError, match="4294967295-byte .npy header"):
        graph_io.load(path, mmap=mmap)
