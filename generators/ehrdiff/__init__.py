"""EHRDiff: EDM diffusion on binary code vectors (Yuan, Zhou & Yu, 2023)."""

from generators.ehrdiff.model import EHRDiff

__all__ = ["EHRDiff"]
