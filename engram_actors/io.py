"""Saving and loading memory graphs: native npz, text edge lists, msgpack.

::

    save(graph, "g.npz")                      load("g.npz", mmap=True)
        |                                          |
        v                                          v
    .g.npz.<random>.tmp  (same folder)        read the bytes; check every
        |  written in full, flushed, fsynced   array, line or key; refuse
        v                                      bad input with GraphFormatError
    os.replace -> g.npz                            |
    (old file untouched on any error)              v
                                              Graph(...), validation on

Three formats, chosen by ``format=`` or by the file suffix:

- ``npz``: the native format; an uncompressed zip of ``.npy`` members that
  ``numpy.load`` reads too. Exact, fast, and can be memory-mapped.
- ``edgelist``: text, one association per line, ``src dst [weight]``; ids or
  labels. For exchange with other tools and for writing graphs by hand.
- ``msgpack``: one msgpack map with the CSR arrays as raw bytes; for
  services that already speak msgpack.

``docs/formats.md`` gives each layout byte by byte, what a load checks, and
measured speeds.
"""

import contextlib
import logging
import math
import os
import re
import secrets
import struct
import tokenize
import zipfile
from io import BytesIO

import msgpack
import numba as nb
import numpy as np

from .errors import GraphError, GraphFormatError
from .graph import MAX_NODES, Graph

__all__ = [
    "FORMATS",
    "load",
    "load_edgelist",
    "load_msgpack",
    "load_npz",
    "save",
    "save_edgelist",
    "save_msgpack",
    "save_npz",
]

logger = logging.getLogger(__name__)

#: The formats ``save`` and ``load`` know, by name.
FORMATS = ("npz", "edgelist", "msgpack")

_SUFFIX_FORMATS = {
    ".npz": "npz",
    ".txt": "edgelist",
    ".tsv": "edgelist",
    ".csv": "edgelist",
    ".edges": "edgelist",
    ".el": "edgelist",
    ".msgpack": "msgpack",
    ".mpk": "msgpack",
}

#: Written into every native file and checked on load; bump the version
#: whenever a layout changes in a way an older loader would misread.
_FORMAT_MARKER = "engram-actors graph"
_FORMAT_VERSION = 1


# -- choosing a format ------------------------------------------------------


def save(graph, path, format=None):
    """Write a graph to ``path``, replacing any file there only when done.

    Parameters
    ----------
    graph : Graph
        The graph to write.
    path : str or os.PathLike
        Where to write. Without ``format`` the suffix decides: ``.npz``;
        ``.txt``, ``.tsv``, ``.csv``, ``.edges`` or ``.el`` for an edge
        list; ``.msgpack`` or ``.mpk`` for msgpack.
    format : {"npz", "edgelist", "msgpack"}, optional
        Overrides the suffix.

    Raises
    ------
    GraphFormatError
        When the format is unknown or cannot be told from the suffix.
    GraphError
        When the graph cannot be written in that format (an edge list
        cannot hold a label with whitespace, a comma or ``#``).

    Notes
    -----
    The bytes go to a temporary file in the same folder, which is flushed,
    synced and then renamed over ``path`` with ``os.replace``. A reader
    therefore sees the old file or the new one, never a mix; on any error
    the temporary file is removed and the old file is left as it was.
    """
    _check_graph(graph)
    _SAVERS[_format_of(path, format)](graph, path)


def load(path, format=None, *, mmap=False):
    """Read a graph written by :func:`save` (or by hand, for edge lists).

    Parameters
    ----------
    path : str or os.PathLike
        The file. Without ``format`` the suffix decides, as for
        :func:`save`.
    format : {"npz", "edgelist", "msgpack"}, optional
        Overrides the suffix.
    mmap : bool
        Memory-map the CSR arrays instead of reading them (npz only; see
        :func:`load_npz`).

    Returns
    -------
    Graph

    Raises
    ------
    GraphFormatError
        When the file is malformed; the message names the file and the
        line and field, or the array or key, that is wrong.
    """
    kind = _format_of(path, format)
    if kind == "npz":
        return load_npz(path, mmap=mmap)
    if mmap:
        raise GraphError(
            f"mmap=True needs the npz format; {os.fspath(path)} is read as {kind}"
        )
    return _LOADERS[kind](path)


def _format_of(path, format):
    if format is not None:
        if format not in FORMATS:
            raise GraphFormatError(
                path, f"unknown format {format!r}; expected one of {FORMATS}"
            )
        return format
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    if suffix not in _SUFFIX_FORMATS:
        shown = f"suffix {suffix!r}" if suffix else "no suffix"
        raise GraphFormatError(
            path,
            f"cannot tell the format from {shown}; use one of "
            f"{' '.join(_SUFFIX_FORMATS)} or pass format= (one of {FORMATS})",
        )
    return _SUFFIX_FORMATS[suffix]


def _check_graph(graph):
    if not isinstance(graph, Graph):
        raise TypeError(f"expected a Graph, got {type(graph).__name__}")


# -- writing without half-written files ---------------------------------------


@contextlib.contextmanager
def _replacing(path):
    """Yield a binary stream whose bytes replace ``path`` only on success."""
    target = os.path.abspath(os.fspath(path))
    folder, name = os.path.split(target)
    temp = os.path.join(folder, f".{name}.{secrets.token_hex(6)}.tmp")
    # O_EXCL: never reuse a file someone else made; 0o666 lets umask decide
    # the permissions, as for any new file.
    descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with open(descriptor, "wb") as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    _sync_folder(folder)


