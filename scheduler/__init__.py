"""Scheduling the actor engine.

- :mod:`scheduler.partition`: chunks of about equal in-edges, and one
  shard of consecutive chunks per actor, balanced by edge count.
- :mod:`scheduler.placement`: NUMA topology and which CPU each actor is
  pinned to.
- :mod:`scheduler.control`: the control words in shared memory, the
  gamma-cycle barrier that closes each wave, and the waits.

The coordinator's loop itself is the driver's side of
:class:`engram_actors.Engine` and the barrier's closing arrival; the
stealing policy (own deque first, then a random victim) is
``_next_chunk`` in :mod:`engram_actors.models.pulse_parallel`.
"""
