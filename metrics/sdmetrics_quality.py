"""SDMetrics' QualityReport as an optional cross-check of our own fidelity scores.

Not in the default suite: its Column Pair Trends walks every column pair in pandas (about a
minute for 243 columns; hours for 1,000), which is why :class:`metrics.fidelity.ColumnPairFidelity`
computes the same binary score in closed form.
"""

from __future__ import annotations

import numpy as np

from bench.core.data import EHRDataset
from bench.core.errors import MetricNotApplicable
from metrics.base import Metric, Score, Scores, SyntheticData, check_columns, take_rows


class SDMetricsQuality(Metric):
    """SDMetrics' single-table QualityReport: Column Shapes, Column Pair Trends and their mean.

    Binary codes are declared categorical (Column Shapes then uses TVComplement, Column Pair
    Trends ContingencySimilarity, over pairs with real Cramer's V above 0.3); counts numerical.
    To bound its run time at most ``max_columns`` codes (the most prevalent in the real training
    data, ties by column order) and at most ``max_records`` records per side (drawn with
    ``random_state``) go in. Needs the optional ``sdmetrics`` package.
    """

    name = "sdmetrics_quality"
    category = "fidelity"
    description = "SDMetrics QualityReport (optional cross-check; slow)"
    default = False
    scores = (
        Score("sdm_quality", "maximize", 0.0, 1.0, 1.0, "SDMetrics overall quality score"),
        Score("sdm_column_shapes", "maximize", 0.0, 1.0, 1.0, "SDMetrics Column Shapes"),
        Score("sdm_column_pair_trends", "maximize", 0.0, 1.0, 1.0, "SDMetrics Column Pair Trends"),
    )

    def __init__(self, random_state: int | None = 0, max_columns: int = 100, max_records: int = 5000) -> None:
        super().__init__(random_state)
        self.max_columns = max_columns
        self.max_records = max_records

    def compute(
        self, real_train: EHRDataset, real_test: EHRDataset, synthetic: SyntheticData
    ) -> dict[str, float]:
        try:
            import pandas as pd
            from sdmetrics.reports.single_table import QualityReport
        except ImportError:
            raise MetricNotApplicable("the optional package sdmetrics is not installed") from None
        import warnings

        notes: dict[str, str] = {}
        check_columns(real_train, synthetic)
        rng = self.rng()
        prev = (real_train.X > 0).mean(axis=0)
        cols = np.sort(np.lexsort((np.arange(prev.size), -prev))[: self.max_columns])
        names = [f"c{j}" for j in cols]
        real = take_rows(real_train, self.max_records, rng)[:, cols]
        syn = take_rows(synthetic, self.max_records, rng)[:, cols]
        binary = real_train.kind == "binary"
        sdtype = "categorical" if binary else "numerical"
        cast = (lambda a: a.astype(np.int64)) if binary else (lambda a: a.astype(np.float64))
        metadata = {"columns": {n: {"sdtype": sdtype} for n in names}}
        report = QualityReport()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            report.generate(pd.DataFrame(cast(real), columns=names), pd.DataFrame(cast(syn), columns=names),
                            metadata, verbose=False)
        props = report.get_properties().set_index("Property")["Score"]
        out = {"sdm_quality": float(report.get_score())}
        for key, prop in (("sdm_column_shapes", "Column Shapes"), ("sdm_column_pair_trends", "Column Pair Trends")):
            value = float(props.get(prop, np.nan))
            if np.isfinite(value):
                out[key] = value
            else:
                notes[key] = f"SDMetrics returned no {prop} score (e.g. no pair above its association threshold)"
        return Scores(out, notes)
