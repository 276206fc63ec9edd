"""Bad input at every door: graph files, command lines and cues.

Three kinds of test, one per door:

- ``CORPUS``: hand-made malformed files for each loader, each with what a
  load must do with it (refuse with a message naming the file and what is
  wrong, or load with a stated meaning). ``len(CORPUS)`` is its size.
- Hypothesis fuzzing of the loaders (random bytes, and valid files with
  bytes flipped, inserted or deleted), of ``cli.main`` argument lists and
  of cues given to ``reference.spread``. Loading runs in this process, so
  an interpreter crash would take pytest down with it.

``tests/test_io.py`` holds the cases each format's own tests need; this
file adds the ones a hostile or careless producer would write.
"""

import io as bytes_io
import re
import warnings
import zipfile
from dataclasses import dataclass

import msgpack
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engram_actors import (
    ConfigError,
    CueError,
    EngramError,
    Graph,
    GraphFormatError,
    UnknownNodeError,
    reference,
)
from engram_actors import io as graph_io
from engram_actors.cli import main

SUFFIX = {"npz": ".npz", "edgelist": ".txt", "msgpack": ".msgpack"}


def small_graph(labelled=False):
    """Three nodes in a ring, weights 0.5, 0.25 and 2."""
    return Graph.from_edges(
        [0, 1, 2],
        [1, 2, 0],
        [0.5, 0.25, 2.0],
        labels=["a", "b", "c"] if labelled else None,
    )


def saved_bytes(folder, fmt, labelled=False):
    path = folder / f"valid{SUFFIX[fmt]}"
    graph_io.save(small_graph(labelled), path)
    return path.read_bytes()


def check_invariants(graph):
    """What every loaded graph must satisfy, whatever the file said."""
    assert isinstance(graph, Graph)
    n, m = graph.num_nodes, graph.num_edges
    assert n >= 1
    assert graph.indptr.dtype == np.int64 and graph.indptr.shape == (n + 1,)
    assert graph.indptr[0] == 0 and graph.indptr[-1] == m
    assert (np.diff(graph.indptr) >= 0).all()
    assert graph.indices.dtype == np.int32 and graph.indices.shape == (m,)
    assert ((graph.indices >= 0) & (graph.indices < n)).all()
    assert graph.weights.dtype == np.float32 and graph.weights.shape == (m,)
    assert (np.isfinite(graph.weights) & (graph.weights >= 0)).all()
    if graph.labels is not None:
        assert len(graph.labels) == n == len(set(graph.labels))
        assert all(isinstance(label, str) and label for label in graph.labels)


def edges_of(graph):
    """The graph as sorted (src, dst, weight) triples."""
    src = np.repeat(np.arange(graph.num_nodes), np.diff(graph.indptr))
    triples = zip(
        src.tolist(), graph.indices.tolist(), graph.weights.tolist(), strict=True
    )
    return sorted(triples)


# -- builders: each returns the bytes of one malformed file ---------------------


def npz_bytes(labelled=False, savez=np.savez, **changes):
    """An npz of ``small_graph`` with members replaced (None: removed)."""
    graph = small_graph(labelled)
    members = {
        "format": np.frombuffer(b"engram-actors graph", np.uint8),
        "version": np.array([1], np.int64),
        "indptr": graph.indptr,
        "indices": graph.indices,
        "weights": graph.weights,
    }
    if labelled:
        members["label_bytes"] = np.frombuffer(b"abc", np.uint8)
        members["label_offsets"] = np.array([0, 1, 2, 3], np.int64)
    members.update(changes)
    buffer = bytes_io.BytesIO()
    savez(buffer, **{k: v for k, v in members.items() if v is not None})
    return buffer.getvalue()


def npz_rewritten(rewrite):
    """An npz whose members pass through ``rewrite(name, data)``, which
    returns a list of (name, data) pairs to write instead."""
    source = zipfile.ZipFile(bytes_io.BytesIO(npz_bytes()))
    buffer = bytes_io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buffer, "w") as target:
        warnings.simplefilter("ignore", UserWarning)  # duplicate names
        for info in source.infolist():
            for name, data in rewrite(info.filename, source.read(info)):
                target.writestr(name, data)
    return buffer.getvalue()


def npy_header_claiming(shape):
    """Rewrite indptr.npy so its header declares ``shape``, data unchanged."""

    def rewrite(name, data):
        if name != "indptr.npy":
            return [(name, data)]
        header = {"descr": "<i8", "fortran_order": False, "shape": shape}
        out = bytes_io.BytesIO()
        np.lib.format.write_array_header_1_0(out, header)
        return [(name, out.getvalue() + np.zeros(4, np.int64).tobytes())]

    return npz_rewritten(rewrite)


def npz_with_npy_version(major):
    def rewrite(name, data):
        if name == "weights.npy":
            data = data[:6] + bytes([major, 0]) + data[8:]
        return [(name, data)]

    return npz_rewritten(rewrite)


def npz_flagged_encrypted():
    """Set the 'encrypted' bit of every central-directory entry."""
    raw = bytearray(npz_bytes())
    at = raw.find(b"PK\x01\x02")
    while at >= 0:
        raw[at + 8] |= 0x1
        at = raw.find(b"PK\x01\x02", at + 4)
    return bytes(raw)


def zip_of(**files):
    buffer = bytes_io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name.replace("__", "."), data)
    return buffer.getvalue()


def msgpack_doc(labelled=False, **changes):
    graph = small_graph(labelled)
    document = {
        "format": "engram-actors graph",
        "version": 1,
        "num_nodes": 3,
        "num_edges": 3,
        "indptr": graph.indptr.tobytes(),
        "indices": graph.indices.tobytes(),
        "weights": graph.weights.tobytes(),
    }
    if labelled:
        document["labels"] = ["a", "b", "c"]
    document.update(changes)
    return msgpack.packb(
        {k: v for k, v in document.items() if v is not Ellipsis},
        use_bin_type=True,
    )


