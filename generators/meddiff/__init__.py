"""MedDiff: diffusion model for EHR records with label guidance and accelerated samplers."""

from generators.meddiff.model import MedDiff

__all__ = ["MedDiff"]
