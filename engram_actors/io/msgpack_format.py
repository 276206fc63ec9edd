"""The msgpack format: one map, the CSR arrays as raw little-endian bytes.

::

    save_msgpack                             load_msgpack
      map header, then the scalars             |  msgpack.unpackb with every
      (format, version, num_nodes,             |  length capped at the file's
      num_edges[, signed]), then each          |  size, no extension types
      array as one bin 32 written              v
      straight from the graph's memory       _graph_from_msgpack: exactly the
      (_write_msgpack_bin), then labels        expected keys, each of its
                                               type and size
                                                 |
                                                 v
                                             _graph_from_csr -> Graph

Named ``msgpack_format``, not ``msgpack``, so that the name ``msgpack``
means the library everywhere in this package.
"""

import struct

import msgpack
import numpy as np

from ..errors import GraphError, GraphFormatError
from ..graph import MAX_NODES, _check_signed
from ._shared import (
    _FORMAT_MARKER,
    _FORMAT_VERSION,
    _as_little_endian,
    _check_graph,
    _encode_labels,
    _graph_from_csr,
    _replacing,
)

_MSGPACK_BIN32 = 0xC6
_MSGPACK_KEYS = (
    "format",
    "version",
    "num_nodes",
    "num_edges",
    "indptr",
    "indices",
    "weights",
)
#: Keys a file may leave out: ``labels`` for a graph without labels,
#: ``signed`` (written only for a signed graph) for one that is not signed.
_MSGPACK_OPTIONAL_KEYS = ("signed", "labels")


def save_msgpack(graph, path):
    """Write a graph as one msgpack map.

    Keys: ``format`` (str ``engram-actors graph``), ``version`` (int, 1),
    ``num_nodes`` and ``num_edges`` (int), ``indptr``, ``indices`` and
    ``weights`` (bin: the raw little-endian int64, int32 and float32 bytes);
    for a signed graph only, ``signed`` (bool, true); and for a labelled
    graph only, ``labels`` (array of str, one per node, in id order).
    """
    _check_graph(graph)
    if graph.labels is not None:
        _encode_labels(graph.labels)  # refuse what msgpack could not encode
    packer = msgpack.Packer(use_bin_type=True)
    scalars = {
        "format": _FORMAT_MARKER,
        "version": _FORMAT_VERSION,
        "num_nodes": graph.num_nodes,
        "num_edges": graph.num_edges,
    }
    if graph.signed:
        scalars["signed"] = True
    arrays = {
        "indptr": _as_little_endian(graph.indptr, "<i8"),
        "indices": _as_little_endian(graph.indices, "<i4"),
        "weights": _as_little_endian(graph.weights, "<f4"),
    }
    with _replacing(path) as stream:
        size = len(scalars) + len(arrays) + (graph.labels is not None)
        stream.write(packer.pack_map_header(size))
        for key, value in scalars.items():
            stream.write(packer.pack(key) + packer.pack(value))
        for key, array in arrays.items():
            stream.write(packer.pack(key))
            _write_msgpack_bin(stream, key, array)
        if graph.labels is not None:
            stream.write(packer.pack("labels") + packer.pack(list(graph.labels)))


def _write_msgpack_bin(stream, key, array):
    """Write an array's bytes as a msgpack bin 32, without copying them."""
    data = memoryview(array).cast("B")
    if data.nbytes >= 2**32:
        raise GraphError(
            f"{key} takes {data.nbytes} bytes; msgpack holds at most 4 GiB in "
            "one value, so save this graph as npz"
        )
    stream.write(struct.pack(">BI", _MSGPACK_BIN32, data.nbytes))
    stream.write(data)


