"""Text edge lists: one association ``src dst [weight]`` a line.

::

    save_edgelist                            load_edgelist
      title, "# nodes: N", one                 |  whole file read as bytes,
      "# node: LABEL" per node when            |  checked as UTF-8
      labelled, then per edge                  v
      "src dst weight" in CSR order          _EdgeScan: one compiled scan
        |                                      (ids, or labels when any node
        v                                      field is not a number)
      _write_edge_lines: formatted in            |  node count: num_nodes=,
      16 MiB chunks by compiled code             |  or the file's (header, or
                                                 |  largest id + 1) held
                                                 |  against memory
                                                 v
                                             Graph.from_edges -> Graph

The compiled loops on both sides are in ``_edgelist_kernels.py``; this
module keeps the Python around them: arguments, headers, and the messages
that name a line and field.
"""

import re

import numpy as np

from ..errors import GraphError, GraphFormatError
from ..graph import _SIGNED_HINT, MAX_NODES, Graph, _check_signed
from ._edgelist_kernels import (
    _E_BAD_DECLARATION,
    _E_BAD_NODE_COUNT,
    _E_BAD_WEIGHT,
    _E_EMPTY_FIELD,
    _E_ID_TOO_LARGE,
    _E_NEGATIVE_ID,
    _E_NEGATIVE_WEIGHT,
    _E_NODE_COUNT_CONFLICT,
    _E_SIGNED_ID,
    _E_TOO_FEW,
    _E_TOO_MANY,
    _E_WEIGHT_INF,
    _E_WEIGHT_NAN,
    _E_WEIGHT_OVERFLOW,
    _E_WEIGHT_TOO_LONG,
    _FIELD_NAMES,
    _MAX_WEIGHT_CHARS,
    _SCAN_LABELLED,
    _SCAN_OK,
    _count_lines,
    _first_invalid_utf8,
    _format_edge_lines,
    _gather_tokens,
    _label_ids,
    _scan_edge_list,
)
from ._shared import (
    _check_graph,
    _encode_labels,
    _memory_available,
    _memory_error,
    _replacing,
)

# -- writing ------------------------------------------------------------------

#: Characters that would split or end a field in an edge list.
_UNWRITABLE_LABEL = re.compile(r"[\s,#]")
_EDGELIST_TITLE = "# engram-actors edge list: src dst weight"
#: Edges formatted per compiled call and written per ``write``; bounds the
#: buffer at about 16 MiB whatever the graph's size.
_FORMAT_BUFFER_BYTES = 16 << 20
#: Longest text of one float32 weight: sign, nine digits, point, "e+38".
_WEIGHT_TEXT_BYTES = 24
_ID_TEXT_BYTES = 10


def save_edgelist(graph, path):
    """Write a graph as a text edge list, one association per line.

    The file starts with ``# engram-actors edge list: src dst weight`` and
    ``# nodes: N``, so that nodes without edges survive a round trip. A
    labelled graph then declares every label in id order, one
    ``# node: LABEL`` line each, and names nodes by label on edge lines;
    an unlabelled one uses integer ids. Each edge line is ``src dst weight``
    separated by single spaces, in CSR order. A weight is written with the
    fewest significant digits (at most nine) that read back as the same
    float32, so ``load(save(g))`` gives bit-identical arrays. A negative
    weight is written with its ``-``; the file does not record whether the
    graph is signed, so a graph with negative weights reads back only with
    ``signed=True``.

    Raises
    ------
    GraphError
        When a label contains whitespace, a comma or ``#``: it would not
        read back as one field.
    """
    _check_graph(graph)
    header = [_EDGELIST_TITLE, f"# nodes: {graph.num_nodes}"]
    label_bytes = np.zeros(0, np.uint8)
    label_offsets = np.zeros(0, np.int64)
    if graph.labels is not None:
        for node, label in enumerate(graph.labels):
            if _UNWRITABLE_LABEL.search(label):
                raise GraphError(
                    f"node {node} has label {label!r}, which cannot be written to "
                    "an edge list: labels there must not contain whitespace, "
                    "commas or '#'"
                )
        label_bytes, label_offsets = _encode_labels(graph.labels)
        header.extend(f"# node: {label}" for label in graph.labels)
    with _replacing(path) as stream:
        stream.write(("\n".join(header) + "\n").encode("utf-8"))
        _write_edge_lines(stream, graph, label_bytes, label_offsets)


