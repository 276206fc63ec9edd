"""A memory with two learning systems: a hippocampus that stores episodes
in one shot, and the memory graph, which learns them slowly from replay.

::

    encode(episode) --> Hippocampus: dentate separation, CA3 storage,
                        priority = prediction error
    recall(cue)     --> Hippocampus: CA3 completes the cue to a stored
                        episode --> Engine: spread from the completed
                        episode's nodes (neural model: result and
                        working memory)
    consolidate(n)  --> Hippocampus: n prioritized replays, each a
                        compressed sequence --> associations between
                        nodes replayed close together strengthen slowly,
                        each node's outgoing total held to its budget
                        --> Engine.associate: weights change in the
                        shards, new associations go to the delta

This is complementary learning systems theory (McClelland, McNaughton and
O'Reilly, 1995): fast, sparse, separated storage beside a slow learner
whose interleaved training avoids catastrophic interference. See
``docs/hippocampus.md`` for the equations.
"""

import dataclasses
from collections.abc import Mapping

import numpy as np

from .config import NeuralConfig, SpreadConfig, _check_int, _check_real
from .engine import Engine
from .errors import ConfigError, CueError
from .hippocampus import Episode, Hippocampus, HippocampusConfig
from .models import graph_updates
from .result import SpreadResult

__all__ = ["ConsolidationConfig", "Memory", "Recall"]


@dataclasses.dataclass(frozen=True)
class ConsolidationConfig:
    """How replay changes the memory graph.

    Parameters
    ----------
    learning_rate : float, in [0.001, 0.01]
        The slow pathway's rate: one replay moves an association a
        hundredth or less of the way to full strength, so that many
        replays, interleaved across episodes, shape the graph.
    window_ms : float, in (0, 1000]
        Two nodes active within this time of each other in the replayed,
        compressed sequence are associated (20 ms, a spike-timing
        plasticity window). Replay compressed 15 times brings nodes of an
        episode 300 ms apart within it.
    budget_floor : float, > 0
        Least total outgoing weight a node may keep (its budget is its
        total when first consolidated, at least this).
    normalize : bool
        Hold each node's total outgoing weight to its budget by scaling
        its associations down (heterosynaptic depression): what one
        episode gains, the node's other associations lose. This is what
        makes sequential learning interfere, and interleaved replay
        protect.
    recall_target : float, in (0, 1]
        An association of this weight from an episode's first node counts
        as fully learned when the graph's recall of the episode is scored.
    seed : int
        Seed of replay sampling.
    """

    learning_rate: float = 0.005
    window_ms: float = 20.0
    budget_floor: float = 1.0
    normalize: bool = True
    recall_target: float = 0.5
    seed: int = 0

    def __post_init__(self):
        checked = {
            "learning_rate": _check_real(
                "learning_rate", self.learning_rate, 0.001, 0.01
            ),
            "window_ms": _check_real(
                "window_ms", self.window_ms, 0.0, 1000.0, low_open=True
            ),
            "budget_floor": _check_real(
                "budget_floor", self.budget_floor, 0.0, 1e9, low_open=True
            ),
            "recall_target": _check_real(
                "recall_target", self.recall_target, 0.0, 1.0, low_open=True
            ),
            "seed": _check_int("seed", self.seed, 0, 2**63 - 1),
        }
        if not isinstance(self.normalize, bool):
            raise ConfigError(
                f"normalize must be True or False, got {self.normalize!r}"
            )
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    replace = SpreadConfig.replace


@dataclasses.dataclass(frozen=True)
class Recall:
    """What :meth:`Memory.recall` found.

    Attributes
    ----------
    completion : Completion
        CA3's pattern completion of the cue (``index`` -1 if no stored
        episode matched).
    cues : dict
        What the spread started from: the completed episode's nodes and
        activations (with the cue's, where stronger), or the cue alone.
    result : NeuralResult or SpreadResult
        The spread over the memory graph.
    """

    completion: object
    cues: dict
    result: SpreadResult

    @property
    def working_memory(self):
        """The spread's working memory (neural model), or None."""
        return getattr(self.result, "working_memory", None)


