"""Turning what a user gives as cues into sorted id and activation arrays."""

from collections.abc import Mapping

import numpy as np

from .errors import CueError, UnknownNodeError

__all__ = ["resolve_cues"]


def _check_activation(values, describe):
    bad = ~(np.isfinite(values) & (values >= 0))
    if bad.any():
        at = int(np.flatnonzero(bad)[0])
        raise CueError(
            f"cue activation of {describe(at)} is {values[at]}; cue activations "
            "must be finite and >= 0"
        )


def resolve_cues(graph, cues):
    """Check cues and return (ids, activation): ids ascending and distinct.

    Parameters
    ----------
    graph : Graph
    cues : mapping or (ids, activation) pair
        A mapping from node id (int) or label (str) to activation, or two
        aligned arrays for large cue sets. A node given more than once (by
        id and by label, or twice in the arrays) gets the float32 sum of
        its activations, added in the order given.

    Returns
    -------
    ids : ndarray of int32
    activation : ndarray of float32

    Raises
    ------
    UnknownNodeError
        For an id or label the graph does not have.
    CueError
        For an empty cue set, mismatched arrays, or an activation that is
        negative, NaN or infinite.
    """
    if isinstance(cues, Mapping):
        keys = list(cues)
        ids = np.fromiter((graph.node_id(key) for key in keys), np.int64, len(keys))
        try:
            values = np.array([cues[key] for key in keys], np.float64)
        except (TypeError, ValueError):
            bad = next(k for k in keys if not _is_number(cues[k]))
            raise CueError(
                f"cue activation of {bad!r} is {cues[bad]!r}; expected a number"
            ) from None
        _check_activation(values, lambda at: repr(keys[at]))
    elif isinstance(cues, tuple) and len(cues) == 2:
        ids, values = _cue_arrays(graph, *cues)
    else:
        raise CueError(
            "cues must be a mapping {node: activation} or a pair of arrays "
            f"(ids, activation), got {type(cues).__name__}"
        )
    if ids.size == 0:
        raise CueError("no cues given; a spread needs at least one cue")
    with np.errstate(over="ignore"):
        values = values.astype(np.float32)
    _check_activation(values, lambda at: f"node {ids[at]} (as float32)")

    if ids.size > 1 and not np.all(ids[1:] > ids[:-1]):
        order = np.argsort(ids, kind="stable")
        ids, values = ids[order], values[order]
        # Sort and compare neighbours: numpy 2.4's np.unique hashes, which
        # is many times slower on large id arrays.
        starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
        if starts.size != ids.size:
            group = np.cumsum(np.r_[False, ids[1:] != ids[:-1]])
            summed = np.zeros(starts.size, np.float32)
            np.add.at(summed, group, values)
            ids, values = ids[starts], summed
    return (
        np.ascontiguousarray(ids, np.int32),
        np.ascontiguousarray(values, np.float32),
    )


def _is_number(value):
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return not isinstance(value, (str, bytes))


def _cue_arrays(graph, ids, values):
    ids = np.asarray(ids)
    values = np.asarray(values)
    if ids.ndim != 1 or values.ndim != 1 or ids.size != values.size:
        raise CueError(
            f"cue ids (shape {ids.shape}) and activations (shape {values.shape})"
            " must be one-dimensional and of the same length"
        )
    if ids.size and ids.dtype.kind not in "iu":
        raise CueError(f"cue ids must be integers, got dtype {ids.dtype}")
    if values.size and values.dtype.kind not in "iuf":
        raise CueError(f"cue activations must be numbers, got dtype {values.dtype}")
    ids = ids.astype(np.int64, copy=False)
    bad = (ids < 0) | (ids >= graph.num_nodes)
    if bad.any():
        at = int(np.flatnonzero(bad)[0])
        raise UnknownNodeError(
            f"unknown node id {ids[at]} at cue position {at}: ids are in "
            f"[0, {graph.num_nodes})"
        )
    values = values.astype(np.float64, copy=False)
    _check_activation(values, lambda at: f"node {ids[at]} (cue position {at})")
    return ids, values
