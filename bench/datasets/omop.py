"""Persons x concepts matrices from an OMOP CDM database opened read-only with DuckDB."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.dataset import EHRDataset
from bench.errors import DatasetError

# OMOP domain -> (table, concept column)
DOMAINS: dict[str, tuple[str, str]] = {
    "condition": ("condition_occurrence", "condition_concept_id"),
    "drug": ("drug_exposure", "drug_concept_id"),
    "procedure": ("procedure_occurrence", "procedure_concept_id"),
    "measurement": ("measurement", "measurement_concept_id"),
    "observation": ("observation", "observation_concept_id"),
}


def load_omop(
    path: str | Path,
    outcome_concept: int,
    domains: tuple[str, ...] = ("condition", "drug", "procedure"),
    kind: str = "binary",
    name: str = "omop",
) -> EHRDataset:
    """Every person of ``person``, one column per concept seen in ``domains``.

    The label is whether the person has the outcome condition concept; that concept is removed
    from the features so that no generator or classifier can read the label off a column.
    """
    import duckdb

    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"OMOP database {path} does not exist")
    unknown = [d for d in domains if d not in DOMAINS]
    if unknown:
        raise DatasetError(f"unknown OMOP domain(s) {unknown}; valid: {', '.join(DOMAINS)}")
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise DatasetError(f"cannot open OMOP database {path}: {exc}") from None
    try:
        persons = np.array(
            [r[0] for r in con.execute("SELECT person_id FROM person ORDER BY person_id").fetchall()]
        )
        if persons.size == 0:
            raise DatasetError(f"OMOP database {path}: the person table is empty")
        union = " UNION ALL ".join(
            f"SELECT person_id, {col} AS concept_id, '{dom}' AS domain FROM {table}"
            for dom, (table, col) in DOMAINS.items()
            if dom in domains
        )
        rows = con.execute(
            f"SELECT person_id, concept_id, domain, COUNT(*) FROM ({union}) "
            "WHERE concept_id IS NOT NULL AND concept_id <> 0 GROUP BY ALL"
        ).fetchall()
        outcome = {
            r[0]
            for r in con.execute(
                "SELECT DISTINCT person_id FROM condition_occurrence WHERE condition_concept_id = ?",
                [int(outcome_concept)],
            ).fetchall()
        }
        concept_names = dict(con.execute("SELECT concept_id, concept_name FROM concept").fetchall())
    except duckdb.Error as exc:
        raise DatasetError(f"OMOP database {path}: query failed: {exc}") from None
    finally:
        con.close()

    if not outcome:
        raise DatasetError(f"OMOP database {path}: no person has outcome concept {outcome_concept}")
    keys = sorted({(dom, int(cid)) for _, cid, dom, _ in rows if int(cid) != int(outcome_concept)})
    col_of = {k: j for j, k in enumerate(keys)}
    row_of = {int(p): i for i, p in enumerate(persons)}
    X = np.zeros((persons.size, len(keys)), dtype=np.float32)
    for pid, cid, dom, count in rows:
        j = col_of.get((dom, int(cid)))
        i = row_of.get(int(pid))
        if j is not None and i is not None:
            X[i, j] = count if kind == "count" else 1.0
    y = np.array([int(p) in outcome for p in persons], dtype=np.int64)
    return EHRDataset(
        X=X,
        y=y,
        columns=[f"{dom}:{cid}" for dom, cid in keys],
        names=[concept_names.get(cid, f"concept {cid}") for _, cid in keys],
        kind=kind,
        name=name,
        label_name=concept_names.get(int(outcome_concept), f"concept {outcome_concept}"),
        source=str(path),
    )