def load_msgpack(path, *, signed=False):
    """Read a graph written by :func:`save_msgpack`.

    Every length the file declares is capped at the file's size before
    anything is allocated, nothing but plain msgpack types is accepted (no
    extension types, no pickle), and each key's type and size are checked
    before any array is built.

    Parameters
    ----------
    path : str or os.PathLike
    signed : bool
        Allow negative (inhibitory) weights even when the file does not
        record a signed graph. The graph is signed when this is true or the
        file's ``signed`` key is; a file without that key is not signed.

    Returns
    -------
    Graph

    Raises
    ------
    GraphFormatError
        Naming the file and the key that is missing, of the wrong type or
        of the wrong size, or saying why the bytes are not msgpack.
    """
    signed = _check_signed(signed)
    with open(path, "rb") as stream:
        data = stream.read()
    limit = len(data)
    try:
        document = msgpack.unpackb(
            data,
            raw=False,
            strict_map_key=True,
            use_list=True,
            max_bin_len=limit,
            max_str_len=limit,
            max_array_len=limit,
            max_map_len=limit,
            max_ext_len=0,
        )
    except (ValueError, TypeError, OverflowError, msgpack.UnpackException) as exc:
        raise GraphFormatError(
            path, f"not readable msgpack ({type(exc).__name__}: {exc})"
        ) from exc
    return _graph_from_msgpack(path, document, signed)


def _graph_from_msgpack(path, document, signed=False):
    if not isinstance(document, dict):
        raise GraphFormatError(
            path, f"the top level is a {type(document).__name__}; expected a map"
        )
    for key in document:
        if key not in _MSGPACK_KEYS and key not in _MSGPACK_OPTIONAL_KEYS:
            raise GraphFormatError(path, f"unexpected key {key!r}")
    for key in _MSGPACK_KEYS:
        if key not in document:
            raise GraphFormatError(path, f"key {key!r} is missing")

    def field(key, kind):
        value = document[key]
        # bool is an int subclass; a true/false where a count belongs is wrong.
        if not isinstance(value, kind) or isinstance(value, bool):
            raise GraphFormatError(
                path,
                f"key {key!r} holds a {type(value).__name__}; expected {kind.__name__}",
            )
        return value

    if field("format", str) != _FORMAT_MARKER:
        raise GraphFormatError(
            path,
            f"key 'format' is {document['format'][:40]!r}; expected "
            f"{_FORMAT_MARKER!r}: this is not an engram-actors graph",
        )
    if field("version", int) != _FORMAT_VERSION:
        raise GraphFormatError(
            path,
            f"key 'version' is {document['version']}; this library reads "
            f"version {_FORMAT_VERSION}",
        )
    if "signed" in document:
        flag = document["signed"]
        if not isinstance(flag, bool):
            raise GraphFormatError(
                path,
                f"key 'signed' holds a {type(flag).__name__}; expected bool",
            )
        signed = flag or signed
    num_nodes = field("num_nodes", int)
    num_edges = field("num_edges", int)
    if not 1 <= num_nodes <= MAX_NODES:
        raise GraphFormatError(
            path, f"key 'num_nodes' is {num_nodes}; expected 1 to {MAX_NODES}"
        )
    if num_edges < 0:
        raise GraphFormatError(path, f"key 'num_edges' is {num_edges}; expected >= 0")
    arrays = []
    for key, dtype, count in (
        ("indptr", "<i8", num_nodes + 1),
        ("indices", "<i4", num_edges),
        ("weights", "<f4", num_edges),
    ):
        raw = field(key, bytes)
        itemsize = np.dtype(dtype).itemsize
        if len(raw) != count * itemsize:
            raise GraphFormatError(
                path,
                f"key {key!r} holds {len(raw)} bytes; {count} values of "
                f"{itemsize} bytes take {count * itemsize}",
            )
        arrays.append(np.frombuffer(raw, dtype))
    labels = document.get("labels")
    if labels is not None:
        labels = field("labels", list)
        if len(labels) != num_nodes:
            raise GraphFormatError(
                path, f"key 'labels' has {len(labels)} entries for {num_nodes} nodes"
            )
        for node, label in enumerate(labels):
            if not isinstance(label, str):
                raise GraphFormatError(
                    path,
                    f"key 'labels': entry {node} is a {type(label).__name__}; "
                    "expected str",
                )
    return _graph_from_csr(path, *arrays, labels, signed=signed)
