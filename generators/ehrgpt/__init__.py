"""EHR-GPT: a compact causal transformer over each record's code set, label as prefix token."""

from generators.ehrgpt.model import EHRGPT

__all__ = ["EHRGPT"]
