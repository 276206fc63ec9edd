"""The exceptions the library raises, in one hierarchy.

Every error a user can cause derives from :class:`EngramError`, so a script
can catch them all in one place, and each message names what was wrong and
where: the file, line and field, or the parameter and its allowed range.
The classes also derive from the matching built-in (``ValueError``,
``KeyError``), so code written against plain Python keeps working.
"""

__all__ = [
    "EngramError",
    "GraphError",
    "GraphFormatError",
    "UnknownNodeError",
    "ConfigError",
    "CueError",
]


class EngramError(Exception):
    """Base class of every error raised by engram-actors."""


class GraphError(EngramError, ValueError):
    """A graph's arrays or parameters are invalid (sizes, ids, weights)."""


class GraphFormatError(GraphError):
    """A graph file is malformed.

    The message names the file and, where it applies, the line and field.
    """

    def __init__(self, path, message, line=None, field=None):
        self.path = str(path)
        self.line = line
        self.field = field
        where = self.path
        if line is not None:
            where += f", line {line}"
        if field is not None:
            where += f", field {field}"
        super().__init__(f"{where}: {message}")


class UnknownNodeError(EngramError, KeyError):
    """A node id or label does not exist in the graph."""

    def __str__(self):
        # KeyError quotes its argument; a sentence reads better unquoted.
        return str(self.args[0]) if self.args else ""


class ConfigError(EngramError, ValueError):
    """A model parameter is missing, of the wrong type or out of range."""


class CueError(EngramError, ValueError):
    """A cue is malformed: a bad activation, or mismatched arrays."""