class Memory:
    """Episodic memory over a memory graph served by an engine.

    Parameters
    ----------
    graph : Graph
    actors : int, optional
        Actors of the engine (one per CPU by default).
    spread_config : NeuralConfig or SpreadConfig, optional
        How :meth:`recall` spreads (the neural model by default).
    hippocampus : HippocampusConfig, optional
    consolidation : ConsolidationConfig, optional
    engine : Engine, optional
        Serve the graph with this engine instead of starting one (it is
        not closed with the memory).

    Everything is deterministic under the configs' seeds, and the same
    at any number of actors (the engine runs deterministically).

    Examples
    --------
    >>> from engram_actors import generators
    >>> graph = generators.generate("random", 500, seed=1)
    >>> with Memory(graph, actors=1) as memory:
    ...     first = memory.encode({10: 1.0, 20: 1.0, 30: 1.0, 40: 1.0})
    ...     recall = memory.recall({20: 1.0})
    ...     report = memory.consolidate(replays=50)
    >>> recall.completion.index, sorted(recall.cues)
    (0, [10, 20, 30, 40])
    >>> report["replays"], report["compression"]
    (50, 15.0)
    """

    def __init__(self, graph, actors=None, *, spread_config=None, hippocampus=None,
                 consolidation=None, engine=None):  # fmt: skip
        if spread_config is None:
            spread_config = NeuralConfig()
        if not isinstance(spread_config, (NeuralConfig, SpreadConfig)):
            raise ConfigError(
                "spread_config must be a NeuralConfig or a SpreadConfig, got "
                f"{type(spread_config).__name__}"
            )
        self.spread_config = spread_config
        self.consolidation = consolidation or ConsolidationConfig()
        if not isinstance(self.consolidation, ConsolidationConfig):
            raise ConfigError("consolidation must be a ConsolidationConfig")
        self.hippocampus = Hippocampus(
            graph.num_nodes, hippocampus or HippocampusConfig()
        )
        self._own_engine = engine is None
        self.engine = engine if engine is not None else Engine(
            graph, actors, deterministic=True
        )  # fmt: skip
        # Each node's outgoing budget, fixed when it is first consolidated.
        self._budgets = {}
        self._rng = np.random.default_rng(self.consolidation.seed)

    # -- the three operations ---------------------------------------------

    @property
    def graph(self):
        """The memory graph as it is now, consolidation included."""
        return self.engine.graph

    def encode(self, episode):
        """Store an episode in one shot; returns its index.

        ``episode`` is an :class:`Episode`, a mapping ``{node: activation}``,
        or a spread's result (its touched nodes, see
        :meth:`Episode.from_result`).
        """
        if isinstance(episode, SpreadResult):
            episode = Episode.from_result(episode)
        elif isinstance(episode, Mapping):
            episode = Episode(episode)
        elif not isinstance(episode, Episode):
            raise CueError(
                "an episode is an Episode, a mapping {node: activation} or a "
                f"spread result, got {type(episode).__name__}"
            )
        if episode.nodes.size and episode.nodes[-1] >= self.graph.num_nodes:
            raise CueError(
                f"episode node {episode.nodes[-1]} is outside a graph of "
                f"{self.graph.num_nodes} nodes"
            )
        return self.hippocampus.encode(episode)

    def recall(self, cue, config=None):
        """Complete a partial cue to a stored episode, then spread from it.

        Parameters
        ----------
        cue : mapping {node: activation}
            Part of an episode (say 30% of its nodes). A completion counts
        only if the recalled episode holds at least half of the cue's
        nodes; otherwise the spread starts from the cue alone.
        config : NeuralConfig or SpreadConfig, optional
            Instead of the memory's ``spread_config``.

        Returns
        -------
        Recall
        """
        if not isinstance(cue, Mapping) or not cue:
            raise CueError("a recall cue is a non-empty mapping {node: activation}")
        nodes = np.array([self.graph.node_id(v) for v in cue], np.int64)
        activation = np.array(list(cue.values()), np.float64)
        order = np.argsort(nodes, kind="stable")
        completion = self.hippocampus.complete(nodes[order], activation[order])
        cues = {int(v): float(a) for v, a in zip(nodes, activation, strict=True)}
        if completion.index >= 0 and not self._explains(completion.episode, nodes):
            # CA3 settles into some stored attractor from any start; an
            # episode holding less than half of the cue did not complete it.
            completion = dataclasses.replace(completion, index=-1, episode=None)
        if completion.index >= 0:
            episode = completion.episode
            for v, a in zip(episode.nodes.tolist(), episode.activation.tolist(),
                            strict=True):  # fmt: skip
                cues[v] = max(cues.get(v, 0.0), a)
        cues = dict(sorted(cues.items()))
        result = self.engine.spread(cues, config or self.spread_config)
        return Recall(completion, cues, result)

    @staticmethod
    def _explains(episode, cue_nodes):
        """Whether ``episode`` holds at least half of the cue's nodes."""
        held = np.isin(cue_nodes, episode.nodes).sum()
        return 2 * held >= cue_nodes.size

    def consolidate(self, replays=100, *, episodes=None):
        """Replay stored episodes into the memory graph.

        Parameters
        ----------
        replays : int, >= 0
            Replays to sample, by priority.
        episodes : sequence of int, optional
            Replay only these episodes (by index); all stored by default.

        Returns
        -------
        dict
            ``replays``, ``replayed`` (count per episode index), ``updated``
            and ``created`` associations, ``merged`` (the engine merged its
            delta), ``compression`` (mean replay speed-up), and
            ``recall_error`` per replayed episode after the replays.
        """
        replays = _check_int("replays", replays, 0, 10**7)
        pool = self._pool(episodes)
        report = {"replays": replays, "replayed": {}, "updated": 0, "created": 0,
                  "merged": False, "compression": 0.0, "recall_error": {}}  # fmt: skip
        if replays == 0 or not pool:
            return report
        chosen, weights = self._sample(replays, pool)
        src, dst, strength = self._replay_pairs(chosen, weights)
        report["compression"] = float(
            np.mean([self.hippocampus.replay_factor(int(i)) for i in chosen])
        )
        for i in chosen.tolist():
            report["replayed"][i] = report["replayed"].get(i, 0) + 1
        if src.size:
            src, dst, weight = self._new_weights(src, dst, strength)
            changed = self.engine.associate(src, dst, weight)
            report.update(
                updated=changed["updated"],
                created=changed["created"],
                merged=changed["merged"],
            )
        for index in sorted(report["replayed"]):
            error = self.recall_error(index)
            self.hippocampus.update_priority(index, error)
            report["recall_error"][index] = error
        return report

    def recall_error(self, index):
        """How far the memory graph is from recalling episode ``index`` on
        its own: 1 minus the mean, over the episode's other nodes, of the
        association from its first node (in time), in units of
        ``recall_target`` and at most 1."""
        episode = self.hippocampus.episodes[index]
        first = int(episode.nodes[np.argmin(episode.times_ms)])
        others = [int(v) for v in episode.nodes if v != first]
        if not others:
            return 0.0
        strength = self.association_strengths(first, others)
        target = self.consolidation.recall_target
        return float(1.0 - np.minimum(strength / target, 1.0).mean())

    def association_strengths(self, source, targets):
        """Weights of ``source -> t`` for each target (0 where none)."""
        graph = self.graph
        src = np.full(len(targets), source, np.int64)
        dst = np.asarray(targets, np.int64)
        found = np.empty(dst.size, np.int64)
        graph_updates.find_edges(graph.indptr, graph.indices, src, dst, found)
        weights = np.where(found >= 0, graph.weights[np.maximum(found, 0)], 0.0)
        return weights.astype(np.float64)

    # -- consolidation steps ----------------------------------------------

    def _pool(self, episodes):
        stored = len(self.hippocampus)
        if episodes is None:
            return list(range(stored))
        pool = sorted({int(i) for i in episodes})
        for i in pool:
            if not 0 <= i < stored:
                raise CueError(f"episode {i} is not stored (there are {stored})")
        return pool

    def _sample(self, replays, pool):
        """Replays by priority among ``pool``: indices and importance
        weights (see Hippocampus.sample_replays; the same formulas over the
        pool)."""
        config = self.hippocampus.config
        priorities = self.hippocampus.priorities[pool] ** config.replay_alpha
        probability = priorities / priorities.sum()
        picks = self._rng.choice(len(pool), size=replays, p=probability)
        weights = (len(pool) * probability[picks]) ** (-config.replay_beta)
        weights /= weights.max()
        return np.asarray(pool, np.int64)[picks], weights

    def _replay_pairs(self, chosen, weights):
        """Every pair of nodes within the window in each replay, with its
        summed strength ``rate * w_is * a_u * a_v`` (activations scaled
        to at most 1 per episode); both directions."""
        window = self.consolidation.window_ms
        rate = self.consolidation.learning_rate
        n = self.graph.num_nodes
        keys, strengths = [], []
        for index, weight in zip(chosen.tolist(), weights.tolist(), strict=True):
            episode = self.hippocampus.episodes[index]
            nodes, times = self.hippocampus.replay_schedule(index)
            by_node = dict(zip(episode.nodes.tolist(), episode.activation.tolist(),
                               strict=True))  # fmt: skip
            activation = np.array([by_node[v] for v in nodes.tolist()], np.float64)
            activation /= activation.max()
            nodes = np.asarray(nodes, np.int64)
            close = np.abs(times[:, None] - times[None, :]) <= window
            np.fill_diagonal(close, False)
            u, v = np.nonzero(close)
            keys.append(nodes[u] * n + nodes[v])
            strengths.append(rate * weight * activation[u] * activation[v])
        keys = np.concatenate(keys)
        strengths = np.concatenate(strengths)
        unique, inverse = np.unique(keys, return_inverse=True)
        total = np.zeros(unique.size)
        np.add.at(total, inverse, strengths)
        return unique // n, unique % n, total

    def _new_weights(self, src, dst, strength):
        """Weights after the replays: each pair moves ``min(strength, 1)``
        of the way to 1; then each source over its budget scales all its
        associations down to it. Returns sorted (src, dst, weight) of
        every association that changes."""
        graph = self.graph
        found = np.empty(src.size, np.int64)
        graph_updates.find_edges(graph.indptr, graph.indices, src, dst, found)
        old = np.where(found >= 0, graph.weights[np.maximum(found, 0)], 0.0)
        new = old + np.minimum(strength, 1.0) * (1.0 - old)
        if not self.consolidation.normalize:
            return src, dst, new.astype(np.float32)

        out_src, out_dst, out_weight = [src], [dst], [new]
        starts = np.flatnonzero(np.r_[True, src[1:] != src[:-1]])
        ends = np.r_[starts[1:], src.size]
        for first, last in zip(starts.tolist(), ends.tolist(), strict=True):
            u = int(src[first])
            row = slice(graph.indptr[u], graph.indptr[u + 1])
            row_targets = graph.indices[row].astype(np.int64)
            row_weights = graph.weights[row].astype(np.float64)
            budget = self._budgets.setdefault(
                u, max(float(row_weights.sum()), self.consolidation.budget_floor)
            )
            changed = found[first:last]
            kept = np.ones(row_targets.size, bool)
            kept[changed[changed >= 0] - graph.indptr[u]] = False
            total = row_weights[kept].sum() + new[first:last].sum()
            if total <= budget:
                continue
            scale = budget / total
            new[first:last] *= scale
            out_src.append(np.full(int(kept.sum()), u, np.int64))
            out_dst.append(row_targets[kept])
            out_weight.append(row_weights[kept] * scale)
        src = np.concatenate(out_src)
        dst = np.concatenate(out_dst)
        weight = np.concatenate(out_weight)
        # Parallel edges of a pair: only the first takes a weight.
        key = src * graph.num_nodes + dst
        key, first = np.unique(key, return_index=True)
        return src[first], dst[first], weight[first].astype(np.float32)

    # -- life cycle ---------------------------------------------------------

    def close(self):
        """Stop the engine (if the memory started it)."""
        if self._own_engine:
            self.engine.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __repr__(self):
        return (
            f"<Memory {len(self.hippocampus)} episodes over {self.graph!r}, "
            f"{self.engine.actors} actors>"
        )
