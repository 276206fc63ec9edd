"""Shared memory for the actor engine.

- :mod:`shm.segments`: segment lifecycle (one owner who unlinks, names that
  carry the owner's pid, free-space checks, sweeping what dead owners left).
- :mod:`shm.layout`: named arrays at cache-line boundaries in a segment,
  and the packed and padded layouts of per-node activation slots.
- :mod:`shm.atomics`: atomic loads, stores, compare-and-swap, fetch-add,
  float add, fences, spin hints and futex waits for Numba kernels.
- :mod:`shm.deque`: the Chase-Lev work-stealing deque the actors' pull
  chunks travel in.
"""
