"""The native npz format: an uncompressed zip of ``.npy`` members.

::

    save_npz                                 load_npz(path, mmap=...)
      format, version, indptr, indices,        |  _npz_members: exactly the
      weights [, signed] [, label_bytes,       |  expected members
      label_offsets], each through             v
      _write_npz_member: a zip64 local       _NpzReader, per member:
      header padded so that the data           mmap=True, a CSR array, stored
      starts on a multiple of 64 bytes         and aligned: _map, a view of
                                                 the file, nothing copied
                                               else _read: the size in the
                                                 .npy header held against
                                                 memory, then read, checked
                                                   |
                                                   v
                                             _check_npz_marker, _npz_signed,
                                             _npz_labels,
                                             _graph_from_csr -> Graph

``numpy.load`` reads these files too; nothing in them is pickled.
"""

import logging
import os
import struct
import tokenize
import zipfile
from io import BytesIO

import numpy as np

from ..errors import GraphFormatError
from ..graph import _check_signed
from ._shared import (
    _FORMAT_MARKER,
    _FORMAT_VERSION,
    _as_little_endian,
    _check_graph,
    _encode_labels,
    _graph_from_csr,
    _memory_available,
    _memory_error,
    _replacing,
)

logger = logging.getLogger(__name__)

#: Array data inside the archive starts on a multiple of this many bytes, so
#: that memory-mapped arrays are aligned for any dtype and SIMD load.
_NPZ_ALIGN_BYTES = 64
#: Id of the zip "extra field" that pads a local header to that alignment.
#: Zip readers skip extra fields they do not know.
_NPZ_PAD_FIELD_ID = 0xEA64
_ZIP_LOCAL_HEADER_BYTES = 30
# numpy's own limit on a .npy header it will parse safely.
_NPY_HEADER_MAX_BYTES = 10_000
_ZIP64_EXTRA_BYTES = 20

_NPZ_REQUIRED = {
    "format": "|u1",
    "version": "<i8",
    "indptr": "<i8",
    "indices": "<i4",
    "weights": "<f4",
}
_NPZ_LABELS = {"label_offsets": "<i8", "label_bytes": "|u1"}
#: Written only for a signed graph; a file without it is not signed.
_NPZ_SIGNED = {"signed": "|b1"}
_NPZ_DTYPES = {**_NPZ_REQUIRED, **_NPZ_SIGNED, **_NPZ_LABELS}
_NPZ_MAPPABLE = ("indptr", "indices", "weights")