def _sync_folder(folder):
    """Make the rename itself durable, where the platform allows it."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _encode_labels(labels):
    """UTF-8 bytes of all labels back to back, and int64 offsets into them."""
    encoded = []
    for node, label in enumerate(labels):
        try:
            encoded.append(label.encode("utf-8"))
        except UnicodeEncodeError as exc:
            raise GraphError(
                f"label of node {node} ({label!r}) cannot be encoded as UTF-8: {exc}"
            ) from None
    offsets = np.zeros(len(encoded) + 1, np.int64)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    blob = np.frombuffer(b"".join(encoded), np.uint8)
    return blob, offsets


def _as_little_endian(array, dtype):
    """The array as a C-contiguous array of the little-endian ``dtype``."""
    return np.ascontiguousarray(array, np.dtype(dtype).newbyteorder("<"))


# -- npz ----------------------------------------------------------------------

#: Array data inside the archive starts on a multiple of this many bytes, so
#: that memory-mapped arrays are aligned for any dtype and SIMD load.
_NPZ_ALIGN_BYTES = 64
#: Id of the zip "extra field" that pads a local header to that alignment.
#: Zip readers skip extra fields they do not know.
_NPZ_PAD_FIELD_ID = 0xEA64
_ZIP_LOCAL_HEADER_BYTES = 30
_ZIP64_EXTRA_BYTES = 20

_NPZ_REQUIRED = {
    "format": "|u1",
    "version": "<i8",
    "indptr": "<i8",
    "indices": "<i4",
    "weights": "<f4",
}
_NPZ_LABELS = {"label_offsets": "<i8", "label_bytes": "|u1"}
_NPZ_MAPPABLE = ("indptr", "indices", "weights")


def save_npz(graph, path):
    """Write a graph in the native npz format.

    The archive is uncompressed and holds ``format`` (the ASCII marker
    ``engram-actors graph`` as uint8), ``version`` (int64, ``[1]``),
    ``indptr`` (int64), ``indices`` (int32) and ``weights`` (float32), and
    for a labelled graph ``label_bytes`` (uint8: every label in UTF-8, back
    to back) and ``label_offsets`` (int64, ``num_nodes + 1``: where each
    label starts and ends in ``label_bytes``). Nothing is pickled.
    ``numpy.load(path)`` reads it; each member's data starts on a multiple
    of 64 bytes so that :func:`load_npz` can map it in place.
    """
    _check_graph(graph)
    members = {
        "format": np.frombuffer(_FORMAT_MARKER.encode("ascii"), np.uint8),
        "version": np.array([_FORMAT_VERSION], np.int64),
        "indptr": graph.indptr,
        "indices": graph.indices,
        "weights": graph.weights,
    }
    if graph.labels is not None:
        members["label_bytes"], members["label_offsets"] = _encode_labels(graph.labels)
    with _replacing(path) as stream:
        with zipfile.ZipFile(stream, "w", zipfile.ZIP_STORED) as archive:
            for key, array in members.items():
                dtype = {**_NPZ_REQUIRED, **_NPZ_LABELS}[key]
                _write_npz_member(archive, stream, key, _as_little_endian(array, dtype))


def _write_npz_member(archive, stream, key, array):
    """Add ``array`` as ``key.npy``, its data aligned to 64 bytes in the file."""
    header = BytesIO()
    np.lib.format.write_array_header_1_0(
        header, np.lib.format.header_data_from_array_1_0(array)
    )
    header = header.getvalue()
    info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    info.file_size = len(header) + array.nbytes
    # The local header is 30 fixed bytes, the name, our padding field (4 bytes
    # of id and size, then the pad) and the zip64 sizes (force_zip64 below).
    # numpy pads the .npy header itself to a multiple of 64.
    data_start = (
        stream.tell()
        + _ZIP_LOCAL_HEADER_BYTES
        + len(info.filename.encode("ascii"))
        + 4
        + _ZIP64_EXTRA_BYTES
        + len(header)
    )
    pad = -data_start % _NPZ_ALIGN_BYTES
    info.extra = struct.pack("<HH", _NPZ_PAD_FIELD_ID, pad) + bytes(pad)
    with archive.open(info, "w", force_zip64=True) as member:
        member.write(header)
        member.write(memoryview(array).cast("B"))


def load_npz(path, *, mmap=False):
    """Read a graph written by :func:`save_npz`.

    Parameters
    ----------
    path : str or os.PathLike
    mmap : bool
        Map ``indptr``, ``indices`` and ``weights`` read-only straight from
        the file instead of reading them into memory.

    Returns
    -------
    Graph

    Raises
    ------
    GraphFormatError
        When the archive is damaged or truncated, a member is missing or
        unexpected, has the wrong dtype or shape, the marker or version is
        wrong, or the arrays do not form a valid graph. The message names
        the file and the array.

    Notes
    -----
    With ``mmap=True`` the three arrays are ``numpy.memmap`` views into
    the archive: the load finds each member's data through its zip local
    header and its ``.npy`` header and maps that byte range, so the arrays
    cost page cache, shared between processes, instead of private memory.
    The graph is still checked (offsets ascending, ids in range, weights
    finite and non-negative) in one sequential pass over the mapped pages;
    nothing is copied. The zip CRC of a mapped member is not checked, since
    that would mean reading it for no other purpose; a flipped bit that
    keeps the graph valid goes unnoticed.

    A member that cannot be mapped (compressed, as ``numpy.savez_compressed``
    writes, or whose data is not aligned to its item size, as in archives
    from plain ``numpy.savez``) is read into memory instead; ``mmap=True``
    is a request, not a promise.
    """
    with open(path, "rb") as stream:
        try:
            file_bytes = os.fstat(stream.fileno()).st_size
            with zipfile.ZipFile(stream) as archive:
                infos = _npz_members(archive, path)
                reader = _NpzReader(archive, stream, file_bytes, path)
                marker = reader.read(infos["format"], "format")
                version = reader.read(infos["version"], "version")
                _check_npz_marker(path, marker, version)
                arrays = [
                    reader.read(infos[key], key, mmap=mmap) for key in _NPZ_MAPPABLE
                ]
                labels = None
                if "label_offsets" in infos:
                    labels = _npz_labels(
                        path,
                        reader.read(infos["label_bytes"], "label_bytes"),
                        reader.read(infos["label_offsets"], "label_offsets"),
                        arrays[0].shape[0] - 1,
                    )
        except GraphFormatError:
            raise
        except _ARCHIVE_ERRORS as exc:
            raise GraphFormatError(
                path, f"not a readable npz archive ({type(exc).__name__}: {exc})"
            ) from exc
    mapped = any(isinstance(array.base, np.memmap) for array in arrays)
    return _graph_from_csr(path, *arrays, labels, checked_in_place=mapped)


#: What a damaged archive can raise from zipfile, struct or numpy's header
#: parser (which tokenizes the header text). FileNotFoundError and
#: PermissionError come from ``open`` above, outside the handler, and pass
#: through unchanged.
_ARCHIVE_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    NotImplementedError,
    RuntimeError,
    ValueError,
    TypeError,
    KeyError,
    SyntaxError,
    tokenize.TokenError,
    EOFError,
    OSError,
    struct.error,
    OverflowError,
)


def _npz_members(archive, path):
    """Map each expected key to its ZipInfo; refuse missing or extra ones."""
    infos = {}
    for info in archive.infolist():
        key = info.filename[:-4] if info.filename.endswith(".npy") else None
        if key not in _NPZ_REQUIRED and key not in _NPZ_LABELS:
            raise GraphFormatError(path, f"unexpected member {info.filename!r}")
        if key in infos:
            raise GraphFormatError(path, f"member {info.filename!r} appears twice")
        infos[key] = info
    for key in _NPZ_REQUIRED:
        if key not in infos:
            raise GraphFormatError(path, f"array {key!r} is missing")
    present = [key for key in _NPZ_LABELS if key in infos]
    if len(present) == 1:
        other = "label_bytes" if present[0] == "label_offsets" else "label_offsets"
        raise GraphFormatError(
            path, f"array {present[0]!r} is present but {other!r} is missing"
        )
    return infos


class _NpzReader:
    """Reads the ``.npy`` members of one open archive, checking each one."""

    def __init__(self, archive, stream, file_bytes, path):
        # The open ZipFile, the raw file under it, its size and its name.
        self.archive = archive
        self.stream = stream
        self.file_bytes = file_bytes
        self.path = path

    def read(self, info, key, mmap=False):
        """The member's array: mapped when asked and possible, else read."""
        expected = np.dtype({**_NPZ_REQUIRED, **_NPZ_LABELS}[key])
        if info.flag_bits & 0x1:
            raise GraphFormatError(self.path, f"array {key!r} is encrypted")
        if mmap:
            if info.compress_type != zipfile.ZIP_STORED:
                logger.debug("%s: %s is compressed; reading it", self.path, key)
            else:
                array = self._map(info, key, expected)
                if array is not None:
                    return array
        return self._read(info, key, expected)

    def _read(self, info, key, expected):
        if info.compress_type != zipfile.ZIP_STORED and (
            info.file_size > 1100 * info.compress_size + 4096
        ):
            # Deflate cannot shrink data more than about 1000 to 1; a larger
            # claim is a corrupt or hostile size, so refuse before inflating.
            raise GraphFormatError(
                self.path,
                f"array {key!r} claims {info.file_size} bytes from "
                f"{info.compress_size} compressed bytes",
            )
        with self.archive.open(info) as member:
            shape = self._header(member, key, expected)
            nbytes = shape * expected.itemsize
            data = member.read(nbytes)
            if len(data) != nbytes:
                raise GraphFormatError(
                    self.path,
                    f"array {key!r} is truncated: {len(data)} of {nbytes} bytes",
                )
            if member.read(1):
                raise GraphFormatError(
                    self.path, f"array {key!r} has bytes after its data"
                )
        return np.frombuffer(data, expected)

    def _map(self, info, key, expected):
        """Map a stored member in place, or return None to read it instead."""
        self.stream.seek(info.header_offset)
        local = self.stream.read(_ZIP_LOCAL_HEADER_BYTES)
        if len(local) != _ZIP_LOCAL_HEADER_BYTES or local[:4] != b"PK\x03\x04":
            raise GraphFormatError(self.path, f"array {key!r} has a bad zip header")
        name_bytes, extra_bytes = struct.unpack("<HH", local[26:30])
        member_start = info.header_offset + _ZIP_LOCAL_HEADER_BYTES
        member_start += name_bytes + extra_bytes
        if member_start + info.compress_size > self.file_bytes:
            raise GraphFormatError(
                self.path, f"array {key!r} runs past the end of the file"
            )
        self.stream.seek(member_start)
        shape = self._header(self.stream, key, expected)
        data_start = self.stream.tell()
        nbytes = shape * expected.itemsize
        if data_start + nbytes != member_start + info.compress_size:
            raise GraphFormatError(
                self.path,
                f"array {key!r}: {nbytes} data bytes do not fill its "
                f"{info.compress_size}-byte member",
            )
        if nbytes == 0:
            return np.zeros(0, expected)
        if data_start % expected.itemsize:
            logger.debug("%s: %s is not aligned; reading it", self.path, key)
            return None
        # Map through the open file, not its name: a save that replaces the
        # file meanwhile must not swap the bytes under what was just checked.
        mapped = np.memmap(
            self.stream, expected, mode="r", offset=data_start, shape=(shape,)
        )
        return np.asarray(mapped)

    def _header(self, member, key, expected):
        """Parse a ``.npy`` header and return the length of the 1-D array."""
        version = np.lib.format.read_magic(member)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(member)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(member)
        else:
            raise GraphFormatError(
                self.path, f"array {key!r} has .npy format version {version}"
            )
        if dtype != expected or dtype.hasobject:
            raise GraphFormatError(
                self.path,
                f"array {key!r} has dtype {dtype.str} ({dtype}); expected "
                f"{expected.str} ({expected})",
            )
        if len(shape) != 1 or shape[0] < 0:
            raise GraphFormatError(
                self.path, f"array {key!r} has shape {shape}; expected one dimension"
            )
        return int(shape[0])


