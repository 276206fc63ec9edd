"""Coordinator, gamma-cycle barriers, stealing policy and actor placement."""
