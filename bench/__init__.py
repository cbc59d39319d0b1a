"""ehrbench: benchmark generators of synthetic electronic health records.

The Python API (docs/api.md)::

    from bench import run_benchmark

    result = run_benchmark(["meddiff", "medgan"], datasets="eunomia", seeds=[0], preset="quick")
    print(result.headline)

``run_benchmark``, ``Benchmark`` and ``BenchmarkResult`` live in :mod:`bench.api` and are imported
on first use, so ``import bench.core...`` (what generators and metrics do) stays light.
"""

from bench.core.version import __version__

__all__ = ["Benchmark", "BenchmarkResult", "__version__", "run_benchmark"]


def __getattr__(name: str):
    if name in ("Benchmark", "BenchmarkResult", "run_benchmark"):
        from bench import api

        return getattr(api, name)
    raise AttributeError(f"module 'bench' has no attribute {name!r}")
