"""Serving runtimes: everything one model server needs (its image, its environment, its processes)."""
