"""Turning what a user gives as cues into sorted id and activation arrays."""

from collections.abc import Mapping

import numba as nb
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
        values = np.empty(len(keys), np.float64)
        for i, key in enumerate(keys):
            values[i] = _activation_of(key, cues[key])
        _check_activation(values, lambda at: repr(keys[at]))
    elif isinstance(cues, tuple) and len(cues) == 2:
        ids, values = _cue_arrays(*cues)
    else:
        raise CueError(
            "cues must be a mapping {node: activation} or a pair of arrays "
            f"(ids, activation), got {type(cues).__name__}"
        )
    if ids.size == 0:
        raise CueError("no cues given; a spread needs at least one cue")
    bad_id, bad_value, ascending = _scan_cues(ids, values, graph.num_nodes)
    if bad_id >= 0:
        raise UnknownNodeError(
            f"unknown node id {ids[bad_id]} at cue position {bad_id}: ids are "
            f"in [0, {graph.num_nodes})"
        )
    if bad_value >= 0:
        value = values[bad_value]
        where = f"node {ids[bad_value]} (cue position {bad_value})"
        if np.isfinite(value) and value >= 0:
            where, value = f"node {ids[bad_value]} (as float32)", np.inf
        raise CueError(
            f"cue activation of {where} is {value}; cue activations must be "
            "finite and >= 0"
        )
    ids = ids.astype(np.int32, copy=False)
    with np.errstate(over="ignore"):
        values = values.astype(np.float32, copy=False)

    if not ascending:
        order = np.argsort(ids, kind="stable")
        ids, values = ids[order], values[order]
        # Sort and compare neighbours: numpy 2.4's np.unique hashes, which
        # is many times slower on large id arrays.
        starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
        if starts.size != ids.size:
            group = np.cumsum(np.r_[False, ids[1:] != ids[:-1]])
            summed = np.zeros(starts.size, np.float32)
            with np.errstate(over="ignore"):
                np.add.at(summed, group, values)
            if not np.isfinite(summed).all():
                at = int(np.flatnonzero(~np.isfinite(summed))[0])
                raise CueError(
                    f"cue activations given for node {ids[starts[at]]} add up "
                    "to more than float32 can hold; cue activations must be "
                    "finite"
                )
            ids, values = ids[starts], summed
    return np.ascontiguousarray(ids), np.ascontiguousarray(values)


_FLOAT32_MAX = float(np.finfo(np.float32).max)


@nb.njit(cache=True, nogil=True)
def _scan_cues(ids, values, num_nodes):
    """One pass over cue arrays of any size.

    Returns the position of the first id outside ``[0, num_nodes)``, of the
    first activation that is negative, NaN, infinite or too large for
    float32 (-1 when there is none), and whether the ids strictly ascend.
    """
    bad_id = -1
    bad_value = -1
    ascending = True
    for i in range(ids.shape[0]):
        node = ids[i]
        if bad_id < 0 and (node < 0 or node >= num_nodes):
            bad_id = i
        value = values[i]
        if bad_value < 0 and not (value >= 0 and value <= _FLOAT32_MAX):
            bad_value = i
        if i > 0 and node <= ids[i - 1]:
            ascending = False
    return bad_id, bad_value, ascending


def _activation_of(key, value):
    """One mapping cue's activation as a float, or CueError naming it."""
    if isinstance(value, (str, bytes)) or np.ndim(value) != 0:
        raise CueError(f"cue activation of {key!r} is {value!r}; expected a number")
    try:
        return float(value)
    except OverflowError:
        raise CueError(
            f"cue activation of {key!r} is {value!r}; too large for a float"
        ) from None
    except (TypeError, ValueError):
        raise CueError(
            f"cue activation of {key!r} is {value!r}; expected a number"
        ) from None


def _cue_arrays(ids, values):
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
    if ids.dtype.kind == "u" and ids.size and ids.max() > np.iinfo(np.int64).max:
        at = int(np.argmax(ids > np.iinfo(np.int64).max))
        raise UnknownNodeError(
            f"unknown node id {ids[at]} at cue position {at}: ids must fit "
            "a 64-bit signed integer"
        )
    if ids.dtype not in (np.int32, np.int64):
        # Numba compares mixed signed and unsigned ids through floats.
        ids = ids.astype(np.int64)
    if values.dtype not in (np.float32, np.float64):
        values = values.astype(np.float64)
    return ids, values
