"""Working memory: a buffer of about seven items fed by the gamma cycles.

Each gamma cycle offers its strongest firers (:func:`.neural.offer` keeps
them, as many as the buffer holds); :func:`run` replays the cycles through
the buffer after the spread. The buffer only reads the spread, so running
it afterwards gives what running it inside each cycle would. One cycle,
for items with levels ``L`` (see ``docs/model.md``):

1. decay: every item's level is multiplied by ``exp(-cycle / tau_wm)``;
2. refresh: an item among the cycle's firers adds its output that cycle;
3. lateral inhibition: every item loses ``beta`` times the mean level of
   the others (computed from the levels after step 2);
4. items at or below the floor leave;
5. competition: each firer not held, strongest first, enters if there is
   room, or else displaces the weakest item if its output is larger.
"""

import math

import numpy as np

__all__ = ["WorkingMemory", "run"]


class WorkingMemory:
    """What working memory holds at the end of a spread.

    Attributes
    ----------
    nodes : ndarray of int32
        Items, strongest first (ties by id ascending).
    levels : ndarray of float64
        Their levels, in units of one spike at full resources.
    capacity : int
    entered : ndarray of int32
        Gamma cycle in which each item (last) entered.
    displaced : int
        Items pushed out by stronger newcomers during the spread.
    """

    __slots__ = ("nodes", "levels", "capacity", "entered", "displaced", "_labels")

    def __init__(self, nodes, levels, entered, capacity, displaced, labels=None):
        self.nodes = np.asarray(nodes, np.int32)
        self.levels = np.asarray(levels, np.float64)
        self.entered = np.asarray(entered, np.int32)
        self.capacity = int(capacity)
        self.displaced = int(displaced)
        self._labels = labels

    def __len__(self):
        return self.nodes.size

    def __repr__(self):
        return f"<WorkingMemory {len(self)} of {self.capacity} items>"

    def items(self, *, ids=False):
        """(node, level) pairs, strongest first; labels where the graph
        has them, unless ``ids``."""
        nodes = self.nodes.tolist()
        if self._labels is not None and not ids:
            nodes = [self._labels[v] for v in nodes]
        return list(zip(nodes, self.levels.tolist(), strict=True))


def run(candidates, config, labels=None):
    """Replay the cycles' strongest firers through the buffer.

    Parameters
    ----------
    candidates : sequence of (ids, outputs) pairs
        For each gamma cycle from 0, its strongest firers, output
        descending and ties by id ascending.
    config : NeuralConfig

    Returns
    -------
    WorkingMemory, and the number of items held after each cycle.
    """
    capacity = config.wm_capacity
    keep = math.exp(-config.cycle_ms / config.wm_tau_ms)
    beta = config.wm_inhibition
    floor = config.wm_floor
    level = {}  # node -> level
    entered = {}
    displaced = 0
    sizes = np.zeros(len(candidates), np.int32)
    for cycle, (ids, outputs) in enumerate(candidates):
        fired = dict(zip(ids.tolist(), outputs.tolist(), strict=True))
        for node in level:
            level[node] = level[node] * keep + fired.get(node, 0.0)
        if len(level) > 1:
            total = sum(level.values())
            share = beta / (len(level) - 1)
            level = {v: x - share * (total - x) for v, x in level.items()}
        for node in [v for v, x in level.items() if x <= floor]:
            del level[node]
            del entered[node]
        for node, out in fired.items():  # strongest first
            if node in level or out <= floor:
                continue
            if len(level) >= capacity:
                weakest = min(level, key=lambda v: (level[v], -v))
                if out <= level[weakest]:
                    continue
                del level[weakest]
                del entered[weakest]
                displaced += 1
            level[node] = out
            entered[node] = cycle
        sizes[cycle] = len(level)
    order = sorted(level, key=lambda v: (-level[v], v))
    memory = WorkingMemory(
        order,
        [level[v] for v in order],
        [entered[v] for v in order],
        capacity,
        displaced,
        labels,
    )
    return memory, sizes
