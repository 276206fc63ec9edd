"""Shared-memory segments, atomic slots and ring buffers for the actors."""
