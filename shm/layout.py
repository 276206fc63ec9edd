"""Named arrays packed into one shared-memory segment.

A :class:`Layout` lists arrays by name, dtype and shape, and places each
at a 64-byte boundary, so that no two arrays share a cache line and every
array is aligned for vector loads. The engine builds one layout per
segment, creates the segment with :attr:`Layout.nbytes`, and binds the
layout to its buffer to get NumPy views::

    layout = Layout()
    layout.add("acc", np.float32, num_nodes)
    layout.add("slots", np.float32, (num_nodes, SLOT_FLOATS))  # padded
    segment = segments.create("state", layout.nbytes)
    arrays = layout.bind(segment.buf)      # {"acc": ndarray, ...}

Two layouts of per-node activation slots are offered by
:func:`activation_slots`: *packed*, one float32 after another (16 to a
cache line), and *padded*, each slot alone in its own 64-byte line. Padding
keeps two writers of neighbouring slots from invalidating each other's
cache line (false sharing); packing keeps sixteen times more slots in each
level of cache. ``docs/design.md`` gives the measured trade-off.
"""

import numpy as np

# The module, not its names: shm.segments imports engram_actors (for its
# errors), whose engine imports this module while shm.segments is still
# loading.
from . import segments

__all__ = ["CACHE_LINE", "SLOT_LAYOUTS", "Layout", "activation_slots"]

CACHE_LINE = 64

#: Per-node activation slot layouts.
SLOT_LAYOUTS = ("packed", "padded")

#: float32 slots in one cache line: the padded layout's row length.
SLOT_FLOATS = CACHE_LINE // 4


class Layout:
    """Arrays at 64-byte-aligned offsets of one buffer."""

    def __init__(self):
        # name -> (dtype, shape, offset)
        self.fields = {}
        self.nbytes = 0

    def add(self, name, dtype, shape):
        """Reserve room for an array; returns its offset."""
        if name in self.fields:
            raise ValueError(f"layout already has an array named {name!r}")
        dtype = np.dtype(dtype)
        shape = (shape,) if np.isscalar(shape) else tuple(shape)
        if any(int(n) < 0 for n in shape):
            raise ValueError(f"array {name!r} has a negative dimension: {shape}")
        offset = segments.align(self.nbytes, CACHE_LINE)
        size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        self.fields[name] = (dtype, shape, offset)
        self.nbytes = offset + size
        return offset

    def bind(self, buffer):
        """NumPy views of every array over ``buffer`` (at least
        :attr:`nbytes` long)."""
        if len(buffer) < self.nbytes:
            raise ValueError(
                f"buffer of {len(buffer)} bytes is smaller than the layout's "
                f"{self.nbytes}"
            )
        arrays = {}
        for name, (dtype, shape, offset) in self.fields.items():
            count = int(np.prod(shape, dtype=np.int64))
            array = np.frombuffer(buffer, dtype, count, offset)
            arrays[name] = array.reshape(shape)
        return arrays


def activation_slots(layout, name, num_nodes, slot_layout):
    """Reserve per-node float32 activation slots in ``slot_layout``; returns
    a function that takes the bound arrays and gives the 1-d slot view
    (contiguous when packed, a 64-byte stride when padded)."""
    if slot_layout not in SLOT_LAYOUTS:
        raise ValueError(
            f"slot layout {slot_layout!r} is not one of {', '.join(SLOT_LAYOUTS)}"
        )
    if slot_layout == "packed":
        layout.add(name, np.float32, num_nodes)
        return lambda arrays: arrays[name]
    layout.add(name, np.float32, (num_nodes, SLOT_FLOATS))
    return lambda arrays: arrays[name][:, 0]
