"""The bottom layer: the data model, the errors, the option grammar and atomic writes.

Nothing here imports any other module of the project, so generators, metrics and dataset adapters
can build on it while the harness and the CLI sit above them (see docs/architecture.md).
"""
