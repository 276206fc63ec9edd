"""What every format shares: atomic replacement, encodings, load checks.

::

    save_npz / save_edgelist / save_msgpack
        |  with _replacing(path) as stream: write the bytes
        v
    .name.<random>.tmp --flush, fsync--> os.replace -> name, fsync folder

    load_npz / load_edgelist
        |  a size the file declares (a .npy shape, a node count) is held
        |  against _memory_available() before anything that size exists
        v
    arrays --> _graph_from_csr --> Graph(...); a GraphError becomes a
                                   GraphFormatError that names the file

Writing: ``_replacing`` and ``_sync_folder``. Encoding, as every writer lays
arrays out: ``_encode_labels`` and ``_as_little_endian``. Reading:
``_graph_from_csr`` with its compiled check ``_csr_is_valid`` (npz and
msgpack), and ``_memory_available`` with ``_memory_error`` for a declared
size that memory cannot hold (npz and edge lists; msgpack caps every
declared length at the file's size instead).
"""

import contextlib
import os
import secrets

import numba as nb
import numpy as np
import psutil

from ..errors import GraphError, GraphFormatError
from ..graph import MAX_NODES, Graph

#: Written into every native file and checked on load; bump the version
#: whenever a layout changes in a way an older loader would misread.
_FORMAT_MARKER = "engram-actors graph"
_FORMAT_VERSION = 1


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


# -- from loaded arrays to a graph --------------------------------------------


def _graph_from_csr(
    path, indptr, indices, weights, labels, checked_in_place=False, signed=False
):
    """Build a graph from loaded arrays; any GraphError names the file.

    Mapped arrays are checked by a compiled pass that copies nothing, and
    only on failure go through ``Graph``'s own checks for the message;
    every other array goes straight through ``Graph``'s checks. ``signed``
    allows negative weights and makes the graph signed.
    """
    try:
        if checked_in_place and _csr_is_valid(indptr, indices, weights, signed):
            return Graph(
                indptr, indices, weights, labels, validate=False, signed=signed
            )
        return Graph(indptr, indices, weights, labels, signed=signed)
    except GraphError as exc:
        raise GraphFormatError(path, str(exc)) from exc


@nb.njit(cache=True, nogil=True)
def _csr_is_valid(indptr, indices, weights, signed):
    """Whether CSR arrays pass every check of ``Graph``, without copying.

    Weights must be finite, and also >= 0 unless ``signed``.
    """
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
    # Written so that NaN fails too; -0.0 passes, as in ``Graph``.
    if signed:
        for p in range(m):
            if not (weights[p] > -np.inf and weights[p] < np.inf):
                return False
    else:
        for p in range(m):
            if not (weights[p] >= 0.0 and weights[p] < np.inf):
                return False
    return True


def _memory_available():
    """Bytes of memory the system can hand out now without swapping."""
    return psutil.virtual_memory().available


def _memory_error(path, claim, nbytes, available, line=None, field=None):
    """The error for a size the file declares whose arrays memory cannot hold.

    ``claim`` says what the file declares, such as ``declares 5000 nodes``.
    """
    return GraphFormatError(
        path,
        f"{claim}, more than memory holds: {nbytes} bytes needed, "
        f"{available} bytes available",
        line=line,
        field=field,
    )
