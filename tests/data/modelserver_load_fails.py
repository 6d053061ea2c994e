"""A kserve.Model whose load() raises: the run must fail fast and quote this error."""
from kserve import Model


class BrokenModel(Model):
    def load(self) -> bool:
        raise RuntimeError("harness-test: load fails on purpose")
