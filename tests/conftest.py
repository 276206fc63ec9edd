"""Fixtures shared by the test files (see ``leaks.py``)."""

from leaks import leaves_nothing_behind, no_leaks  # noqa: F401
