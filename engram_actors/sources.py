"""Where a graph comes from: a file, or a generator spec such as
``small-world:100000:avg_degree=10,p=0.1,seed=3``."""

import os
import pathlib

from .errors import ConfigError

__all__ = ["cache_dir", "open_graph", "parse_generator_spec", "parse_number"]


def cache_dir():
    """The project's cache folder (``$XDG_CACHE_HOME/engram-actors``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return pathlib.Path(base) / "engram-actors"


def parse_number(key, text):
    """A generator parameter's value: an int where it reads as one, else a
    float; ConfigError naming ``key`` otherwise."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    raise ConfigError(f"generator parameter {key}={text!r} is not a number")


def parse_generator_spec(spec):
    """Split ``TOPOLOGY:NODES[:key=value,...]`` into (topology, n, params).

    Raises ConfigError naming the part that does not parse.
    """
    from .generators import TOPOLOGIES

    parts = spec.split(":")
    if parts[0] not in TOPOLOGIES or len(parts) not in (2, 3):
        raise ConfigError(
            f"{spec!r} is neither an existing file nor a generator spec "
            f"TOPOLOGY:NODES[:key=value,...] with TOPOLOGY one of {TOPOLOGIES}"
        )
    try:
        n = int(parts[1].replace("_", ""))
    except ValueError:
        raise ConfigError(
            f"node count {parts[1]!r} in {spec!r} is not an integer"
        ) from None
    params = {}
    if len(parts) == 3 and parts[2]:
        for item in parts[2].split(","):
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise ConfigError(f"generator parameter {item!r} is not key=value")
            params[key.strip()] = parse_number(key, value.strip())
    return parts[0], n, params


def open_graph(source, *, signed=False):
    """Load a graph file, or generate one from a spec string.

    ``signed=True`` lets a file hold negative (inhibitory) weights and
    makes the graph signed (see ``io.load``); generated graphs are never
    signed.
    """
    from . import generators, io

    if os.path.exists(source):
        return io.load(source, signed=signed)
    topology, n, params = parse_generator_spec(source)
    return generators.generate(topology, n, **params)
