"""A deliberately naive pulse model in plain Python, for differential tests.

It shares no code with the library: adjacency is a dict of lists built from
the raw edge arrays, and every step of docs/model.md is spelled out with
float32 scalars, so a difference from the compiled reference points at one
of the two.
"""

import numpy as np

f32 = np.float32


def naive_spread(
    num_nodes,
    src,
    dst,
    weight,
    cues,
    decay,
    threshold,
    max_hops,
    fan_normalize=False,
    refractory_waves=0,
    max_activation=None,
):
    """Return {node: (activation, first_hop)} and the number of waves run."""
    adjacency = {u: [] for u in range(num_nodes)}
    # Out-edges sorted by destination, parallel edges in input order.
    for position in sorted(range(len(src)), key=lambda i: (src[i], dst[i], i)):
        adjacency[src[position]].append((dst[position], f32(weight[position])))

    x = {}
    for node, value in sorted(cues.items()):
        x[node] = f32(x.get(node, f32(0)) + f32(value))
    total = dict(x)
    first_hop = {node: 0 for node in x}
    last_fired = {}
    waves = 0
    for wave in range(1, max_hops + 1):
        firing = [
            u
            for u in sorted(x)
            if x[u] > 0
            and x[u] >= f32(threshold)
            and wave - last_fired.get(u, -(10**9)) > refractory_waves
        ]
        if not firing:
            break
        waves = wave
        received = {}
        for u in firing:
            last_fired[u] = wave
            out = f32(x[u] * f32(decay))
            if fan_normalize and adjacency[u]:
                out = f32(out / f32(len(adjacency[u])))
            for v, w in adjacency[u]:
                contribution = f32(out * w)
                if contribution != 0:
                    received[v] = f32(received.get(v, f32(0)) + contribution)
        for v, value in received.items():
            total[v] = f32(total.get(v, f32(0)) + value)
            first_hop.setdefault(v, wave)
        x = received
    result = {}
    for v in total:
        a = total[v]
        if max_activation is not None:
            a = min(a, f32(max_activation))
        result[v] = (a, first_hop[v])
    return result, waves