def _check_npz_marker(path, marker, version):
    if marker.tobytes() != _FORMAT_MARKER.encode("ascii"):
        raise GraphFormatError(
            path,
            f"array 'format' is {marker.tobytes()[:40]!r}; expected "
            f"{_FORMAT_MARKER!r}: this is not an engram-actors graph",
        )
    if version.shape != (1,) or int(version[0]) != _FORMAT_VERSION:
        raise GraphFormatError(
            path,
            f"array 'version' is {version.tolist()}; this library reads "
            f"version {_FORMAT_VERSION}",
        )


def _npz_labels(path, blob, offsets, num_nodes):
    """Decode the labels from their byte blob and offsets, checking both."""
    if num_nodes < 1:
        return None  # Graph's own checks explain what is wrong with indptr
    if offsets.shape[0] != num_nodes + 1:
        raise GraphFormatError(
            path,
            f"array 'label_offsets' has {offsets.shape[0]} entries; the graph "
            f"has {num_nodes} nodes, so it needs {num_nodes + 1}",
        )
    steps = np.diff(offsets)
    if offsets[0] != 0 or offsets[-1] != blob.shape[0] or (steps < 0).any():
        raise GraphFormatError(
            path,
            "array 'label_offsets' must rise from 0 to the length of "
            f"'label_bytes' ({blob.shape[0]})",
        )
    data = blob.tobytes()
    bounds = offsets.tolist()
    labels = []
    for node in range(num_nodes):
        try:
            labels.append(data[bounds[node] : bounds[node + 1]].decode("utf-8"))
        except UnicodeDecodeError:
            raise GraphFormatError(
                path, f"array 'label_bytes': label of node {node} is not UTF-8"
            ) from None
    return labels


