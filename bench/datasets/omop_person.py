"""The person attributes of an OMOP CDM: demographic columns and cohorts by year of birth.

Used by :mod:`bench.datasets.omop` for its ``demographics`` and ``cohort`` options (documented
there and in docs/datasets.md). Column names follow the convention of :mod:`bench.core.data`.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
from scipy import sparse

from bench.core.data import AGE_PREFIX, SEX_FEMALE, SEX_MALE
from bench.core.errors import DatasetError

FEMALE_CONCEPT, MALE_CONCEPT = 8532, 8507  # OMOP gender concepts
# (lower age inclusive, upper age exclusive or None, band): common epidemiological bands
AGE_BANDS: tuple[tuple[int, int | None, str], ...] = (
    (0, 18, "0-17"), (18, 45, "18-44"), (45, 65, "45-64"), (65, 80, "65-79"), (80, None, "80+"),
)
_COHORT = re.compile(r"^born_(before|from)_(\d{4})$")


def parse_cohort(cohort: str | None) -> tuple[str, int] | None:
    """``born_before_1960`` -> ("<", 1960); ``born_from_1960`` -> (">=", 1960); None -> None."""
    if cohort is None:
        return None
    m = _COHORT.match(cohort.strip().lower())
    if not m:
        raise DatasetError(
            f"OMOP: cohort {cohort!r} is not born_before_YEAR or born_from_YEAR (e.g. born_before_1960)"
        )
    return ("<" if m.group(1) == "before" else ">=", int(m.group(2)))


def age_band(age: int) -> str:
    """The :data:`AGE_BANDS` label of an age in years."""
    for lo, hi, band in AGE_BANDS:
        if age >= lo and (hi is None or age < hi):
            return band
    raise ValueError(f"negative age {age}")


def person_columns(con: Any, q: str) -> set[str]:
    cur = con.execute(f"SELECT * FROM {q}person LIMIT 0")
    return {str(d[0]).lower() for d in cur.description}


def person_demographics(con: Any, q: str, path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(person ids, sex as 'F'/'M'/'', age band or '') for every person, ordered by person id."""
    try:
        con.execute(f"SELECT 1 FROM {q}observation_period LIMIT 0")
    except Exception:  # any DuckDB error: the table is not there or not readable
        raise DatasetError(
            f"OMOP database {path}: demographics=true needs the observation_period table (age is "
            "taken at the end of the person's observation period)"
        ) from None
    rows = con.execute(
        f"SELECT p.person_id, p.gender_concept_id, p.year_of_birth, o.ref FROM {q}person p LEFT JOIN "
        f"(SELECT person_id, year(max(CAST(observation_period_end_date AS DATE))) AS ref "
        f"FROM {q}observation_period GROUP BY person_id) o USING (person_id) ORDER BY p.person_id"
    ).fetchall()
    last = con.execute(
        f"SELECT year(max(CAST(observation_period_end_date AS DATE))) FROM {q}observation_period"
    ).fetchone()[0]
    if last is None:
        raise DatasetError(f"OMOP database {path}: observation_period has no end date to take ages at")
    pid = np.array([r[0] for r in rows], dtype=np.int64)
    sex = np.array(
        ["F" if r[1] == FEMALE_CONCEPT else "M" if r[1] == MALE_CONCEPT else "" for r in rows], dtype=object
    )
    band = np.array(
        ["" if r[2] is None else age_band(max(0, int(r[3] if r[3] is not None else last) - int(r[2])))
         for r in rows],
        dtype=object,
    )
    return pid, sex, band


def demographic_block(
    persons: np.ndarray, pid: np.ndarray, sex: np.ndarray, band: np.ndarray
) -> tuple[sparse.csr_array, list[str], list[str]]:
    """0/1 columns sex:F, sex:M and one per age band held by anyone in the CDM, rows = ``persons``."""
    bands = [b for _, _, b in AGE_BANDS if (band == b).any()]  # over the whole CDM: cohorts align
    columns = [SEX_FEMALE, SEX_MALE] + [AGE_PREFIX + b for b in bands]
    labels = ["sex: female", "sex: male"] + [f"age {b} at observation end" for b in bands]
    rows = np.searchsorted(pid, persons)  # persons is a subset of pid, both sorted
    values = [sex[rows] == "F", sex[rows] == "M"] + [band[rows] == b for b in bands]
    D = sparse.csr_array(np.column_stack(values).astype(np.float32))
    return D, columns, labels
