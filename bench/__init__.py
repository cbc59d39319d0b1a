"""ehrbench: the benchmark harness, CLI, datasets and tables."""

__version__ = "0.1.0"