def _graph_from_csr(path, indptr, indices, weights, labels, checked_in_place=False):
    """Build a graph from loaded arrays; any GraphError names the file.

    Mapped arrays are checked by a compiled pass that copies nothing, and
    only on failure go through ``Graph``'s own checks for the message;
    every other array goes straight through ``Graph``'s checks.
    """
    try:
        if checked_in_place and _csr_is_valid(indptr, indices, weights):
            return Graph(indptr, indices, weights, labels, validate=False)
        return Graph(indptr, indices, weights, labels)
    except GraphError as exc:
        raise GraphFormatError(path, str(exc)) from exc


@nb.njit(cache=True, nogil=True)
def _csr_is_valid(indptr, indices, weights):
    """Whether CSR arrays pass every check of ``Graph``, without copying."""
    n = indptr.shape[0] - 1
    m = indices.shape[0]
    if n < 1 or n > MAX_NODES or indptr[0] != 0 or indptr[n] != m:
        return False
    if weights.shape[0] != m:
        return False
    for u in range(n):
        if indptr[u + 1] < indptr[u]:
            return False
    for p in range(m):
        if indices[p] < 0 or indices[p] >= n:
            return False
    for p in range(m):
        # Written so that NaN fails too.
        if not (weights[p] >= 0.0 and weights[p] < np.inf):
            return False
    return True


# -- msgpack ------------------------------------------------------------------

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


