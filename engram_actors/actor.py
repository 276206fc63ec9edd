"""The actor process: one per core, owning a shard of the graph.

Who talks to whom::

    driver (Engine)                         actor k (this module)
    ---------------                         ---------------------
    creates the segments, forks  ------->   pins itself to its CPU,
                                            first-touches its shard
                                  <-------  A_PID := pid      (ready)
    writes a msgpack command,
    COMMAND += 1 (release)        ------->  wakes, unpacks it, runs
                                            actor_spread: waves closed by
                                            the gamma-cycle barrier with
                                            the other actors
                                  <-------  DONE += 1
    reads the results from shared memory

Log records travel to the driver through a pipe, msgpack-encoded, so that
actors never write to the terminal themselves. An actor exits on the
``shutdown`` command, when its driver dies (the kernel sends it SIGKILL,
asked for with ``prctl``), or on SIGTERM. Ctrl-C in the terminal reaches the
whole process group; actors ignore it and leave the decision to the driver.
"""

import ctypes
import logging
import os
import signal
import traceback

import msgpack
import numpy as np

from scheduler import control, placement

from . import neural_model
from .config import NeuralConfig, SpreadConfig
from .models import graph_updates, neural, pulse, pulse_parallel

log = logging.getLogger(__name__)

#: Seconds an idle actor waits for a command between checks that its
#: driver is still alive.
IDLE_CHECK_S = 0.1

_PR_SET_PDEATHSIG = 1


def _die_with_parent():
    """Ask the kernel to SIGKILL this process when its parent exits."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the idle loop checks
        pass


class LogPipe(logging.Handler):
    """Sends this process's log records to the driver, msgpack-encoded."""

    def __init__(self, fd, actor):
        super().__init__()
        self.fd = fd
        self.actor = actor

    def emit(self, record):
        try:
            message = self.format(record)
            # One write of at most PIPE_BUF bytes is atomic: records from
            # several actors never interleave.
            payload = msgpack.packb(
                [self.actor, record.levelno, record.name, message[:3000]]
            )
            os.write(self.fd, payload)
        except Exception:  # a log record must never kill an actor
            pass


def fill_shard(arrays, graph, reverse, lo, hi, last):
    """Copy the rows of nodes ``lo .. hi - 1`` into shared memory and clear
    their state: run by the shard's actor, so that the pages are first
    touched (and placed) on its NUMA node."""
    for prefix, source in (("", graph), ("in_", reverse)):
        indptr = arrays[prefix + "indptr"]
        stop = hi + 1 if last else hi
        indptr[lo:stop] = source.indptr[lo:stop]
        first_edge, last_edge = source.indptr[lo], source.indptr[hi]
        target = arrays[prefix + ("sources" if prefix else "indices")]
        target[first_edge:last_edge] = source.indices[first_edge:last_edge]
        arrays[prefix + "weights"][first_edge:last_edge] = source.weights[
            first_edge:last_edge
        ]
    # The shard's stretch of every per-node list, first touched here too.
    for name in (
        "touched",
        "reached",
        "scratch",
        "nodes",
        "activation",
        "first_hop",
        "spikes",
        "first_spike",
        "last_spike",
        "potential",
        "resources",
    ):
        arrays[name][lo:hi] = 0
    arrays["fids"][:, lo:hi] = 0
    arrays["fout"][:, lo:hi] = 0
    for prefix in ("d_out_", "d_in_"):
        arrays[prefix + "start"][lo:hi] = 0
        arrays[prefix + "count"][lo:hi] = 0
    clear_nodes(arrays, lo, hi)


def clear_nodes(arrays, lo, hi):
    """Reset the per-node state of nodes ``lo .. hi - 1``."""
    state = arrays["state"][lo:hi]
    state["total"] = 0
    state["first_hop"] = -1
    state["last_fired"] = pulse.NEVER_FIRED
    arrays["acc_view"][lo:hi] = 0
    arrays["emit"][:, lo:hi] = 0
    arrays["nstate"][lo:hi] = neural.new_neural_state(1)
    arrays["listed"][lo:hi] = 0


