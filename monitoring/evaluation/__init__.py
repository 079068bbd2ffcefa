"""Stored data to the engine's input and its output back into alerts: load, reconcile, run."""
