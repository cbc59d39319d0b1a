"""Metrics by name: the built-ins below, the ``ehrbench.metrics`` entry points of installed
packages, and classes registered at run time, through the one registry class of
:mod:`bench.core.registry` (generators and datasets are found the same way)."""

from __future__ import annotations

from typing import Any

from bench.core.registry import Registry, subclass_of
from metrics.base import Metric

ENTRY_POINT_GROUP = "ehrbench.metrics"

BUILTIN: dict[str, str] = {
    # fidelity
    "dimwise_probability": "metrics.fidelity:DimensionWiseProbability",
    "dimwise_prediction": "metrics.prediction:DimensionWisePrediction",
    "column_correlation": "metrics.fidelity:ColumnCorrelation",
    "pair_fidelity": "metrics.fidelity:ColumnPairFidelity",
    "concept_abundance": "metrics.fidelity:ConceptAbundance",
    "mmd": "metrics.support:MaximumMeanDiscrepancy",
    "prdc": "metrics.support:SupportCoverage",
    "latent_cluster": "metrics.detection:LatentClusterAnalysis",
    "detection": "metrics.detection:Detection",
    "sdmetrics_quality": "metrics.sdmetrics_quality:SDMetricsQuality",
    # utility
    "tstr_lr": "metrics.utility:TSTRLogistic",
    "tstr_xgb": "metrics.utility:TSTRXGBoost",
    "outcomes_tstr": "metrics.outcomes:MultiOutcomeTSTR",
    # clinical validity
    "effect_estimates": "metrics.clinical:EffectEstimates",
    "subgroup_fidelity": "metrics.clinical_subgroups:SubgroupFidelity",
    "knowledge_violations": "metrics.clinical_subgroups:KnowledgeViolations",
    # privacy
    "mia_dcr": "metrics.privacy:DistanceMembershipInference",
    "attribute_inference": "metrics.privacy:AttributeInference",
    "dcr": "metrics.privacy:DistanceToClosestRecord",
    "nnaa": "metrics.privacy:NearestNeighbourAdversarialAccuracy",
    "exact_copy": "metrics.privacy:ExactCopy",
    "domias": "metrics.privacy_attacks:ReferenceMembershipInference",
    # speed
    "speed": "metrics.speed:Speed",
    # utility, listed after speed: the default suite's order is part of every job's key
    "label_fidelity": "metrics.label_fidelity:LabelFidelity",
}


METRICS: Registry[type[Metric]] = Registry("metric", ENTRY_POINT_GROUP, BUILTIN,
                                           subclass_of(Metric, "metrics.base.Metric"))


def register(cls: type[Metric], name: str | None = None) -> type[Metric]:
    """Register a metric class at run time (a notebook, a test); usable as a decorator."""
    return METRICS.register(cls, name)


def available() -> list[str]:
    return METRICS.available()


def get_class(name: str) -> type[Metric]:
    return METRICS.get(name)


def describe(name: str) -> dict[str, Any]:
    """What ``bench list`` shows of one metric: category, description, default suite or not, and
    each score with its goal, ideal and range."""
    cls = get_class(name)
    return {
        "name": name, "origin": METRICS.origin(name), "category": cls.category,
        "description": cls.description, "default": cls.default, "needs_label": cls.needs_label,
        "scores": [{"score": s.name, "goal": s.goal, "ideal": s.ideal, "lower": s.lower, "upper": s.upper,
                    "reference": s.reference, "description": s.description} for s in cls.scores],
    }


def default_names() -> list[str]:
    return [n for n in sorted(BUILTIN) if get_class(n).default]


def resolve(names: list[str] | None) -> list[type[Metric]]:
    """Metric classes for ``names`` (the default suite when None), validated up front."""
    chosen = names if names else default_names()
    for n in chosen:
        get_class(n)  # raises with the valid names
    return [get_class(n) for n in chosen]