def save_npz(graph, path):
    """Write a graph in the native npz format.

    The archive is uncompressed and holds ``format`` (the ASCII marker
    ``engram-actors graph`` as uint8), ``version`` (int64, ``[1]``),
    ``indptr`` (int64), ``indices`` (int32) and ``weights`` (float32); for
    a signed graph ``signed`` (bool, ``[True]``); and for a labelled graph
    ``label_bytes`` (uint8: every label in UTF-8, back to back) and
    ``label_offsets`` (int64, ``num_nodes + 1``: where each label starts
    and ends in ``label_bytes``). Nothing is pickled.
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
    if graph.signed:
        members["signed"] = np.array([True])
    if graph.labels is not None:
        members["label_bytes"], members["label_offsets"] = _encode_labels(graph.labels)
    with _replacing(path) as stream:
        with zipfile.ZipFile(stream, "w", zipfile.ZIP_STORED) as archive:
            for key, array in members.items():
                dtype = _NPZ_DTYPES[key]
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


def load_npz(path, *, mmap=False, signed=False):
    """Read a graph written by :func:`save_npz`.

    Parameters
    ----------
    path : str or os.PathLike
    mmap : bool
        Map ``indptr``, ``indices`` and ``weights`` read-only straight from
        the file instead of reading them into memory.
    signed : bool
        Allow negative (inhibitory) weights even when the file does not
        record a signed graph. The graph is signed when this is true or the
        file's ``signed`` member is; a file without that member, as every
        file of an unsigned graph and every older file, is not signed.

    Returns
    -------
    Graph

    Raises
    ------
    GraphFormatError
        When the archive is damaged or truncated, a member is missing or
        unexpected, has the wrong dtype or shape, the marker or version is
        wrong, or the arrays do not form a valid graph (a negative weight
        in a graph that is not signed among them). The message names the
        file and the array.

    Notes
    -----
    With ``mmap=True`` the three arrays are ``numpy.memmap`` views into
    the archive: the load finds each member's data through its zip local
    header and its ``.npy`` header and maps that byte range, so the arrays
    cost page cache, shared between processes, instead of private memory.
    The graph is still checked (offsets ascending, ids in range, weights
    finite, and non-negative unless signed) in one sequential pass over the
    mapped pages;
    nothing is copied. The zip CRC of a mapped member is not checked, since
    that would mean reading it for no other purpose; a flipped bit that
    keeps the graph valid goes unnoticed.

    A member that cannot be mapped (compressed, as ``numpy.savez_compressed``
    writes, or whose data is not aligned to its item size, as in archives
    from plain ``numpy.savez``) is read into memory instead; ``mmap=True``
    is a request, not a promise.
    """
    signed = _check_signed(signed)
    with open(path, "rb") as stream:
        try:
            file_bytes = os.fstat(stream.fileno()).st_size
            with zipfile.ZipFile(stream) as archive:
                infos = _npz_members(archive, path)
                reader = _NpzReader(archive, stream, file_bytes, path)
                marker = reader.read(infos["format"], "format")
                version = reader.read(infos["version"], "version")
                _check_npz_marker(path, marker, version)
                if "signed" in infos:
                    flag = reader.read(infos["signed"], "signed")
                    signed = _npz_signed(path, flag) or signed
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
    return _graph_from_csr(
        path, *arrays, labels, checked_in_place=mapped, signed=signed
    )


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
        if key not in _NPZ_DTYPES:
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
        expected = np.dtype(_NPZ_DTYPES[key])
        if info.flag_bits & 0x1:
            raise GraphFormatError(self.path, f"array {key!r} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            # bzip2 and lzma inflate whole blocks before any size can be
            # checked; numpy only ever writes stored or deflated members.
            raise GraphFormatError(
                self.path,
                f"array {key!r} uses zip compression method "
                f"{info.compress_type}; only stored and deflated are read",
            )
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
            # The read below takes up to nbytes at once (inflated, for a
            # compressed member), so a few bytes of header must not claim
            # more than memory holds.
            available = _memory_available()
            if nbytes > available:
                raise _memory_error(
                    self.path,
                    f"array {key!r} declares {shape} values of "
                    f"{expected.itemsize} bytes",
                    nbytes,
                    available,
                )
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
        if version not in ((1, 0), (2, 0)):
            raise GraphFormatError(
                self.path, f"array {key!r} has .npy format version {version}"
            )
        # numpy reads as many header bytes as the file claims (up to 4 GiB
        # in version 2) before it checks them, so check the length first.
        length_format = "<H" if version == (1, 0) else "<I"
        length_bytes = member.read(struct.calcsize(length_format))
        if len(length_bytes) != struct.calcsize(length_format):
            raise GraphFormatError(self.path, f"array {key!r} has a cut header")
        (header_length,) = struct.unpack(length_format, length_bytes)
        if header_length > _NPY_HEADER_MAX_BYTES:
            raise GraphFormatError(
                self.path,
                f"array {key!r} claims a {header_length}-byte .npy header; "
                f"at most {_NPY_HEADER_MAX_BYTES} are allowed",
            )
        header = BytesIO(length_bytes + member.read(header_length))
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(header)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(header)
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


def _npz_signed(path, flag):
    """The ``signed`` member's one value, checked to be exactly 0 or 1."""
    raw = flag.view(np.uint8)
    if raw.shape != (1,) or int(raw[0]) > 1:
        raise GraphFormatError(
            path,
            f"array 'signed' holds the bytes {raw.tolist()[:4]}; expected one "
            "bool, [True] or [False]",
        )
    return bool(raw[0])


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
