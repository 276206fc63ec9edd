"""Spreading models: the compiled per-wave steps that every runner shares."""