def main(actor, actors, plan, parent_pid, arrays, work, graph_arrays, shards,
         result, ctl, deques, wave_log, mailbox, graph, log_fd):  # fmt: skip
    """The actor's life: set up, then serve commands until shutdown."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    if os.getppid() != parent_pid:
        os._exit(0)
    root = logging.getLogger("engram_actors")
    root.handlers[:] = [LogPipe(log_fd, actor)]
    root.setLevel(logging.DEBUG)
    root.propagate = False

    try:
        _serve(actor, actors, plan, parent_pid, arrays, work, graph_arrays,
               shards, result, ctl, deques, wave_log, mailbox, graph)  # fmt: skip
    except BaseException:
        log.critical("actor %d failed:\n%s", actor, traceback.format_exc())
        os._exit(1)
    os._exit(0)


def _serve(actor, actors, plan, parent_pid, arrays, work, graph_arrays, shards,
           result, ctl, deques, wave_log, mailbox, graph):  # fmt: skip
    where = plan[actor]
    pinned = placement.pin(where.cpu)
    bounds, shard_chunks = shards
    lo = int(bounds[shard_chunks[actor]])
    hi = int(bounds[shard_chunks[actor + 1]])
    fill_shard(arrays, graph, graph.reverse(), lo, hi, last=actor == actors - 1)
    del graph  # the shard is in shared memory now
    log.debug(
        "actor %d (pid %d) ready on cpu %d%s, node %d, nodes %d..%d",
        actor, os.getpid(), where.cpu, "" if pinned else " (not pinned)",
        where.node, lo, hi - 1,
    )  # fmt: skip
    base = control.actor_word(actor, 0)
    control.publish(ctl, base + control.A_PID, os.getpid())

    seen = 0
    idle_timeout_us = int(IDLE_CHECK_S * 1e6)
    while True:
        command = control.wait_change(ctl, control.COMMAND, seen, idle_timeout_us)
        if command == seen:
            if os.getppid() != parent_pid:
                log.debug("actor %d: driver gone, exiting", actor)
                return
            continue
        seen = command
        size = int(ctl[control.MESSAGE_BYTES])
        message = msgpack.unpackb(mailbox[:size].tobytes())
        op = message["op"]
        if op == "shutdown":
            log.debug("actor %d: shutdown", actor)
            return
        if op == "spread":
            status = _spread(actor, actors, message, ctl, deques, graph_arrays,
                             shards, work, result, arrays, wave_log)  # fmt: skip
            if status != control.STATUS_OK:
                clear_nodes(arrays, lo, hi)
                arrays["tcnt"][shard_chunks[actor] : shard_chunks[actor + 1]] = 0
                ctl[base + control.A_CLAIMED] = 0
        elif op == "associate":
            status = control.STATUS_OK
            if apply_updates(arrays, actor, lo, hi, message) < 0:
                log.error("actor %d: its delta region overflowed", actor)
                status = control.STATUS_ABORTED
        elif op == "clear":
            clear_nodes(arrays, lo, hi)
            arrays["tcnt"][shard_chunks[actor] : shard_chunks[actor + 1]] = 0
            status = control.STATUS_OK
        else:
            log.error("actor %d: unknown command %r", actor, op)
            status = control.STATUS_ABORTED
        ctl[base + control.A_STATUS] = status
        control.add(ctl, control.DONE, 1)
        control.wake(ctl, control.DONE, 1)


def apply_updates(arrays, actor, lo, hi, message):
    """Apply an ``associate`` command to the rows of nodes ``lo .. hi - 1``
    in both directions (see ``models/graph_updates.py``). Returns -1 if a
    delta region had no room, else 0."""
    count = int(message["count"])
    region_first = int(message["regions"][actor])
    region_last = int(message["regions"][actor + 1])
    for direction, (prefix, base) in enumerate(
        (("upd_", ("indptr", "indices", "weights")),
         ("upd_in_", ("in_indptr", "in_sources", "in_weights")))
    ):  # fmt: skip
        delta = "d_out_" if direction == 0 else "d_in_"
        used = graph_updates.apply_rows(
            lo, hi, arrays[prefix + "row"][:count], arrays[prefix + "other"][:count],
            arrays[prefix + "weight"][:count], arrays[base[0]], arrays[base[1]],
            arrays[base[2]], arrays[delta + "start"], arrays[delta + "count"],
            arrays[delta + "node"], arrays[delta + "other"],
            arrays[delta + "weight"], region_first, region_last,
            int(message["used"][actor][direction]),
        )  # fmt: skip
        if used < 0:
            return -1
    return 0


def model_and_cells(config, arrays, actor):
    """The ``model`` and ``cells`` arguments of ``actor_spread`` for a
    config: a NeuralConfig runs the neural model, its waves the gamma
    cycles (see ``pulse_parallel.neural_cells``)."""
    if not isinstance(config, NeuralConfig):
        return pulse_parallel.model_of(config), pulse_parallel.neural_cells()
    fields = dict(SpreadConfig().to_dict(), max_hops=config.max_cycles)
    dynamics = neural_model.dynamics_of(config)
    return (
        pulse_parallel.model_of(fields),
        pulse_parallel.neural_cells(arrays, actor, dynamics),
    )


def _spread(actor, actors, message, ctl, deques, graph_arrays, shards, work,
            result, arrays, wave_log):  # fmt: skip
    kind = NeuralConfig if message["neural"] else SpreadConfig
    model, cells = model_and_cells(kind(**message["config"]), arrays, actor)
    cues = int(message["cues"])
    return pulse_parallel.actor_spread(
        actor, actors, ctl, deques, graph_arrays, shards, work, result, model,
        arrays["cue_ids"][:cues], arrays["cue_x"][:cues],
        np.int64(message["wave"]), np.int64(message["mode"]),
        np.int64(message["seed"]), np.int64(message["pull_edges"]),
        bool(message["shared_push"]), wave_log, cells,
    )  # fmt: skip
