"""The neural model's Python side: kernel arguments from a config, and
results from what the kernels leave (shared by the reference and the
engine). The kernels are in :mod:`.models.neural`."""

import math

import numpy as np

from .models import working_memory
from .result import NeuralResult, SpreadStats

__all__ = ["dynamics_of", "gains_of", "NeuralLogs", "neural_result"]


def dynamics_of(config):
    """The ``dynamics`` tuple the kernels take (see
    :data:`.models.neural.DYNAMICS_FIELDS`)."""
    dt = config.dt_ms
    return (
        np.float32(config.v_threshold - config.v_rest),
        np.float32(config.v_reset - config.v_rest),
        np.float32(math.exp(-dt / config.tau_m_ms)),
        np.float32(math.exp(-dt / config.tau_recovery_ms)),
        np.float32(config.depletion),
        np.int32(config.refractory_steps - 1),
        np.int64(config.steps_per_cycle),
        np.float64(dt / config.tau_m_ms),
        np.float64(dt / config.tau_recovery_ms),
    )


def gains_of(config):
    """Gain on what each cycle receives: entry 0 for the cues' drive, 1 ..
    ``max_cycles`` the synaptic gain under the theta gate, and 0 after the
    last cycle (nothing is emitted beyond it)."""
    gains = np.zeros(config.max_cycles + 2, np.float32)
    gains[0] = config.synaptic_gain
    for cycle in range(1, config.max_cycles + 1):
        gains[cycle] = config.synaptic_gain * config.theta_gain(cycle)
    return gains


class NeuralLogs:
    """Per-cycle records one runner (the driver, or one actor) keeps: spike
    counts and the cycle's strongest firers."""

    def __init__(self, wm_capacity_max=9):
        size = neural_cycles_max()
        # (spikes, spiking nodes, driven nodes) per cycle.
        self.cycle_log = np.zeros((size, 3), np.int64)
        # Each cycle's strongest firers: ids, outputs, how many.
        self.wm_ids = np.zeros((size, wm_capacity_max), np.uint32)
        self.wm_out = np.zeros((size, wm_capacity_max), np.float32)
        self.wm_count = np.zeros(size, np.int64)


def neural_cycles_max():
    """Rows a per-cycle log needs: every cycle, and one past the last."""
    from .config import MAX_CYCLES

    return MAX_CYCLES + 2


def clear_logs(cycle_log, wm_count, cycles):
    """Clear the first ``cycles`` rows of one runner's per-cycle logs."""
    cycle_log[:cycles] = 0
    wm_count[:cycles] = 0


def empty_raw(nodes):
    """Arrays :func:`.models.neural.gather_and_clear` fills for ``nodes``:
    (nodes, activation, first cycle, spikes, first and last spike step,
    potential relative to rest, resources)."""
    n = nodes.shape[0]
    return (
        nodes,
        np.empty(n, np.float32),
        np.empty(n, np.int32),
        np.empty(n, np.int32),
        np.empty(n, np.int32),
        np.empty(n, np.int32),
        np.empty(n, np.float32),
        np.empty(n, np.float32),
    )


def neural_result(raw, config, cycles, logs, wave_log, stats_fields, labels,
                  raster=None):  # fmt: skip
    """A :class:`NeuralResult` from gathered arrays.

    ``raw`` is (nodes, activation, first_cycle, spikes, first_step,
    last_step, u, resources) for the touched nodes, ascending; ``cycles``
    the last cycle integrated; ``logs`` the (cycle_log, wm_ids, wm_out,
    wm_count) of every runner that took part; ``wave_log`` rows 1 ..
    ``cycles`` of (emitting nodes, their out-edges).
    """
    nodes, activation, first_cycle, spikes, first_step, last_step, u, res = raw
    dt = np.float32(config.dt_ms)
    first_ms = np.where(first_step >= 0, (first_step + 1) * dt, np.nan)
    last_ms = np.where(last_step >= 0, (last_step + 1) * dt, np.nan)
    potential = (u + np.float32(config.v_rest)).astype(np.float32)
    rows = cycles + 1
    per_cycle = sum(log[0][:rows] for log in logs)
    keep = config.wm_capacity
    candidates = []
    for cycle in range(rows):
        ids = np.concatenate([log[1][cycle, : log[3][cycle]] for log in logs]).astype(
            np.int64
        )
        outs = np.concatenate([log[2][cycle, : log[3][cycle]] for log in logs])
        order = np.lexsort((ids, -outs))[:keep]
        candidates.append((ids[order], outs[order].astype(np.float64)))
    memory, sizes = working_memory.run(candidates, config, labels)
    gains = gains_of(config)
    trace = {
        "cycle": np.arange(rows, dtype=np.int32),
        "time_ms": np.arange(rows) * config.cycle_ms,
        "gain": gains[:rows].copy(),
        "spikes": per_cycle[:, 0].copy(),
        "active": per_cycle[:, 1].copy(),
        "driven": per_cycle[:, 2].copy(),
        "wm_items": sizes,
    }
    fired = wave_log[:, 0]
    stats = SpreadStats(
        waves=int(cycles),
        edges_traversed=int(wave_log[:, 1].sum()),
        nodes_fired=int(per_cycle[:, 0].sum()),
        fired_per_wave=tuple(fired.tolist()),
        **stats_fields,
    )
    return NeuralResult(
        nodes,
        activation,
        first_cycle,
        stats,
        labels,
        (
            spikes,
            first_ms.astype(np.float32),
            last_ms.astype(np.float32),
            potential,
            res,
        ),
        memory,
        trace,
        raster,
    )
