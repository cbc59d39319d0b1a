"""Metrics by name: ours, and third parties' through the ``ehrbench.metrics`` entry points."""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from bench.core.errors import OptionError
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
    # speed
    "speed": "metrics.speed:Speed",
    # utility, listed after speed: the default suite's order is part of every job's key
    "label_fidelity": "metrics.label_fidelity:LabelFidelity",
}


def _plugins() -> dict[str, object]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def available() -> list[str]:
    return sorted({*BUILTIN, *_plugins()})


def get_class(name: str) -> type[Metric]:
    if name in BUILTIN:
        module, _, attr = BUILTIN[name].partition(":")
        cls = getattr(importlib.import_module(module), attr)
    else:
        plugins = _plugins()
        if name not in plugins:
            raise OptionError(f"unknown metric {name!r}; valid metrics: {', '.join(available())}")
        try:
            cls = plugins[name].load()  # type: ignore[attr-defined]
        except Exception as exc:
            raise OptionError(f"metric plugin {name!r} failed to load: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, Metric)):
        raise OptionError(f"metric {name!r} does not subclass metrics.base.Metric")
    return cls


def default_names() -> list[str]:
    return [n for n in sorted(BUILTIN) if get_class(n).default]


def resolve(names: list[str] | None) -> list[type[Metric]]:
    """Metric classes for ``names`` (the default suite when None), validated up front."""
    chosen = names if names else default_names()
    for n in chosen:
        get_class(n)  # raises with the valid names
    return [get_class(n) for n in chosen]