def save_msgpack(graph, path):
    """Write a graph as one msgpack map.

    Keys: ``format`` (str ``engram-actors graph``), ``version`` (int, 1),
    ``num_nodes`` and ``num_edges`` (int), ``indptr``, ``indices`` and
    ``weights`` (bin: the raw little-endian int64, int32 and float32 bytes)
    and, for a labelled graph only, ``labels`` (array of str, one per node,
    in id order).
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


def load_msgpack(path):
    """Read a graph written by :func:`save_msgpack`.

    Every length the file declares is capped at the file's size before
    anything is allocated, nothing but plain msgpack types is accepted (no
    extension types, no pickle), and each key's type and size are checked
    before any array is built.

    Raises
    ------
    GraphFormatError
        Naming the file and the key that is missing, of the wrong type or
        of the wrong size, or saying why the bytes are not msgpack.
    """
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
    return _graph_from_msgpack(path, document)


def _graph_from_msgpack(path, document):
    if not isinstance(document, dict):
        raise GraphFormatError(
            path, f"the top level is a {type(document).__name__}; expected a map"
        )
    for key in document:
        if key not in _MSGPACK_KEYS and key != "labels":
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
    return _graph_from_csr(path, *arrays, labels)


# -- text edge lists: writing -------------------------------------------------

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
    float32, so ``load(save(g))`` gives bit-identical arrays.

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


_POW10_BIAS = 64
#: 10**k as the nearest float64, for k in [-64, 64]; exact for |k| <= 22.
_POW10 = np.array([float(f"1e{k}") for k in range(-_POW10_BIAS, _POW10_BIAS + 1)])
_INT_POW10 = np.array([10**k for k in range(19)], np.int64)
#: 10**22 is the largest power of ten that is exact in float64.
_EXACT_POW10_MAX = 22


@nb.njit(cache=True, nogil=True)
def _format_edge_lines(
    indptr,
    indices,
    weights,
    first_row,
    first_edge,
    last_edge,
    label_bytes,
    label_offsets,
    out,
):
    """Write edges ``first_edge .. last_edge - 1`` as text lines into ``out``.

    Returns the number of bytes written. Nodes are labels when
    ``label_offsets`` is not empty, else decimal ids.
    """
    labelled = label_offsets.shape[0] > 0
    u = first_row
    pos = 0
    for e in range(first_edge, last_edge):
        while indptr[u + 1] <= e:
            u += 1
        pos = _write_node(u, labelled, label_bytes, label_offsets, out, pos)
        out[pos] = 32
        pos = _write_node(
            indices[e], labelled, label_bytes, label_offsets, out, pos + 1
        )
        out[pos] = 32
        pos = _write_weight(weights[e], out, pos + 1)
        out[pos] = 10
        pos += 1
    return pos


@nb.njit(cache=True, nogil=True)
def _write_node(node, labelled, label_bytes, label_offsets, out, pos):
    if not labelled:
        return _write_digits(np.int64(node), _count_digits(np.int64(node)), out, pos)
    for q in range(label_offsets[node], label_offsets[node + 1]):
        out[pos] = label_bytes[q]
        pos += 1
    return pos


@nb.njit(cache=True, nogil=True)
def _count_digits(value):
    digits = 1
    while value >= 10:
        value //= 10
        digits += 1
    return digits


@nb.njit(cache=True, nogil=True)
def _write_digits(value, digits, out, pos):
    """Write the ``digits`` lowest decimal digits of ``value``, zero-padded."""
    for i in range(digits - 1, -1, -1):
        out[pos + i] = 48 + value % 10
        value //= 10
    return pos + digits


@nb.njit(cache=True, nogil=True)
def _write_weight(weight, out, pos):
    """Write a float32 with the fewest digits that parse back to it.

    A candidate of ``p`` significant digits, ``m * 10**t``, is accepted when
    the float64 nearest to it rounds to ``weight`` in float32, which is
    exactly what the loader computes (decimal to float64, correctly rounded,
    then to float32). With ``|t| <= 22`` both ``m`` and ``10**t`` are exact
    in float64, so one multiplication or division gives that nearest
    float64 and the test is exact. Nine digits always round-trip a float32
    (even off by one in the last digit, the text stays within a quarter of
    a float32 step), so when no shorter candidate can be tested exactly,
    nine are written.
    """
    x = np.float64(weight)
    if x < 0.0 or (x == 0.0 and math.copysign(1.0, x) < 0.0):
        out[pos] = 45  # "-"; only -0.0 can get here, graph weights are >= 0
        pos += 1
        x = -x
    if x == 0.0:
        out[pos] = 48
        return pos + 1

    # Decimal exponent k with x = d.ddd... * 10**k; log10 can be off by one.
    k = int(math.floor(math.log10(x)))
    for _ in range(3):
        scaled = math.floor(x * _POW10[8 - k + _POW10_BIAS] + 0.5)
        if scaled < 1e8:
            k -= 1
        elif scaled > 1e9:
            k += 1
        else:
            break

    digits = 9
    mantissa = np.int64(0)
    exponent = k
    for p in range(1, 10):
        m = np.int64(math.floor(x * _POW10[p - 1 - k + _POW10_BIAS] + 0.5))
        e = k
        if m >= _INT_POW10[p]:  # rounding carried into a new digit
            m //= 10
            e = k + 1
        if p == 9:
            digits, mantissa, exponent = p, m, e
            break
        t = e - p + 1
        if -_EXACT_POW10_MAX <= t <= _EXACT_POW10_MAX:
            if t >= 0:
                nearest = np.float64(m) * _POW10[t + _POW10_BIAS]
            else:
                nearest = np.float64(m) / _POW10[-t + _POW10_BIAS]
            if np.float32(nearest) == weight:
                digits, mantissa, exponent = p, m, e
                break
    while digits > 1 and mantissa % 10 == 0:
        mantissa //= 10
        digits -= 1
    return _write_decimal(mantissa, digits, exponent, out, pos)


@nb.njit(cache=True, nogil=True)
def _write_decimal(mantissa, digits, exponent, out, pos):
    """Write ``d.ddd * 10**exponent`` the way Python's ``repr`` lays it out."""
    if 0 <= exponent < 16:
        whole = exponent + 1
        if digits <= whole:
            pos = _write_digits(mantissa, digits, out, pos)
            for _ in range(whole - digits):
                out[pos] = 48
                pos += 1
            return pos
        pos = _write_digits(mantissa // _INT_POW10[digits - whole], whole, out, pos)
        out[pos] = 46
        return _write_digits(mantissa, digits - whole, out, pos + 1)
    if -4 <= exponent < 0:
        out[pos] = 48
        out[pos + 1] = 46
        pos += 2
        for _ in range(-exponent - 1):
            out[pos] = 48
            pos += 1
        return _write_digits(mantissa, digits, out, pos)
    pos = _write_digits(mantissa // _INT_POW10[digits - 1], 1, out, pos)
    if digits > 1:
        out[pos] = 46
        pos = _write_digits(mantissa, digits - 1, out, pos + 1)
    out[pos] = 101  # "e"
    out[pos + 1] = 45 if exponent < 0 else 43
    magnitude = np.int64(abs(exponent))
    return _write_digits(magnitude, max(2, _count_digits(magnitude)), out, pos + 2)


# -- text edge lists: reading -------------------------------------------------

_UTF8_BOM = b"\xef\xbb\xbf"
#: A weight token longer than this is refused rather than gathered: it bounds
#: the fixed-width buffer the weights are converted through.
_MAX_WEIGHT_CHARS = 256
#: Weight tokens converted per numpy call.
_WEIGHT_CHUNK = 1 << 20

# Outcomes of the scan, in the order a message table below follows.
_SCAN_OK = 0
_SCAN_LABELLED = 1  # a node field is a label: scan again in labelled mode
_E_TOO_FEW = 2
_E_TOO_MANY = 3
_E_EMPTY_FIELD = 4
_E_NEGATIVE_ID = 5
_E_SIGNED_ID = 6
_E_ID_TOO_LARGE = 7
_E_BAD_WEIGHT = 8
_E_WEIGHT_NAN = 9
_E_WEIGHT_INF = 10
_E_WEIGHT_TOO_LONG = 11
_E_BAD_NODE_COUNT = 12
_E_NODE_COUNT_CONFLICT = 13
_E_BAD_DECLARATION = 14
_E_NEGATIVE_WEIGHT = 15
_E_WEIGHT_OVERFLOW = 16

# Field numbers the scan reports; names as in the messages.
_FIELD_NAMES = ("src", "dst", "weight", "nodes", "node")
_FIELD_NODES = 3
_FIELD_NODE = 4

# What _parse_node_id makes of a node field besides an error status.
_ID_OK = 0
_ID_LABEL = -1


def _ascii(word):
    return np.frombuffer(word.encode("ascii"), np.uint8).copy()


_NODES_DIRECTIVE = _ascii("# nodes:")
_NODE_DIRECTIVE = _ascii("# node:")
_NAN_WORD = _ascii("nan")
_INF_WORD = _ascii("inf")
_INFINITY_WORD = _ascii("infinity")
_AUTO_DELIMITER = -1


def load_edgelist(path, *, delimiter=None, num_nodes=None, duplicates="sum"):
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
    (``0.5``, ``2``, ``1e-3``), finite, non-negative and within float32.

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
    scan = _EdgeScan(path, text, start, code)
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
            src, dst, weights, num_nodes=count, labels=labels, duplicates=duplicates
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

    def __init__(self, path, text, start, delimiter):
        self.path = path
        self.text = text
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
                f"weight {token} is negative; association weights must be >= 0"
            ),
            _E_WEIGHT_OVERFLOW: (
                f"weight {token} overflows float32; association weights must be finite"
            ),
            _E_WEIGHT_NAN: (
                f"weight {token!r} is NaN; association weights must be finite and >= 0"
            ),
            _E_WEIGHT_INF: (
                f"weight {token!r} is infinite; association weights must be "
                "finite and >= 0"
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
        return declared

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
            for bad, status in (
                (values < 0, _E_NEGATIVE_WEIGHT),
                (~np.isfinite(as32), _E_WEIGHT_OVERFLOW),
            ):
                if bad.any():
                    at = int(np.flatnonzero(bad)[0])
                    line = int(self.edge_line[edges[at]])
                    self._raise(status, line, 2, starts[at], ends[at], 0, 0, 0)
            self.weight[edges] = as32
        return self.weight


@nb.njit(cache=True, nogil=True)
def _first_invalid_utf8(text, start):
    """Offset of the first byte that breaks UTF-8, or -1 when all is well.

    Refuses overlong forms, surrogates and code points above U+10FFFF, as
    Python's strict decoder does.
    """
    n = text.shape[0]
    p = start
    while p < n:
        lead = text[p]
        if lead < 0x80:
            p += 1
            continue
        if lead < 0xC2:
            return p
        if lead < 0xE0:
            follow, low, high = 1, 0x80, 0xBF
        elif lead < 0xF0:
            follow = 2
            low = 0xA0 if lead == 0xE0 else 0x80
            high = 0x9F if lead == 0xED else 0xBF
        elif lead < 0xF5:
            follow = 3
            low = 0x90 if lead == 0xF0 else 0x80
            high = 0x8F if lead == 0xF4 else 0xBF
        else:
            return p
        if p + follow >= n or text[p + 1] < low or text[p + 1] > high:
            return p
        for q in range(p + 2, p + follow + 1):
            if text[q] & 0xC0 != 0x80:
                return p
        p += follow + 1
    return -1


@nb.njit(cache=True, nogil=True)
def _count_lines(text):
    count = 1
    for p in range(text.shape[0]):
        if text[p] == 10:
            count += 1
    return count


@nb.njit(cache=True, nogil=True)
def _is_blank(byte):
    """Space, tab, vertical tab, form feed or carriage return."""
    return byte == 32 or byte == 9 or byte == 11 or byte == 12 or byte == 13


@nb.njit(cache=True, nogil=True)
def _split_fields(text, lo, hi, delimiter, spans):
    """Split ``text[lo:hi]`` (one line, comment cut off) into fields.

    Stores the first four fields' ``[start, end)`` in ``spans`` and returns
    how many fields there are: 0 for a blank line, ``-(i + 1)`` when field
    ``i`` is empty (two delimiters in a row, or one at either end).
    """
    count = 0
    if delimiter < 0:
        p = lo
        while p < hi and _is_blank(text[p]):
            p += 1
        if p == hi:
            return 0
        while True:
            if text[p] == 44:
                return -(count + 1)
            s = p
            while p < hi and not _is_blank(text[p]) and text[p] != 44:
                p += 1
            if count < 4:
                spans[count, 0] = s
                spans[count, 1] = p
            count += 1
            while p < hi and _is_blank(text[p]):
                p += 1
            if p == hi:
                return count
            if text[p] == 44:
                p += 1
                while p < hi and _is_blank(text[p]):
                    p += 1
                if p == hi:
                    return -(count + 1)

    p = lo
    while p < hi and _is_blank(text[p]):
        p += 1
    if p == hi:
        return 0
    p = lo
    while True:
        e = p
        while e < hi and text[e] != delimiter:
            e += 1
        s, t = p, e
        while s < t and _is_blank(text[s]) and text[s] != delimiter:
            s += 1
        while t > s and _is_blank(text[t - 1]) and text[t - 1] != delimiter:
            t -= 1
        if s == t:
            return -(count + 1)
        if count < 4:
            spans[count, 0] = s
            spans[count, 1] = t
        count += 1
        if e == hi:
            return count
        p = e + 1


@nb.njit(cache=True, nogil=True)
def _parse_node_id(text, s, e):
    """Read a node field as an id: ``(_ID_OK, id)``, ``(_ID_LABEL, 0)`` when
    it is not a number, or ``(error status, 0)`` for a number that is not a
    valid id (signed, or too large)."""
    p = s
    sign = 0
    if text[p] == 45 or text[p] == 43:
        sign = text[p]
        p += 1
    if p == e:
        return _ID_LABEL, 0
    value = 0
    large = False
    for q in range(p, e):
        digit = text[q] - 48
        if digit < 0 or digit > 9:
            return _ID_LABEL, 0
        if not large:
            value = value * 10 + digit
            large = value >= MAX_NODES
    if sign == 45:
        return _E_NEGATIVE_ID, 0
    if sign == 43:
        return _E_SIGNED_ID, 0
    if large:
        return _E_ID_TOO_LARGE, 0
    return _ID_OK, value


@nb.njit(cache=True, nogil=True)
def _parse_count(text, s, e):
    """A plain decimal integer from 0 to MAX_NODES, or -1."""
    if s == e:
        return -1
    value = 0
    for q in range(s, e):
        digit = text[q] - 48
        if digit < 0 or digit > 9:
            return -1
        value = value * 10 + digit
        if value > MAX_NODES:
            return -1
    return value


@nb.njit(cache=True, nogil=True)
def _is_word(text, s, e, word):
    """Whether ``text[s:e]`` spells the lower-case ASCII ``word``, any case."""
    if e - s != word.shape[0]:
        return False
    for i in range(e - s):
        if text[s + i] | 0x20 != word[i]:
            return False
    return True


@nb.njit(cache=True, nogil=True)
def _weight_status(text, s, e):
    """``_SCAN_OK`` for a decimal number, else the error status.

    Accepts ``[+-](digits[.digits] | .digits)[(e|E)[+-]digits]``, a part of
    what numpy's float parsing reads, so that the conversion cannot fail.
    """
    if e - s > _MAX_WEIGHT_CHARS:
        return _E_WEIGHT_TOO_LONG
    p = s
    if text[p] == 43 or text[p] == 45:
        p += 1
    if _is_word(text, p, e, _NAN_WORD):
        return _E_WEIGHT_NAN
    if _is_word(text, p, e, _INF_WORD) or _is_word(text, p, e, _INFINITY_WORD):
        return _E_WEIGHT_INF
    digits = 0
    while p < e and 48 <= text[p] <= 57:
        p += 1
        digits += 1
    if p < e and text[p] == 46:
        p += 1
        while p < e and 48 <= text[p] <= 57:
            p += 1
            digits += 1
    if digits == 0:
        return _E_BAD_WEIGHT
    if p < e and (text[p] == 101 or text[p] == 69):
        p += 1
        if p < e and (text[p] == 43 or text[p] == 45):
            p += 1
        exponent_digits = 0
        while p < e and 48 <= text[p] <= 57:
            p += 1
            exponent_digits += 1
        if exponent_digits == 0:
            return _E_BAD_WEIGHT
    return _SCAN_OK if p == e else _E_BAD_WEIGHT


@nb.njit(cache=True, nogil=True)
def _starts_with(text, lo, hi, prefix):
    if hi - lo < prefix.shape[0]:
        return False
    for i in range(prefix.shape[0]):
        if text[lo + i] != prefix[i]:
            return False
    return True


@nb.njit(cache=True, nogil=True)
def _directive_value(text, lo, hi):
    """The stripped text after a header keyword, up to any further '#'."""
    end = lo
    while end < hi and text[end] != 35:
        end += 1
    while lo < end and _is_blank(text[lo]):
        lo += 1
    while end > lo and _is_blank(text[end - 1]):
        end -= 1
    return lo, end


@nb.njit(cache=True, nogil=True)
def _scan_edge_list(
    text,
    start,
    delimiter,
    labelled,
    src_id,
    dst_id,
    node_span,
    edge_token,
    weight,
    slow_weight,
    edge_line,
):
    """Tokenise an edge list in one pass over its bytes.

    In id mode (``labelled`` false) node fields are parsed into ``src_id``
    and ``dst_id``; the first field that is not a number ends the scan with
    ``_SCAN_LABELLED``. In labelled mode every node field's span goes to
    ``node_span`` in file order. Both modes store each edge's line and
    weight (1.0 when absent), or for a weight the fast path leaves to numpy
    NaN in ``weight`` and ``(edge, start, end)`` in ``slow_weight``.

    Returns ``(status, edges, tokens, line, field, start, end, detail,
    node_count, node_count_line, slow)``: the outcome, the counts found,
    and for an error its line, field number, token span and a number (a
    field count); then the ``# nodes:`` value (-1 if none), its line, and
    the number of weights left to numpy. Errors
    that only hold for ids (a sign, too large) are kept until the end, as a
    later label would make the file labelled and them labels.
    """
    n = text.shape[0]
    spans = np.empty((4, 2), np.int64)
    status = _SCAN_OK
    edges = 0
    tokens = 0
    line = 0
    err_field, err_lo, err_hi, detail = -1, 0, 0, 0
    node_count, node_count_line = -1, 0
    held_status, held_line, held_field, held_lo, held_hi = _SCAN_OK, 0, -1, 0, 0
    slow = 0
    pos = start
    while pos < n and status == _SCAN_OK:
        line += 1
        eol = pos
        while eol < n and text[eol] != 10:
            eol += 1
        lo, hi = pos, eol
        pos = eol + 1

        if text[lo] == 35:
            if _starts_with(text, lo, hi, _NODES_DIRECTIVE):
                s, e = _directive_value(text, lo + _NODES_DIRECTIVE.shape[0], hi)
                value = _parse_count(text, s, e)
                if value < 0:
                    status, err_field = _E_BAD_NODE_COUNT, _FIELD_NODES
                    err_lo, err_hi = s, e
                elif node_count >= 0 and value != node_count:
                    status, err_field = _E_NODE_COUNT_CONFLICT, _FIELD_NODES
                    err_lo, err_hi = s, e
                else:
                    node_count, node_count_line = value, line
            elif _starts_with(text, lo, hi, _NODE_DIRECTIVE):
                if not labelled:
                    status = _SCAN_LABELLED
                    break
                s, e = _directive_value(text, lo + _NODE_DIRECTIVE.shape[0], hi)
                if _split_fields(text, s, e, delimiter, spans) != 1:
                    status, err_field = _E_BAD_DECLARATION, _FIELD_NODE
                    err_lo, err_hi = s, e
                else:
                    node_span[tokens, 0] = s
                    node_span[tokens, 1] = e
                    tokens += 1
            continue

        comment = lo
        while comment < hi and text[comment] != 35:
            comment += 1
        count = _split_fields(text, lo, comment, delimiter, spans)
        if count == 0:
            continue
        if count < 0:
            status, err_field = _E_EMPTY_FIELD, -count - 1
            break
        if count < 2 or count > 3:
            status = _E_TOO_FEW if count < 2 else _E_TOO_MANY
            detail = count
            break

        if count == 3:
            s, e = spans[2, 0], spans[2, 1]
            status = _weight_status(text, s, e)
            value = _quick_decimal(text, s, e) if status == _SCAN_OK else 0.0
            if np.isnan(value):
                slow_weight[slow, 0] = edges
                slow_weight[slow, 1] = s
                slow_weight[slow, 2] = e
                slow += 1
            elif value < 0.0:
                status = _E_NEGATIVE_WEIGHT
            elif np.isinf(np.float32(value)):
                status = _E_WEIGHT_OVERFLOW
            if status != _SCAN_OK:
                err_field, err_lo, err_hi = 2, s, e
                break
            weight[edges] = value
        else:
            weight[edges] = 1.0

        if labelled:
            for f in range(2):
                node_span[tokens + f, 0] = spans[f, 0]
                node_span[tokens + f, 1] = spans[f, 1]
            edge_token[edges] = tokens
            tokens += 2
        else:
            for f in range(2):
                kind, value = _parse_node_id(text, spans[f, 0], spans[f, 1])
                if kind == _ID_LABEL:
                    status = _SCAN_LABELLED
                    break
                if kind != _ID_OK and held_status == _SCAN_OK:
                    held_status = kind
                    held_line, held_field = line, f
                    held_lo, held_hi = spans[f, 0], spans[f, 1]
                if f == 0:
                    src_id[edges] = value
                else:
                    dst_id[edges] = value
            if status != _SCAN_OK:
                break
        edge_line[edges] = line
        edges += 1

    if status == _SCAN_OK and held_status != _SCAN_OK:
        status, line, err_field = held_status, held_line, held_field
        err_lo, err_hi = held_lo, held_hi
    return (
        status,
        edges,
        tokens,
        line,
        err_field,
        err_lo,
        err_hi,
        detail,
        node_count,
        node_count_line,
        slow,
    )


#: The label table doubles when more than this share of its slots is used.
_LABEL_TABLE_LOAD = 0.5


@nb.njit(cache=True, nogil=True)
def _label_ids(text, node_span):
    """Number distinct tokens in order of first appearance.

    Returns each token's id (int32) and, per id, the index of its first
    token. An open-addressing hash table keyed by each token's 64-bit hash
    holds the ids; a hash match is confirmed by comparing the bytes, so
    colliding labels stay apart. A table row holds the id, the hash and the
    first token's span together, so that a probe loads one cache line.
    """
    tokens = node_span.shape[0]
    ids = np.empty(tokens, np.int32)
    first_token = np.empty(16, np.int64)
    table = _empty_label_table(1 << 10)
    count = 0
    for t in range(tokens):
        s, e = node_span[t, 0], node_span[t, 1]
        h = _token_hash(text, s, e)
        slot = _find_slot(text, table, h, s, e)
        if table[slot, _ROW_ID] >= 0:
            ids[t] = table[slot, _ROW_ID]
            continue
        if count == first_token.shape[0]:
            grown = np.empty(2 * count, np.int64)
            grown[:count] = first_token
            first_token = grown
        table[slot, _ROW_ID] = count
        table[slot, _ROW_HASH] = h
        table[slot, _ROW_START] = s
        table[slot, _ROW_END] = e
        first_token[count] = t
        ids[t] = count
        count += 1
        if count > _LABEL_TABLE_LOAD * table.shape[0]:
            table = _grown_label_table(table)
    return ids, first_token[:count].copy()


# Columns of a label table row; the hash is stored as int64 bits.
_ROW_ID = 0
_ROW_HASH = 1
_ROW_START = 2
_ROW_END = 3


@nb.njit(cache=True, nogil=True)
def _empty_label_table(rows):
    table = np.zeros((rows, 4), np.int64)
    table[:, _ROW_ID] = -1
    return table


@nb.njit(cache=True, nogil=True)
def _find_slot(text, table, h, s, e):
    """The row holding the token ``text[s:e]``, or the empty row for it."""
    mask = table.shape[0] - 1
    slot = h & mask
    while table[slot, _ROW_ID] >= 0:
        if table[slot, _ROW_HASH] == h and _same_bytes(
            text, s, e, table[slot, _ROW_START], table[slot, _ROW_END]
        ):
            break
        slot = (slot + 1) & mask
    return slot


@nb.njit(cache=True, nogil=True)
def _grown_label_table(table):
    grown = _empty_label_table(2 * table.shape[0])
    mask = grown.shape[0] - 1
    for old in range(table.shape[0]):
        if table[old, _ROW_ID] >= 0:
            slot = table[old, _ROW_HASH] & mask
            while grown[slot, _ROW_ID] >= 0:
                slot = (slot + 1) & mask
            grown[slot, :] = table[old, :]
    return grown


@nb.njit(cache=True, nogil=True)
def _token_hash(text, s, e):
    """FNV-1a over the bytes and a final mix, so the low bits vary too;
    returned as non-negative int64 bits, ready to mask."""
    h = np.uint64(14695981039346656037)
    for q in range(s, e):
        h ^= np.uint64(text[q])
        h *= np.uint64(1099511628211)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    return np.int64(h >> np.uint64(1))


@nb.njit(cache=True, nogil=True)
def _same_bytes(text, s, e, other_s, other_e):
    if other_e - other_s != e - s:
        return False
    for i in range(e - s):
        if text[s + i] != text[other_s + i]:
            return False
    return True


#: Significant digits the quick path reads; 18 always fit in int64.
_QUICK_DIGITS = 18


@nb.njit(cache=True, nogil=True)
def _quick_decimal(text, s, e):
    """The float64 nearest to a decimal token, or NaN to ask for numpy.

    The token is ``significand * 10**power``. When the significand is at
    most 2**53 and ``|power| <= 22`` both are exact in float64, so one
    multiplication or division rounds correctly (the classic fast path of
    decimal conversion). The token has passed ``_weight_status``.
    """
    p = s
    negative = text[p] == 45
    if text[p] == 45 or text[p] == 43:
        p += 1
    significand = np.int64(0)
    digits = 0
    power = 0
    in_fraction = False
    while p < e and text[p] != 101 and text[p] != 69:
        if text[p] == 46:
            in_fraction = True
        else:
            if significand > 0 or text[p] != 48:
                if digits == _QUICK_DIGITS:
                    return np.nan
                significand = significand * 10 + (text[p] - 48)
                digits += 1
            if in_fraction:
                power -= 1
        p += 1
    if p < e:
        p += 1
        exponent_negative = text[p] == 45
        if text[p] == 45 or text[p] == 43:
            p += 1
        exponent = 0
        while p < e:
            if exponent < 100000:
                exponent = exponent * 10 + (text[p] - 48)
            p += 1
        power += -exponent if exponent_negative else exponent
    if significand == 0:
        return -0.0 if negative else 0.0
    if significand > 2**53 or power < -_EXACT_POW10_MAX or power > _EXACT_POW10_MAX:
        return np.nan
    if power >= 0:
        value = np.float64(significand) * _POW10[power + _POW10_BIAS]
    else:
        value = np.float64(significand) / _POW10[-power + _POW10_BIAS]
    return -value if negative else value


@nb.njit(cache=True, nogil=True)
def _gather_tokens(text, starts, ends, width):
    """Copy tokens into rows of ``width`` bytes, zero-padded (numpy's "S")."""
    out = np.zeros((starts.shape[0], width), np.uint8)
    for i in range(starts.shape[0]):
        for q in range(starts[i], ends[i]):
            out[i, q - starts[i]] = text[q]
    return out


_SAVERS = {"npz": save_npz, "edgelist": save_edgelist, "msgpack": save_msgpack}
_LOADERS = {"npz": load_npz, "edgelist": load_edgelist, "msgpack": load_msgpack}