def _write_edge_lines(stream, graph, label_bytes, label_offsets):
    node_bytes = _ID_TEXT_BYTES
    if label_offsets.shape[0] > 1:
        node_bytes = max(node_bytes, int(np.diff(label_offsets).max()))
    line_bytes = 2 * node_bytes + _WEIGHT_TEXT_BYTES + 3
    chunk_edges = max(1, _FORMAT_BUFFER_BYTES // line_bytes)
    text = np.empty(chunk_edges * line_bytes, np.uint8)
    for first_edge in range(0, graph.num_edges, chunk_edges):
        last_edge = min(graph.num_edges, first_edge + chunk_edges)
        first_row = int(np.searchsorted(graph.indptr, first_edge, side="right")) - 1
        used = _format_edge_lines(
            graph.indptr,
            graph.indices,
            graph.weights,
            first_row,
            first_edge,
            last_edge,
            label_bytes,
            label_offsets,
            text,
        )
        stream.write(memoryview(text[:used]))


# -- reading ------------------------------------------------------------------

_UTF8_BOM = b"\xef\xbb\xbf"
#: Weight tokens converted per numpy call.
_WEIGHT_CHUNK = 1 << 20
_AUTO_DELIMITER = -1
#: Bytes per node that building the graph of an id file takes at its peak:
#: sorting the edges into rows holds up to three int64 arrays of
#: ``num_nodes + 1`` entries (the row offsets, the counts of the first
#: counting sort and the write cursor).
_NODE_BYTES = 24


def load_edgelist(
    path, *, delimiter=None, num_nodes=None, duplicates="sum", signed=False
):
    """Read a text edge list: one association ``src dst [weight]`` a line.

    Parameters
    ----------
    path : str or os.PathLike
    delimiter : str, optional
        One ASCII character that separates fields, such as ``"\\t"`` or
        ``","``; spaces and tabs around each field are dropped, and a label
        may then contain spaces. By default fields are separated by runs of
        whitespace, optionally with one comma among them.
    num_nodes : int, optional
        Number of nodes, overriding a ``# nodes:`` line. Ids must be below
        it; for a labelled file it must equal the number of labels.
    duplicates : {"sum", "max", "keep", "error"}
        What to do with repeated ``src dst`` pairs, as in
        :meth:`Graph.from_edges`. The default merges them, so to read back
        a graph with parallel edges exactly, pass ``"keep"``.
    signed : bool
        Accept negative (inhibitory) weights, such as ``-0.5``, and return
        a signed graph. Without it a negative weight is refused.

    Returns
    -------
    Graph

    Raises
    ------
    GraphFormatError
        Naming the file, the 1-based line and the field (``src``, ``dst``,
        ``weight``, or the ``nodes``/``node`` header) that is wrong.

    Notes
    -----
    The file is UTF-8 (an initial byte-order mark is skipped). ``#`` starts
    a comment that runs to the end of the line; blank lines are ignored.
    The weight is optional and defaults to 1.0; it is a decimal number
    (``0.5``, ``2``, ``1e-3``, ``-0.5``), finite, within float32, and
    non-negative unless ``signed``.

    Nodes are either integer ids or labels, for the whole file. When every
    node field is a plain integer (digits only, below 2**31 - 1) the nodes
    are ids and the graph has ``max id + 1`` nodes, or as many as a
    ``# nodes: N`` line or ``num_nodes`` says. A signed number such as
    ``-3`` is then an error, not a label. When any node field is something
    else, or the file has a ``# node: LABEL`` line, every node field is a
    label, and labels get ids in the order they first appear, counting
    ``# node:`` lines where they stand. These two header forms must start
    their line exactly as written here.

    Scanning, parsing ids and weights, and numbering labels are compiled
    loops; weights beyond the exact fast path (a significand over 2**53,
    or a power of ten beyond 1e22) go to numpy, which rounds the same way.
    No Python code runs per line.
    """
    code = _delimiter_code(delimiter)
    if num_nodes is not None and (
        isinstance(num_nodes, bool) or not isinstance(num_nodes, (int, np.integer))
    ):
        raise GraphError(f"num_nodes must be an integer, got {num_nodes!r}")
    if duplicates not in ("sum", "max", "keep", "error"):
        raise GraphError(
            f"duplicates is {duplicates!r}; expected 'sum', 'max', 'keep' or 'error'"
        )
    signed = _check_signed(signed)
    text = np.fromfile(path, dtype=np.uint8)
    start = len(_UTF8_BOM) if text[:3].tobytes() == _UTF8_BOM else 0
    bad = _first_invalid_utf8(text, start)
    if bad >= 0:
        line, column = _line_and_column(text, bad)
        raise GraphFormatError(
            path,
            f"not valid UTF-8: byte 0x{text[bad]:02x} at column {column}",
            line=line,
        )
    scan = _EdgeScan(path, text, start, code, signed)
    if scan.labelled:
        src, dst, labels = scan.labelled_ends()
        count = len(labels)
        if scan.node_count >= 0 and scan.node_count != count:
            raise GraphFormatError(
                path,
                f"declares {scan.node_count} nodes but the file names {count}",
                line=scan.node_count_line,
                field="nodes",
            )
        if num_nodes is not None and num_nodes != count:
            raise GraphFormatError(
                path, f"num_nodes is {num_nodes} but the file names {count} nodes"
            )
    else:
        src, dst = scan.id_ends()
        labels = None
        count = scan.id_node_count(num_nodes)
    weights = scan.weights()
    try:
        return Graph.from_edges(
            src,
            dst,
            weights,
            num_nodes=count,
            labels=labels,
            duplicates=duplicates,
            signed=signed,
        )
    except GraphError as exc:
        raise GraphFormatError(path, str(exc)) from exc


def _delimiter_code(delimiter):
    if delimiter is None:
        return _AUTO_DELIMITER
    if (
        not isinstance(delimiter, str)
        or len(delimiter) != 1
        or not delimiter.isascii()
        or delimiter in "#\n"
    ):
        raise GraphError(
            f"delimiter is {delimiter!r}; expected one ASCII character other "
            "than '#' and newline, or None for whitespace and commas"
        )
    return ord(delimiter)


def _line_and_column(text, offset):
    """1-based line and column (in bytes) of a byte offset."""
    newlines = np.flatnonzero(text[:offset] == 10)
    line_start = int(newlines[-1]) + 1 if newlines.size else 0
    return newlines.size + 1, offset - line_start + 1


def _token_text(text, start, end):
    shown = text[start:end].tobytes().decode("utf-8", "replace")
    return shown if len(shown) <= 40 else shown[:37] + "..."


class _EdgeScan:
    """The tokens of an edge list: found by a compiled scan, then turned into
    ids, labels and weights on demand."""

    def __init__(self, path, text, start, delimiter, signed=False):
        self.path = path
        self.text = text
        # Whether negative weights are allowed.
        self.signed = signed
        lines = _count_lines(text)
        self.labelled = False
        result = self._scan(start, delimiter, lines, labelled=False)
        if result[0] == _SCAN_LABELLED:
            self.labelled = True
            result = self._scan(start, delimiter, lines, labelled=True)
        status, edges, tokens, *error, count, count_line, slow = result
        if status != _SCAN_OK:
            self._raise(status, *error, count, count_line)
        self.edges = edges
        self.node_span = self.node_span[:tokens]
        self.weight = self.weight[:edges]
        self.slow_weight = self.slow_weight[:slow]
        self.edge_line = self.edge_line[:edges]
        # The "# nodes:" value and its line, or -1 and 0 when there is none.
        self.node_count = count
        self.node_count_line = count_line

    def _scan(self, start, delimiter, lines, labelled):
        # Ids in id mode; token spans (2 per edge line, 1 per declaration)
        # and each edge's first token in labelled mode. Then per edge its
        # weight and line, and (edge, start, end) of the weights left to
        # numpy. The arrays are sized for the worst case; pages never
        # written are never touched, so the slack costs address space only.
        id_rows = 0 if labelled else lines
        token_rows = 2 * lines if labelled else 0
        self.src_id = np.empty(id_rows, np.int32)
        self.dst_id = np.empty(id_rows, np.int32)
        self.node_span = np.empty((token_rows, 2), np.int64)
        self.edge_token = np.empty(lines if labelled else 0, np.int64)
        self.weight = np.empty(lines, np.float32)
        self.slow_weight = np.empty((lines, 3), np.int64)
        self.edge_line = np.empty(lines, np.int32 if lines < 2**31 else np.int64)
        return _scan_edge_list(
            self.text,
            start,
            delimiter,
            labelled,
            self.signed,
            self.src_id,
            self.dst_id,
            self.node_span,
            self.edge_token,
            self.weight,
            self.slow_weight,
            self.edge_line,
        )

    def _raise(self, status, line, field, lo, hi, detail, count, count_line):
        token = _token_text(self.text, lo, hi)
        rule = "finite" if self.signed else "finite and >= 0"
        messages = {
            _E_TOO_FEW: f"expected 2 or 3 fields (src dst [weight]), found {detail}",
            _E_TOO_MANY: f"expected 2 or 3 fields (src dst [weight]), found {detail}",
            _E_EMPTY_FIELD: "field is empty",
            _E_NEGATIVE_ID: f"node id {token} is negative; ids are integers >= 0",
            _E_SIGNED_ID: f"node id {token} has a sign; ids are plain integers",
            _E_ID_TOO_LARGE: (
                f"node id {token} does not fit in 32 bits; ids must be below "
                f"{MAX_NODES}"
            ),
            _E_BAD_WEIGHT: f"weight {token!r} is not a number",
            _E_NEGATIVE_WEIGHT: (
                f"weight {token} is negative; association weights must be >= 0; "
                f"{_SIGNED_HINT}"
            ),
            _E_WEIGHT_OVERFLOW: (
                f"weight {token} overflows float32; association weights must be finite"
            ),
            _E_WEIGHT_NAN: (
                f"weight {token!r} is NaN; association weights must be {rule}"
            ),
            _E_WEIGHT_INF: (
                f"weight {token!r} is infinite; association weights must be {rule}"
            ),
            _E_WEIGHT_TOO_LONG: (
                f"weight has {hi - lo} characters; at most {_MAX_WEIGHT_CHARS} are read"
            ),
            _E_BAD_NODE_COUNT: (
                f"node count {token!r} is not an integer from 0 to {MAX_NODES}"
            ),
            _E_NODE_COUNT_CONFLICT: (
                f"node count {token} contradicts the {count} declared on line "
                f"{count_line}"
            ),
            _E_BAD_DECLARATION: (
                f"declared label {token!r} must be one non-empty field"
            ),
        }
        name = _FIELD_NAMES[field] if 0 <= field < len(_FIELD_NAMES) else None
        if status == _E_EMPTY_FIELD and name is None:
            messages[status] = f"field {field + 1} is empty"
        raise GraphFormatError(self.path, messages[status], line=line, field=name)

    def id_ends(self):
        """Source and destination ids of every edge, as int32."""
        return self.src_id[: self.edges], self.dst_id[: self.edges]

    def id_node_count(self, num_nodes):
        """Number of nodes of an id file, checked against its ids."""
        src, dst = self.id_ends()
        needed = 0
        if self.edges:
            needed = max(int(src.max()), int(dst.max())) + 1
        if num_nodes is not None:
            declared, where = int(num_nodes), f"num_nodes={num_nodes}"
        elif self.node_count >= 0:
            declared = self.node_count
            where = f"the header on line {self.node_count_line}"
        else:
            declared, where = needed, None
        if declared < 1:
            detail = (
                f"{where} gives {declared}"
                if where
                else "the file has no edges and no '# nodes: N' line"
            )
            raise GraphFormatError(self.path, f"no nodes: {detail}")
        if needed > declared:
            edge = int(np.flatnonzero((src >= declared) | (dst >= declared))[0])
            name = "src" if src[edge] >= declared else "dst"
            node = int(src[edge] if name == "src" else dst[edge])
            raise GraphFormatError(
                self.path,
                f"node id {node} is out of range: {where} says there are "
                f"{declared} nodes",
                line=int(self.edge_line[edge]),
                field=name,
            )
        if num_nodes is None:
            self._check_memory(declared)
        return declared

    def _check_memory(self, count):
        """Refuse a node count from the file whose arrays memory cannot hold.

        The count is the ``# nodes:`` line's or, without one, the largest id
        plus one; either takes a few bytes of text however large it is.
        """
        nbytes = _NODE_BYTES * (count + 1)
        available = _memory_available()
        if nbytes <= available:
            return
        if self.node_count >= 0:
            claim = f"declares {count} nodes"
            line, field = self.node_count_line, "nodes"
        else:
            src, dst = self.id_ends()
            edge = int(np.flatnonzero((src == count - 1) | (dst == count - 1))[0])
            field = "src" if src[edge] == count - 1 else "dst"
            claim = f"node id {count - 1} makes {count} nodes"
            line = int(self.edge_line[edge])
        raise _memory_error(self.path, claim, nbytes, available, line=line, field=field)

    def labelled_ends(self):
        """Source and destination ids and the labels, by first appearance."""
        ids, first_token = _label_ids(self.text, self.node_span)
        labels = [
            self.text[s:e].tobytes().decode("utf-8")
            for s, e in self.node_span[first_token].tolist()
        ]
        edge_token = self.edge_token[: self.edges]
        return ids[edge_token], ids[edge_token + 1], labels

    def weights(self):
        """Every edge's weight as float32; 1.0 where the line has none.

        The scan read most weights with an exact fast path; numpy reads the
        rest (a significand over 2**53, or a power of ten beyond 1e22).
        Both round correctly, so a value does not depend on its path.
        """
        for chunk in range(0, self.slow_weight.shape[0], _WEIGHT_CHUNK):
            edges, starts, ends = self.slow_weight[chunk : chunk + _WEIGHT_CHUNK].T
            width = int((ends - starts).max())
            tokens = _gather_tokens(self.text, starts, ends, width)
            values = tokens.view(f"S{width}").ravel().astype(np.float64)
            with np.errstate(over="ignore"):
                as32 = values.astype(np.float32)
            checks = [(~np.isfinite(as32), _E_WEIGHT_OVERFLOW)]
            if not self.signed:
                checks.insert(0, (values < 0, _E_NEGATIVE_WEIGHT))
            for bad, status in checks:
                if bad.any():
                    at = int(np.flatnonzero(bad)[0])
                    line = int(self.edge_line[edges[at]])
                    self._raise(status, line, 2, starts[at], ends[at], 0, 0, 0)
            self.weight[edges] = as32
        return self.weight