def msgpack_raw_entry(key, raw_value):
    """A valid document's map, one more entry whose value is raw bytes."""
    whole = msgpack.unpackb(msgpack_doc())
    body = b"".join(
        msgpack.packb(k, use_bin_type=True) + msgpack.packb(v, use_bin_type=True)
        for k, v in whole.items()
    )
    header = bytes([0x80 | (len(whole) + 1)])
    return header + body + msgpack.packb(key) + raw_value


def f32(*values):
    return np.array(values, np.float32)


def i64(*values):
    return np.array(values, np.int64)


def i32(*values):
    return np.array(values, np.int32)


# -- expected outcomes ----------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One malformed file: its format, its bytes, and what loading means.

    ``build`` takes a folder (for builders that need a saved valid file)
    and returns bytes. ``refused`` is a regex the message must match after
    the file name (and line and field, where given); ``meaning`` instead
    checks the loaded graph.
    """

    name: str
    fmt: str
    build: object
    refused: str | None = None
    meaning: object = None

    def __str__(self):
        return f"{self.fmt}-{self.name}"


def ring_edges(weights=(0.5, 0.25, 2.0)):
    return [(0, 1, weights[0]), (1, 2, weights[1]), (2, 0, weights[2])]


def is_ring(graph):
    assert edges_of(graph) == ring_edges() and graph.labels is None


def truncations(fmt, labelled, cuts, refused):
    """Valid files of ``fmt`` cut to each length in ``cuts`` (negative:
    from the end)."""
    return [
        Case(
            f"cut{'-labelled' if labelled else ''}@{cut}",
            fmt,
            lambda folder, cut=cut: saved_bytes(folder, fmt, labelled)[:cut],
            refused=refused,
        )
        for cut in cuts
    ]


NPZ_CASES = [
    Case("empty", "npz", lambda _: b"", refused="not a readable npz archive"),
    *truncations("npz", False, [4, 30, 200, 700, -22, -1], "not a readable npz"),
    *truncations("npz", True, [100, -100], "not a readable npz"),
    Case(
        "zip-with-bare-name",
        "npz",
        lambda _: zip_of(indptr=b"x"),
        refused="unexpected member 'indptr'",
    ),
    Case("empty-zip", "npz", lambda _: zip_of(), refused="array 'format' is missing"),
    Case(
        "duplicate-member",
        "npz",
        lambda _: npz_rewritten(
            lambda n, d: [(n, d), (n, d)] if n == "indices.npy" else [(n, d)]
        ),
        refused="member 'indices.npy' appears twice",
    ),
    Case(
        "missing-indptr",
        "npz",
        lambda _: npz_bytes(indptr=None),
        refused="array 'indptr' is missing",
    ),
    Case(
        "missing-format",
        "npz",
        lambda _: npz_bytes(format=None),
        refused="array 'format' is missing",
    ),
    Case(
        "only-label-bytes",
        "npz",
        lambda _: npz_bytes(label_bytes=np.zeros(3, np.uint8)),
        refused="array 'label_bytes' is present but 'label_offsets' is missing",
    ),
    Case(
        "indptr-int32",
        "npz",
        lambda _: npz_bytes(indptr=np.int32([0, 1, 2, 3])),
        refused=r"array 'indptr' has dtype <i4",
    ),
    Case(
        "indptr-uint64",
        "npz",
        lambda _: npz_bytes(indptr=np.uint64([0, 1, 2, 3])),
        refused=r"array 'indptr' has dtype <u8",
    ),
    Case(
        "indptr-big-endian",
        "npz",
        lambda _: npz_bytes(indptr=np.array([0, 1, 2, 3], ">i8")),
        refused=r"array 'indptr' has dtype >i8 .* expected <i8",
    ),
    Case(
        "indices-float32",
        "npz",
        lambda _: npz_bytes(indices=f32(1, 2, 0)),
        refused=r"array 'indices' has dtype <f4",
    ),
    Case(
        "weights-float16",
        "npz",
        lambda _: npz_bytes(weights=np.float16([1, 1, 1])),
        refused=r"array 'weights' has dtype <f2",
    ),
    Case(
        "weights-structured",
        "npz",
        lambda _: npz_bytes(weights=np.zeros(3, [("w", "<f4")])),
        refused=r"array 'weights' has dtype",
    ),
    Case(
        "format-int64",
        "npz",
        lambda _: npz_bytes(format=np.arange(19)),
        refused=r"array 'format' has dtype <i8",
    ),
    Case(
        "version-float",
        "npz",
        lambda _: npz_bytes(version=np.array([1.0])),
        refused=r"array 'version' has dtype <f8",
    ),
    Case(
        "version-two-entries",
        "npz",
        lambda _: npz_bytes(version=i64(1, 1)),
        refused=r"array 'version' is \[1, 1\]",
    ),
    Case(
        "indptr-2d",
        "npz",
        lambda _: npz_bytes(indptr=i64(0, 1, 2, 3)[None]),
        refused=r"array 'indptr' has shape \(1, 4\); expected one dimension",
    ),
    Case(
        "npy-version-3",
        "npz",
        lambda _: npz_with_npy_version(3),
        refused=r"array 'weights' has .npy format version \(3, 0\)",
    ),
    Case(
        "encrypted-flag",
        "npz",
        lambda _: npz_flagged_encrypted(),
        refused=r"array 'format' is encrypted",
    ),
    Case(
        "huge-declared-length",
        "npz",
        lambda _: npy_header_claiming((2**60,)),
        refused=r"array 'indptr'(: 9223372036854775808 data bytes do not fill| "
        r"declares 1152921504606846976 values of 8 bytes, more than memory)",
    ),
    Case(
        "longer-declared-length",
        "npz",
        lambda _: npy_header_claiming((5,)),
        refused=r"array 'indptr'(: 40 data bytes do not fill its| is truncated: "
        r"32 of 40 bytes)",
    ),
    Case(
        "shorter-declared-length",
        "npz",
        lambda _: npy_header_claiming((3,)),
        refused=r"array 'indptr'(: 24 data bytes do not fill its| has bytes after)",
    ),
    Case(
        "no-nodes",
        "npz",
        lambda _: npz_bytes(indptr=i64(0)),
        refused=r"the graph has no nodes",
    ),
    Case(
        "negative-first-offset",
        "npz",
        lambda _: npz_bytes(indptr=i64(-1, 1, 2, 3)),
        refused=r"indptr\[0\] is -1",
    ),
    Case(
        "negative-middle-offset",
        "npz",
        lambda _: npz_bytes(indptr=i64(0, -5, 2, 3)),
        refused=r"indptr decreases at position 1",
    ),
    Case(
        "offsets-past-edges",
        "npz",
        lambda _: npz_bytes(indptr=i64(0, 1, 2, 9)),
        refused=r"indptr ends at 9 but there are 3 edge destinations",
    ),
    Case(
        "huge-offset",
        "npz",
        lambda _: npz_bytes(indptr=i64(0, 1, 2**62, 3)),
        refused=r"indptr decreases at position 3",
    ),
    Case(
        "id-out-of-range",
        "npz",
        lambda _: npz_bytes(indices=i32(1, 3, 0)),
        refused=r"indices\[1\] is 3; node ids must be in \[0, 3\)",
    ),
    Case(
        "negative-id",
        "npz",
        lambda _: npz_bytes(indices=i32(1, -2, 0)),
        refused=r"indices\[1\] is -2",
    ),
    Case(
        "weights-short",
        "npz",
        lambda _: npz_bytes(weights=f32(1, 1)),
        refused=r"2 weights for 3 edges",
    ),
    Case(
        "nan-weight",
        "npz",
        lambda _: npz_bytes(weights=f32(1, np.nan, 1)),
        refused=r"weights\[1\] is nan; association weights must be finite",
    ),
    Case(
        "inf-weight",
        "npz",
        lambda _: npz_bytes(weights=f32(1, 1, np.inf)),
        refused=r"weights\[2\] is inf",
    ),
    Case(
        "negative-weight",
        "npz",
        lambda _: npz_bytes(weights=f32(-1e-30, 1, 1)),
        refused=r"weights\[0\] is -1\.0000000031710769e-30",
    ),
    Case(
        "negative-zero-weight",
        "npz",
        lambda _: npz_bytes(weights=f32(-0.0, 1, 1)),
        meaning=lambda g: edges_of(g) == ring_edges((0.0, 1.0, 1.0)),
    ),
    Case(
        "deflated",
        "npz",
        lambda _: npz_bytes(savez=np.savez_compressed),
        meaning=is_ring,
    ),
    Case(
        "label-offsets-short",
        "npz",
        lambda _: npz_bytes(True, label_offsets=i64(0, 1, 3)),
        refused=r"array 'label_offsets' has 3 entries; the graph has 3 nodes",
    ),
    Case(
        "label-offsets-falling",
        "npz",
        lambda _: npz_bytes(True, label_offsets=i64(0, 2, 1, 3)),
        refused=r"array 'label_offsets' must rise from 0 to the length of 'label_",
    ),
    Case(
        "label-offsets-negative",
        "npz",
        lambda _: npz_bytes(True, label_offsets=i64(-1, 1, 2, 3)),
        refused=r"array 'label_offsets' must rise from 0",
    ),
    Case(
        "label-offsets-past-bytes",
        "npz",
        lambda _: npz_bytes(True, label_offsets=i64(0, 1, 2, 2**40)),
        refused=r"array 'label_offsets' must rise from 0 to the length .* \(3\)",
    ),
    Case(
        "label-offsets-int32",
        "npz",
        lambda _: npz_bytes(True, label_offsets=i32(0, 1, 2, 3)),
        refused=r"array 'label_offsets' has dtype <i4",
    ),
    Case(
        "label-overlong-utf8",
        "npz",
        lambda _: npz_bytes(
            True,
            label_bytes=np.frombuffer(b"a\xc0\xafc", np.uint8),
            label_offsets=i64(0, 1, 3, 4),
        ),
        refused=r"array 'label_bytes': label of node 1 is not UTF-8",
    ),
    Case(
        "label-surrogate-utf8",
        "npz",
        lambda _: npz_bytes(
            True,
            label_bytes=np.frombuffer(b"ab\xed\xa0\x80", np.uint8),
            label_offsets=i64(0, 1, 2, 5),
        ),
        refused=r"array 'label_bytes': label of node 2 is not UTF-8",
    ),
    Case(
        "labels-duplicated",
        "npz",
        lambda _: npz_bytes(True, label_bytes=np.frombuffer(b"aba", np.uint8)),
        refused=r"label 'a' of node 2 is not unique",
    ),
    Case(
        "label-empty",
        "npz",
        lambda _: npz_bytes(True, label_offsets=i64(0, 0, 2, 3)),
        refused=r"label of node 0 is empty",
    ),
]

# Cutting a text file at a line end leaves a shorter valid file; the
# meaning of each cut below is the edges whose lines survive whole.
EDGE_TEXT = b"# nodes: 3\n0 1 0.5\n1 2 0.25\n2 0 2\n"


def edge_cut(cut, expected_edges):
    def meaning(graph):
        assert graph.num_nodes == 3 and edges_of(graph) == expected_edges

    return Case(f"cut@{cut}", "edgelist", lambda _: EDGE_TEXT[:cut], meaning=meaning)


def labelled_as(*labels, edges=None):
    def meaning(graph):
        assert graph.labels == labels
        if edges is not None:
            assert edges_of(graph) == edges

    return meaning


EDGELIST_CASES = [
    edge_cut(11, []),  # just the header
    edge_cut(19, ring_edges()[:1]),
    edge_cut(24, [(0, 1, 0.5), (1, 2, 0.0)]),
    edge_cut(25, [(0, 1, 0.5), (1, 2, 0.0)]),  # "1 2 0." reads as 0
    edge_cut(26, [(0, 1, 0.5), (1, 2, 0.20000000298023224)]),
    edge_cut(len(EDGE_TEXT) - 1, ring_edges()),
    Case(
        "cut-inside-header",
        "edgelist",
        lambda _: EDGE_TEXT[:4],
        refused=r"no nodes: the file has no edges",
    ),
    Case(
        "cut-before-weight",
        "edgelist",
        lambda _: EDGE_TEXT[:22],
        meaning=lambda g: edges_of(g) == [(0, 1, 0.5), (1, 2, 1.0)],
    ),
    Case("bom-only", "edgelist", lambda _: b"\xef\xbb\xbf", refused=r"no nodes"),
    Case(
        "utf8-in-label",
        "edgelist",
        lambda _: b"caf\xc3 tea\n",
        refused=r", line 1: not valid UTF-8: byte 0xc3 at column 4",
    ),
    Case(
        "overlong-utf8",
        "edgelist",
        lambda _: b"0 1\n\xc0\xaf 1\n",
        refused=r", line 2: not valid UTF-8: byte 0xc0 at column 1",
    ),
    Case(
        "surrogate-utf8",
        "edgelist",
        lambda _: b"a b\nb \xed\xa0\x80\n",
        refused=r", line 2: not valid UTF-8",
    ),
    Case(
        "cut-multibyte-at-end",
        "edgelist",
        lambda _: b"a b\nb \xe2\x82",
        refused=r", line 2: not valid UTF-8",
    ),
    Case(
        "latin1-file",
        "edgelist",
        lambda _: "café thé 1\n".encode("latin-1"),
        refused=r", line 1: not valid UTF-8: byte 0xe9",
    ),
    Case(
        "bom-inside-label",
        "edgelist",
        lambda _: "a \ufeffb\n".encode(),
        meaning=labelled_as("a", "\ufeffb"),
    ),
    # NUL is not whitespace, so it belongs to the field: "1\0" is a label.
    Case(
        "nul-byte",
        "edgelist",
        lambda _: b"0 1\x00\n",
        meaning=labelled_as("0", "1\x00", edges=[(0, 1, 1.0)]),
    ),
    Case(
        "crlf",
        "edgelist",
        lambda _: b"0 1 0.5\r\n1 2 0.25\r\n2 0 2\r\n",
        meaning=is_ring,
    ),
    Case(
        "leading-zeros",
        "edgelist",
        lambda _: b"00 01 0.5\n",
        meaning=lambda g: edges_of(g) == [(0, 1, 0.5)],
    ),
    Case(
        "plus-id",
        "edgelist",
        lambda _: b"+1 0\n",
        refused=r", line 1, field src: node id \+1 has a sign",
    ),
    Case(
        "arabic-digits-are-labels",
        "edgelist",
        lambda _: "٣ 1\n".encode(),
        meaning=labelled_as("٣", "1"),
    ),
    Case(
        "weight-minus-inf",
        "edgelist",
        lambda _: b"0 1 -inf\n",
        refused=r", line 1, field weight: weight",
    ),
    Case(
        "weight-infinity",
        "edgelist",
        lambda _: b"0 1 Infinity\n",
        refused=r", line 1, field weight: weight 'Infinity' is",
    ),
    Case(
        "weight-nan-payload",
        "edgelist",
        lambda _: b"0 1 nan(123)\n",
        refused=r", line 1, field weight: weight 'nan\(123\)'",
    ),
    Case(
        "weight-hex",
        "edgelist",
        lambda _: b"0 1 0x10\n",
        refused=r", line 1, field weight: weight '0x10' is not a number",
    ),
    Case(
        "weight-underscore",
        "edgelist",
        lambda _: b"0 1 1_0\n",
        refused=r", line 1, field weight: weight '1_0' is not a number",
    ),
    Case(
        "weight-underflow",
        "edgelist",
        lambda _: b"0 1 1e-60\n",
        meaning=lambda g: edges_of(g) == [(0, 1, 0.0)],
    ),
    Case(
        "weight-long",
        "edgelist",
        lambda _: b"0 1 " + b"1" * 300 + b"\n",
        refused=r", line 1, field weight: weight has 300 characters",
    ),
    Case(
        "weight-many-digits",
        "edgelist",
        lambda _: b"0 1 0." + b"0" * 200 + b"1e200\n",
        meaning=lambda g: edges_of(g) == [(0, 1, float(np.float32(0.1)))],
    ),
    Case(
        "node-count-too-large",
        "edgelist",
        lambda _: b"# nodes: 99999999999\n",
        refused=r", line 1, field nodes: node count '99999999999' is not",
    ),
    Case(
        "node-count-negative",
        "edgelist",
        lambda _: b"# nodes: -1\n",
        refused=r", line 1, field nodes: node count '-1' is not",
    ),
    Case(
        "node-count-zero",
        "edgelist",
        lambda _: b"# nodes: 0\n",
        refused=r"no nodes: the header on line 1 gives 0",
    ),
    Case(
        "id-beyond-int32",
        "edgelist",
        lambda _: b"0 99999999999999999999\n",
        refused=r", line 1, field dst: node id 99999999999999999999 does not fit",
    ),
    Case(
        "label-declared-twice",
        "edgelist",
        lambda _: b"# node: a\n# node: a\na b\n",
        meaning=labelled_as("a", "b", edges=[(0, 1, 1.0)]),
    ),
    Case(
        "declared-labels-miscounted",
        "edgelist",
        lambda _: b"# nodes: 3\n# node: a\n# node: b\n",
        refused=r", line 1, field nodes: declares 3 nodes but the file names 2",
    ),
    Case(
        "numbers-then-label",
        "edgelist",
        lambda _: b"0 1\n1 x\n",
        meaning=labelled_as("0", "1", "x", edges=[(0, 1, 1.0), (1, 2, 1.0)]),
    ),
    Case(
        "only-commas", "edgelist", lambda _: b",\n", refused=r", line 1.*field is empty"
    ),
]

MSGPACK_CASES = [
    Case("empty", "msgpack", lambda _: b"", refused=r"not readable msgpack"),
    *truncations("msgpack", False, [1, 10, 60, -13, -1], r"not readable msgpack"),
    *truncations("msgpack", True, [-3], r"not readable msgpack"),
    Case(
        "trailing-bytes",
        "msgpack",
        lambda _: msgpack_doc() + b"\xc0",
        refused=r"not readable msgpack \(ExtraData",
    ),
    Case(
        "nested-array-bomb",
        "msgpack",
        lambda _: b"\x91" * 100_000 + b"\xc0",
        refused=r"not readable msgpack",
    ),
    Case(
        "nested-map-bomb",
        "msgpack",
        lambda _: b"\x81\xa1k" * 100_000 + b"\xc0",
        refused=r"not readable msgpack",
    ),
    Case(
        "huge-array",
        "msgpack",
        lambda _: b"\xdd\xff\xff\xff\xff",
        refused=r"not readable msgpack",
    ),
    Case(
        "huge-map",
        "msgpack",
        lambda _: b"\xdf\xff\xff\xff\xff",
        refused=r"not readable msgpack",
    ),
    Case(
        "huge-str",
        "msgpack",
        lambda _: b"\xdb\x7f\xff\xff\xff abc",
        refused=r"not readable msgpack",
    ),
    Case(
        "ext-type",
        "msgpack",
        lambda _: msgpack_raw_entry("labels", b"\xd4\x05\x00"),
        refused=r"not readable msgpack",
    ),
    Case(
        "timestamp",
        "msgpack",
        lambda _: msgpack_raw_entry("labels", b"\xd6\xff\x00\x00\x00\x01"),
        refused=r"not readable msgpack",
    ),
    Case(
        "int-key",
        "msgpack",
        lambda _: msgpack.packb({1: 2}),
        refused=r"not readable msgpack",
    ),
    Case(
        "bytes-key",
        "msgpack",
        lambda _: msgpack.packb({b"format": 1}, use_bin_type=True),
        refused=r"unexpected key b'format'",
    ),
    Case(
        "invalid-utf8-str",
        "msgpack",
        lambda _: msgpack_raw_entry("labels", b"\x93\xa1a\xa1b\xa1\xff"),
        refused=r"not readable msgpack \(UnicodeDecodeError",
    ),
    Case(
        "top-level-int",
        "msgpack",
        lambda _: msgpack.packb(7),
        refused=r"the top level is a int; expected a map",
    ),
    Case(
        "format-as-bytes",
        "msgpack",
        lambda _: msgpack_doc(format=b"engram-actors graph"),
        refused=r"key 'format' holds a bytes; expected str",
    ),
    Case(
        "version-as-str",
        "msgpack",
        lambda _: msgpack_doc(version="1"),
        refused=r"key 'version' holds a str; expected int",
    ),
    Case(
        "num-nodes-float",
        "msgpack",
        lambda _: msgpack_doc(num_nodes=3.0),
        refused=r"key 'num_nodes' holds a float; expected int",
    ),
    Case(
        "num-nodes-uint64",
        "msgpack",
        lambda _: msgpack_doc(num_nodes=2**64 - 1),
        refused=r"key 'num_nodes' is 18446744073709551615; expected 1 to",
    ),
    Case(
        "num-nodes-negative",
        "msgpack",
        lambda _: msgpack_doc(num_nodes=-3),
        refused=r"key 'num_nodes' is -3",
    ),
    Case(
        "num-edges-huge",
        "msgpack",
        lambda _: msgpack_doc(num_edges=2**62),
        refused=r"key 'indices' holds 12 bytes; 4611686018427387904 values",
    ),
    Case(
        "num-edges-negative",
        "msgpack",
        lambda _: msgpack_doc(num_edges=-1),
        refused=r"key 'num_edges' is -1; expected >= 0",
    ),
    Case(
        "missing-weights",
        "msgpack",
        lambda _: msgpack_doc(weights=...),
        refused=r"key 'weights' is missing",
    ),
    Case(
        "indptr-as-str",
        "msgpack",
        lambda _: msgpack_doc(indptr="abc"),
        refused=r"key 'indptr' holds a str; expected bytes",
    ),
    Case(
        "negative-offset",
        "msgpack",
        lambda _: msgpack_doc(indptr=i64(0, -1, 2, 3).tobytes()),
        refused=r"indptr decreases at position 1",
    ),
    Case(
        "first-offset",
        "msgpack",
        lambda _: msgpack_doc(indptr=i64(1, 1, 2, 3).tobytes()),
        refused=r"indptr\[0\] is 1",
    ),
    Case(
        "negative-id",
        "msgpack",
        lambda _: msgpack_doc(indices=i32(1, 2, -7).tobytes()),
        refused=r"indices\[2\] is -7",
    ),
    Case(
        "nan-weight",
        "msgpack",
        lambda _: msgpack_doc(weights=f32(np.nan, 1, 1).tobytes()),
        refused=r"weights\[0\] is nan",
    ),
    Case(
        "inf-weight",
        "msgpack",
        lambda _: msgpack_doc(weights=f32(1, -np.inf, 1).tobytes()),
        refused=r"weights\[1\] is -inf",
    ),
    Case(
        "labels-as-str",
        "msgpack",
        lambda _: msgpack_doc(labels="abc"),
        refused=r"key 'labels' holds a str; expected list",
    ),
    Case(
        "labels-as-map",
        "msgpack",
        lambda _: msgpack_doc(labels={"a": 0}),
        refused=r"key 'labels' holds a dict; expected list",
    ),
    Case(
        "labels-bytes",
        "msgpack",
        lambda _: msgpack_doc(labels=[b"a", "b", "c"]),
        refused=r"key 'labels': entry 0 is a bytes; expected str",
    ),
    Case(
        "labels-nested",
        "msgpack",
        lambda _: msgpack_doc(labels=["a", ["b"], "c"]),
        refused=r"key 'labels': entry 1 is a list",
    ),
    Case(
        "labels-duplicated",
        "msgpack",
        lambda _: msgpack_doc(labels=["a", "b", "a"]),
        refused=r"label 'a' of node 2 is not unique",
    ),
    Case(
        "label-empty",
        "msgpack",
        lambda _: msgpack_doc(labels=["a", "", "c"]),
        refused=r"label of node 1 is empty",
    ),
    Case("labels-nil", "msgpack", lambda _: msgpack_doc(labels=None), meaning=is_ring),
]

CORPUS = NPZ_CASES + EDGELIST_CASES + MSGPACK_CASES


@pytest.mark.parametrize("case", CORPUS, ids=str)
def test_corpus_case_is_refused_by_name_or_loads_with_its_meaning(tmp_path, case):
    path = tmp_path / f"bad{SUFFIX[case.fmt]}"
    path.write_bytes(case.build(tmp_path))
    readers = [graph_io.load]
    if case.fmt == "npz":
        readers.append(lambda p: graph_io.load(p, mmap=True))
    for read in readers:
        if case.refused is not None:
            where = re.escape(str(path))
            if not case.refused.startswith(","):
                where += r"(, line \d+)?(, field \w+)?: "
            with pytest.raises(GraphFormatError, match=where + case.refused):
                read(path)
        else:
            graph = read(path)
            check_invariants(graph)
            assert case.meaning(graph) is not False


def test_corpus_covers_every_format():
    counts = {fmt: sum(c.fmt == fmt for c in CORPUS) for fmt in SUFFIX}
    assert min(counts.values()) >= 30, counts
    assert len({str(c) for c in CORPUS}) == len(CORPUS)


# -- fuzzing the loaders --------------------------------------------------------

#: Examples per loader and strategy; about 200 per format in all.
LOADER_EXAMPLES = 100
LOADER_FUZZ = settings(
    max_examples=LOADER_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def load_or_refuse(path, **kwargs):
    """Load and check the graph, or accept an EngramError; nothing else."""
    try:
        graph = graph_io.load(path, **kwargs)
    except EngramError as error:
        assert str(path) in str(error)
        return None
    check_invariants(graph)
    return graph


@LOADER_FUZZ
@given(data=st.binary(max_size=600))
@pytest.mark.parametrize("fmt", list(SUFFIX))
def test_random_bytes_never_escape_as_other_errors(tmp_path, fmt, data):
    path = tmp_path / f"fuzz{SUFFIX[fmt]}"
    path.write_bytes(data)
    load_or_refuse(path)


mutations = st.lists(
    st.tuples(
        st.sampled_from(["flip", "insert", "delete", "set"]),
        st.floats(0, 1, exclude_max=True),
        st.integers(0, 255),
    ),
    min_size=1,
    max_size=6,
)


def mutate(raw, steps):
    raw = bytearray(raw)
    for kind, where, value in steps:
        at = int(where * len(raw)) if raw else 0
        if kind == "insert":
            raw[at:at] = bytes([value])
        elif not raw:
            continue
        elif kind == "delete":
            del raw[at]
        elif kind == "flip":
            raw[at] ^= 1 << (value % 8)
        else:
            raw[at] = value
    return bytes(raw)


@LOADER_FUZZ
@given(steps=mutations, labelled=st.booleans(), mmap=st.booleans())
@pytest.mark.parametrize("fmt", list(SUFFIX))
def test_mutated_valid_files_never_escape_as_other_errors(
    tmp_path, fmt, steps, labelled, mmap
):
    path = tmp_path / f"fuzz{SUFFIX[fmt]}"
    path.write_bytes(mutate(saved_bytes(tmp_path, fmt, labelled), steps))
    load_or_refuse(path, mmap=mmap and fmt == "npz")


# -- fuzzing the command line ---------------------------------------------------

CLI_EXAMPLES = 200


def mostly(valid, hostile):
    """Draw from ``valid`` three times in four, else from ``hostile``."""
    return st.integers(0, 3).flatmap(lambda i: hostile if i == 0 else valid)


def tokens(*values):
    return st.sampled_from(values)


# Without line breaks: a message quotes the token, and must stay one line.
stray_text = st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=6
)
bad_numbers = tokens(
    "-1",
    "nan",
    "inf",
    "-inf",
    "1e308",
    "99999999999999999999",
    "1e-400",
    "",
    "abc",
    "0x1",
)
# Graph sizes stay at most 2000 nodes, so every run is quick.
specs = mostly(
    st.builds(
        "{}:{}{}".format,
        tokens("random", "small-world", "scale-free", "hierarchical"),
        tokens("2", "50", "300", "2000", "1_000"),
        tokens("", ":seed=1", ":avg_degree=3,seed=2", ":seed=1,p=0.1"),
    ),
    st.one_of(
        tokens(
            "random:-5",
            "nope:10",
            "random:0",
            "random:1",
            "random:abc",
            "random:50:seed=-1",
            "small-world:50:p=2",
            "random:50:avg_degree=nan",
            "random:50:p",
            "random:50:=3",
            "hierarchical:50:cluster_size=0",
            "random",
            "nowhere.npz",
            "random:",
            "::",
            "random:5:seed=1:x",
        ),
        stray_text,
    ),
)
cue_tokens = mostly(
    tokens("0", "1", "0=2", "1=0.5", "0=0", "1e0=1"),
    st.one_of(
        tokens(
            "-1",
            "99999",
            "a",
            "0=-1",
            "0=nan",
            "0=inf",
            "1=abc",
            "=1",
            "0=",
            "x=1=2",
            "1e3",
        ),
        stray_text,
    ),
)
flag_values = {
    "--decay": mostly(tokens("0.5", "1", "0.9"), st.one_of(bad_numbers, tokens("0"))),
    "--threshold": mostly(tokens("0", "0.01", "1e-3"), bad_numbers),
    "--max-hops": mostly(tokens("0", "1", "3", "50"), tokens("-1", "10001", "2.5")),
    "--refractory-waves": mostly(tokens("0", "2"), tokens("-1", "10001", "x")),
    "--max-activation": mostly(tokens("1", "0.5", "1e30"), bad_numbers),
    "-k": mostly(tokens("0", "3", "1000"), tokens("-1", "x", "-5")),
    "-c": cue_tokens,
    "--cue": cue_tokens,
}
bare_flags = tokens("--json", "--fan-normalize", "--deterministic", "--bogus", "--")


@st.composite
def spread_argv(draw):
    """``spread`` with a spec, cues and model flags, mostly valid; the
    reference runs it in most examples, an engine of one actor in a few."""
    argv = ["-q"] if draw(st.integers(0, 5)) == 0 else []
    argv += ["spread", draw(specs), "-c", draw(cue_tokens)]
    for _ in range(draw(st.integers(0, 4))):
        if draw(st.integers(0, 7)) == 0:
            argv.append(draw(bare_flags))
        else:
            flag = draw(st.sampled_from(sorted(flag_values)))
            argv += [flag, draw(flag_values[flag])]
    if draw(st.integers(0, 24)) == 0:
        argv += ["--actors", draw(mostly(tokens("1"), tokens("0", "x", "-1")))]
    else:
        argv.append("--reference")
    return argv


@st.composite
def other_argv(draw, folder):
    """generate/info/demo/topology/cleanup, and stray tokens."""
    command = draw(
        mostly(
            tokens("generate", "info", "topology", "cleanup"),
            tokens("demo", "bogus", "", "-v"),
        )
    )
    argv = [command] if command else []
    if command == "generate":
        argv += [
            draw(
                mostly(
                    tokens("random", "scale-free", "hierarchical", "small-world"),
                    tokens("nope"),
                )
            ),
            "-n",
            draw(mostly(tokens("2", "20", "500", "2000"), tokens("0", "-4", "x"))),
            "-d",
            draw(mostly(tokens("1", "4", "10.5"), bad_numbers)),
            "--seed",
            draw(mostly(tokens("0", "7"), tokens("-1", "1.5"))),
            "-o",
            str(
                folder
                / draw(
                    mostly(
                        tokens("g.npz", "g.txt", "g.mpk"),
                        tokens("g.json", "g", "none/g.npz"),
                    )
                )
            ),
        ]
        if draw(st.booleans()):
            argv += ["--param", draw(mostly(tokens("p=0.2"), tokens("p", "=1", "k=x")))]
        if draw(st.booleans()):
            argv += [
                "--format",
                draw(mostly(tokens("npz", "edgelist", "msgpack"), tokens("csv"))),
            ]
    elif command == "info":
        argv += [draw(specs)] + draw(st.lists(tokens("--json", "-x"), max_size=2))
    elif command == "topology":
        argv += draw(
            mostly(
                tokens([], ["--actors", "2"]),
                tokens(["--actors", "0"], ["--actors", "x"], ["--actors", "99999999"]),
            )
        )
    elif command == "cleanup":
        # Always a dry run in an empty folder: nothing real is touched.
        argv += ["--dry-run", "--shm-dir", str(folder)]
    elif command == "demo":
        # Only argument errors: a real demo run takes seconds.
        argv += draw(
            tokens(
                ["--nodes", "x"], ["--actors", "0"], ["--spreads", "1.5"], ["--bogus"]
            )
        )
    elif command == "-v":
        # -v prints tracebacks on purpose; here only its argument errors.
        argv += draw(tokens(["-q"], ["bogus"], []))
    if draw(st.integers(0, 4)) == 0:
        argv += draw(st.lists(stray_text, min_size=1, max_size=2))
    return argv


def run_cli(argv, capsys):
    """Run ``main``; return its status, or the SystemExit code of argparse."""
    try:
        code = main(argv)
    except SystemExit as stop:
        code = stop.code
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "Traceback" not in out, err
    assert code in (0, 2), (code, err)
    if code == 2:
        lines = [line for line in err.splitlines() if line.strip()]
        assert lines, "exit 2 without a message"
        # argparse prints its usage first; the message is the last line.
        assert re.match(r"(engram-actors|usage:)", lines[0]), err
        assert re.match(r"engram-actors( \w+)?: error: ", lines[-1]), err
        if lines[0].startswith("engram-actors: error:"):
            assert len(lines) == 1, err
    return code, err


CLI_FUZZ = settings(
    max_examples=CLI_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@CLI_FUZZ
@given(argv=spread_argv())
def test_spread_arguments_exit_0_or_2_with_one_line(capsys, argv):
    code, _ = run_cli(argv, capsys)
    if code == 0:
        assert any(a.startswith("-c") or a == "--cue" for a in argv)


@CLI_FUZZ
@given(data=st.data())
def test_other_commands_exit_0_or_2_with_one_line(tmp_path, capsys, data):
    argv = data.draw(other_argv(tmp_path))
    run_cli(argv, capsys)


def test_known_bad_arguments_give_their_own_messages(capsys):
    cases = [
        (
            ["spread", "random:50", "-c", "0", "--decay", "nan", "--reference"],
            r"decay is nan; allowed range",
        ),
        (
            ["spread", "random:50", "-c", "0", "--max-hops", "10001", "--reference"],
            r"max_hops is 10001",
        ),
        (["spread", "random:-5", "-c", "0", "--reference"], r"n"),
        (["spread", "nope:10", "-c", "0", "--reference"], r"'nope:10' is neither"),
        (
            ["spread", "random:50", "-c", "0=inf", "--reference"],
            r"cue activation of 0 is inf",
        ),
        (
            ["spread", "random:50", "-c", "x", "--reference"],
            r"unknown node label 'x': this graph has no labels",
        ),
    ]
    for argv, message in cases:
        code, err = run_cli(argv, capsys)
        assert code == 2 and re.search(message, err), (argv, err)


# -- fuzzing cues ---------------------------------------------------------------

CUE_EXAMPLES = 200
UNLABELLED = small_graph()
LABELLED = small_graph(labelled=True)

activations = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(2**70), 2**70),
    st.integers(2**1000, 2**1100),  # beyond float64
    st.sampled_from(
        [
            None,
            "x",
            "",
            b"x",
            "1.5",
            b"1",
            1j,
            {},
            (),
            [],
            [1.0],
            np.array([1.0, 2.0]),
            np.float32(2),
        ]
    ),  # fmt: skip
)
cue_keys = st.one_of(
    st.integers(-5, 2**40),
    st.sampled_from(["a", "b", "zz", "", 1.0, None, True, b"a", np.int64(1)]),
)


def describes(error, cues):
    """Whether the message names what is wrong: a cue key or id, the arrays'
    shapes or dtypes, or the missing cues."""
    text = str(error)
    if isinstance(cues, dict):
        names = [repr(k) for k in cues] + [str(k) for k in cues]
    else:
        ids, values = (np.asarray(a) for a in cues)
        names = [str(i) for i in ids.tolist()]
        names += [f"(shape {ids.shape}) and activations (shape {values.shape})"]
        names += [f"dtype {ids.dtype}", f"dtype {values.dtype}"]
    return "no cues given" in text or any(name in text for name in names)


def spread_or_refuse(graph, cues):
    try:
        result = reference.spread(graph, cues)
    except (CueError, UnknownNodeError, ConfigError) as error:
        assert describes(error, cues), str(error)
        return None
    assert (result.activation >= 0).all()  # no NaN, nothing negative
    if _largest_cue(cues) <= FINITE_CUE:
        assert np.isfinite(result.activation).all()
    return result


#: Cues up to this keep every spread on the small ring finite: a node's
#: total is at most three times the cues on it (the 2.0 edge with decay 0.8
#: amplifies by 1.6), and at most five cues land on one node. Larger cues
#: may overflow float32 on the way, as the model's arithmetic does.
FINITE_CUE = 1e37


def _largest_cue(cues):
    values = cues.values() if isinstance(cues, dict) else cues[1]
    return max((abs(float(v)) for v in np.ravel(np.asarray(list(values)))), default=0)


@settings(max_examples=CUE_EXAMPLES, deadline=None)
@given(
    labelled=st.booleans(),
    cues=st.dictionaries(cue_keys, activations, max_size=4),
)
def test_cue_mappings_spread_or_name_the_bad_cue(labelled, cues):
    spread_or_refuse(LABELLED if labelled else UNLABELLED, cues)


@st.composite
def cue_arrays(draw):
    """Aligned id and activation arrays, now and then one value too many."""
    n = draw(st.integers(0, 5))
    ids = draw(st.lists(st.integers(-3, 5), min_size=n, max_size=n))
    value = st.one_of(st.floats(-3.4e38, 3.4e38), st.sampled_from([np.nan, np.inf]))
    extra = draw(st.sampled_from([0, 0, 0, 1]))
    values = draw(st.lists(value, min_size=n + extra, max_size=n + extra))
    id_dtype = draw(st.sampled_from(["i4", "i8", "u2", "u8", "f8", "U2", "b1"]))
    return np.array(ids).astype(id_dtype), np.array(values, np.float64)


@settings(max_examples=CUE_EXAMPLES, deadline=None)
@given(cues=cue_arrays())
def test_cue_arrays_spread_or_name_the_bad_cue(cues):
    spread_or_refuse(UNLABELLED, cues)


# -- cue inputs the fuzzing once caught mishandled ---------------------------


def test_list_as_one_activation_is_a_cue_error():
    with pytest.raises(CueError, match=r"cue activation of 0"):
        reference.spread(UNLABELLED, {0: [1.0]})


@pytest.mark.parametrize("value", [[], np.array([1.0, 2.0])], ids=["empty", "pair"])
def test_array_as_one_activation_is_a_cue_error(value):
    with pytest.raises(CueError, match=r"cue activation of 0"):
        reference.spread(UNLABELLED, {0: value})


def test_int_beyond_float64_is_a_cue_error():
    with pytest.raises(CueError, match=r"cue activation of 0"):
        reference.spread(UNLABELLED, {0: 10**400})


@pytest.mark.parametrize("value", ["1.5", b"1"], ids=["str", "bytes"])
def test_numeric_string_activation_is_refused(value):
    with pytest.raises(CueError, match=r"cue activation of 0 .*expected a number"):
        reference.spread(UNLABELLED, {0: value})


def test_repeated_cues_summing_past_float32_are_refused():
    with np.errstate(over="ignore"):
        with pytest.raises(CueError, match=r"node 0"):
            reference.spread(UNLABELLED, ([0, 0], [3e38, 3e38]))


def test_unknown_uint64_id_is_named_as_given():
    with pytest.raises(UnknownNodeError, match=r"unknown node id 18446744073709551613"):
        reference.spread(UNLABELLED, (np.array([2**64 - 3], np.uint64), [1.0]))
