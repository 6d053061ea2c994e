"""kserve-harness: end-to-end tests and benchmarks for PyTorch models served by KServe."""

__version__ = "0.1.0"
