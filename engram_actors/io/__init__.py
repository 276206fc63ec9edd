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

::

    suffix of the path                 format     module
    .npz ----------------------------> npz        npz.py
    .txt .tsv .csv .edges .el -------> edgelist   edgelist.py
    .msgpack .mpk -------------------> msgpack    msgpack_format.py
    anything else, or no suffix -----> GraphFormatError, unless format=
                                       names one of FORMATS

Each format's module owns its writer and its reader. ``_shared.py`` owns
what they have in common: the temporary-file-and-replace writing, labels
as UTF-8 bytes, little-endian arrays, the memory check on sizes a file
declares, and turning loaded arrays into a ``Graph``.
``_edgelist_kernels.py`` holds the compiled loops that format and scan
edge-list text.

``docs/formats.md`` gives each layout byte by byte, what a load checks, and
measured speeds.
"""

import os

from ..errors import GraphError, GraphFormatError
from ._shared import _check_graph
from .edgelist import load_edgelist, save_edgelist
from .msgpack_format import load_msgpack, save_msgpack
from .npz import load_npz, save_npz

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


def load(path, format=None, *, mmap=False, signed=False):
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
    signed : bool
        Accept negative (inhibitory) weights and return a signed graph.
        npz and msgpack files record whether their graph is signed, and
        one that does loads signed without this; an edge list does not
        record it, so one with negative weights loads only with it.

    Returns
    -------
    Graph

    Raises
    ------
    GraphFormatError
        When the file is malformed; the message names the file and the
        line and field, or the array or key, that is wrong. A negative
        weight, unless the file records a signed graph or ``signed`` is
        true, is refused with a message that says how to allow it.
    """
    kind = _format_of(path, format)
    if kind == "npz":
        return load_npz(path, mmap=mmap, signed=signed)
    if mmap:
        raise GraphError(
            f"mmap=True needs the npz format; {os.fspath(path)} is read as {kind}"
        )
    return _LOADERS[kind](path, signed=signed)


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


_SAVERS = {"npz": save_npz, "edgelist": save_edgelist, "msgpack": save_msgpack}
_LOADERS = {"npz": load_npz, "edgelist": load_edgelist, "msgpack": load_msgpack}
