"""The registry of datasets: each name, what it is, its options, and the adapter that loads it.

Datasets are found by the one registry class of :mod:`bench.core.registry`, as generators and
metrics are: the built-in entries below (``REGISTRY``), the ``ehrbench.datasets`` entry points of
installed packages (each names a :class:`DatasetEntry`), and entries registered at run time.

Adding a dataset: write its adapter module beside this one (it imports only ``bench.core``), then
add an entry here whose ``load`` (and ``cache_key``, for data read from files) is the adapter's
function as ``"module:function"`` text, imported when the dataset is used, so listing stays fast
(the call convention is :class:`bench.datasets.spec.DatasetEntry`'s).
"""

from __future__ import annotations

import json
from typing import Any

from bench.core.data import EHRDataset
from bench.core.options import DatasetSpec
from bench.core.registry import Registry
from bench.datasets.spec import DatasetEntry, Option, file_stamp

ENTRY_POINT_GROUP = "ehrbench.datasets"


def _eunomia_key(data_dir: str | None, **o: Any) -> str:
    from bench.datasets.eunomia import eunomia_path

    p = eunomia_path()
    st = p.stat()
    return f"eunomia-{st.st_size}-{int(st.st_mtime)}-{json.dumps(o, sort_keys=True)}"


def _mimic3(data_dir: str | None, **o: Any) -> EHRDataset:
    from bench.datasets.mimic3 import load_mimic3

    return load_mimic3(o.pop("path") or data_dir, **o)


def _mimic3_key(data_dir: str | None, **o: Any) -> str:
    from bench.datasets.mimic3 import mimic3_files

    files = mimic3_files(o.pop("path") or data_dir)
    return "|".join([*(file_stamp(f) for f in files), json.dumps(o, sort_keys=True)])


def _rhc(data_dir: str | None, **o: Any) -> EHRDataset:
    from bench.datasets.rhc import load_rhc

    return load_rhc(**o)


def _survset(cohort: str):  # noqa: ANN202 - a loader per SurvSet cohort
    def load(data_dir: str | None, **o: Any) -> EHRDataset:
        from bench.datasets.survset import load_cohort

        return load_cohort(cohort, **o)

    return load


_KIND = Option("binary", "binary presence or counts", ("binary", "count"))
_OMOP_OPTIONS = {
    "outcome": Option(
        None, "outcome concept id (label = the person has it), or 'death' for the death table", type=str
    ),
    "outcome_domain": Option(
        "condition", "the table the outcome concept is looked up in",
        ("condition", "drug", "procedure", "measurement", "observation"),
    ),
    "domains": Option(
        "condition+drug+procedure",
        "feature domains joined by '+': condition, drug, procedure, measurement, observation",
    ),
    "kind": _KIND,
    "schema": Option(None, "schema holding the CDM tables (default: the one with a person table)", type=str),
    "demographics": Option(False, "add 0/1 columns sex:F, sex:M and age:<band> (age at observation end)"),
    "cohort": Option(None, "keep one cohort: born_before_YEAR or born_from_YEAR (columns of the whole CDM)",
                     type=str),
}

REGISTRY: dict[str, DatasetEntry] = {
    "toy": DatasetEntry(
        "toy",
        "tiny simulated dataset (600 x 24, binary, three latent groups) for tests and smoke runs",
        "bench.datasets.toy:make_toy",
        options={
            "n_records": Option(600, "records"),
            "n_codes": Option(24, "codes"),
            "seed": Option(0, "simulation seed"),
            "kind": _KIND,
            "label": Option(True, "the outcome (set by the latent group and two codes); false: unlabelled, "
                                  "so independent learns nothing of the groups"),
        },
    ),
    "eunomia": DatasetEntry(
        "eunomia",
        "OHDSI Eunomia (Synthea, simulated): 2,694 persons x 243 concepts, binary; "
        "label = gastrointestinal hemorrhage (a preset of omop)",
        "bench.datasets.eunomia:load_eunomia",
        _eunomia_key,
        options={
            "kind": _KIND,
            "domains": _OMOP_OPTIONS["domains"],
            "demographics": _OMOP_OPTIONS["demographics"],
            "cohort": _OMOP_OPTIONS["cohort"],
        },
    ),
    "omop": DatasetEntry(
        "omop",
        "any OMOP CDM: a DuckDB file, a folder of CSV/Parquet tables, or (with DuckDB's "
        "extensions installed) SQLite/Postgres; persons x concepts, label = outcome=CONCEPT_ID",
        "bench.datasets.omop:load_omop_dataset",
        "bench.datasets.omop:omop_cache_key",
        options={
            "path": Option(None, "the CDM: DuckDB file, folder of tables, sqlite file or postgres:DSN",
                           type=str),
            **_OMOP_OPTIONS,
        },
        env_var="EHRBENCH_OMOP",
    ),
    "mimic3": DatasetEntry(
        "mimic3",
        "MIMIC-III (real, credentialed): ICD-9 diagnoses per patient from ADMISSIONS and "
        "DIAGNOSES_ICD (.csv or .csv.gz) in --data-dir; label = died in hospital",
        _mimic3,
        _mimic3_key,
        options={
            "path": Option(None, "folder holding the MIMIC-III files (else --data-dir)", type=str),
            "codes": Option("3digit", "3-digit ICD-9 categories (E codes: 4 characters) or full codes",
                            ("3digit", "full")),
            "kind": _KIND,
            "bad_codes": Option("error", "a malformed ICD9_CODE stops the load, or is skipped",
                                ("error", "skip")),
        },
        env_var="EHRBENCH_MIMIC3_DIR",
        extra="mimic",
    ),
    "rhc": DatasetEntry(
        "rhc",
        "Right Heart Catheterization (real ICU patients, SurvSet, GPL extra 'survset'): 5,735 "
        "patients; comorbidity flags, one-hot categoricals, binned numerics; label = death",
        _rhc,
        options={
            "bins": Option(4, "quantile bins per numeric variable"),
            "treatment": Option(True, "keep the RHC treatment flag (swang1) as a feature"),
            "drop": Option(None, "variables to leave out, joined by '+'", type=str),
        },
        extra="survset",
    ),
    **{
        name: DatasetEntry(
            name,
            f"{what} (real patients, SurvSet, GPL extra 'survset'); one-hot categoricals, "
            f"binned numerics (docs/datasets.md); label = {label}",
            _survset(name),
            options={
                "bins": Option(4, "quantile bins per numeric variable"),
                "drop": Option(None, "variables to leave out, joined by '+'", type=str),
            },
            extra="survset",
        )
        for name, what, label in (
            ("flchain", "serum free light chain, Olmsted County (Dispenzieri 2012): 7,874 x 33",
             "death (27.5%)"),
            ("dialysis", "hemodialysis, Rio de Janeiro (Sa Carvalho 2003): 6,805 x 80", "death (23.6%)"),
            ("smarto", "SMART vascular cohort, Utrecht (Steyerberg 2009): 3,873 x 107",
             "vascular event (11.9%)"),
            ("framingham", "Framingham Heart Study (Dupont 2009): 4,699 x 36",
             "coronary heart disease (31.3%)"),
        )
    },
    "file": DatasetEntry(
        "file",
        "your own matrix: path=FILE (CSV, Parquet or sparse .npz), label=COLUMN; "
        "every column else is a code",
        "bench.datasets.files:load_file",
        "bench.datasets.files:file_cache_key",
        options={
            "path": Option(None, "the file (relative paths are taken from --data-dir)", type=str),
            "label": Option(None, "label column (0/1); none: unlabelled", type=str),
            "kind": Option("binary", "binary: 0/1 codes (another value is an error naming its column); "
                                     "count: non-negative whole counts", ("binary", "count")),
            "drop": Option(None, "columns to leave out (ids, dates), joined by '+'", type=str),
            "name": Option(None, "the dataset's name in results (default: the file's stem)", type=str),
        },
        env_var="EHRBENCH_DATA_FILE",
    ),
    "synthetic-mimic": DatasetEntry(
        "synthetic-mimic",
        "SIMULATED data shaped like MIMIC-III (46,520 x 1,071 by default; n= and d= up to "
        "1,000,000 x 5,000), heavy-tailed prevalence, code clusters; for speed and scaling runs",
        "bench.datasets.synthetic_mimic:make_synthetic_mimic",
        options={
            "n": Option(46_520, "records"),
            "d": Option(1_071, "codes"),
            "seed": Option(0, "simulation seed"),
            "kind": _KIND,
            "clusters": Option(0, "clusters of co-occurring codes (0: d // 20)"),
            "codes_per_record": Option(0.0, "mean distinct codes per record (0: 11 at d=1,071, "
                                            "growing with sqrt(d))"),
            "prevalence": Option(0.10, "label prevalence"),
        },
    ),
}


def _is_entry(obj: Any) -> str | None:
    return None if isinstance(obj, DatasetEntry) else f"{obj!r} is not a bench.datasets.spec.DatasetEntry"


DATASETS: Registry[DatasetEntry] = Registry("dataset", ENTRY_POINT_GROUP, REGISTRY, _is_entry)


def register(found: DatasetEntry, name: str | None = None) -> DatasetEntry:
    """Register a dataset entry at run time (a notebook, a test)."""
    return DATASETS.register(found, name)


def available() -> list[str]:
    return DATASETS.available()


def describe_all() -> list[tuple[str, str]]:
    """(name, one-line description) for ``python -m bench list``; an entry that fails to load
    says why instead."""
    out = []
    for n in available():
        try:
            out.append((n, entry(n).description))
        except Exception as exc:  # a broken plugin must not hide the rest
            out.append((n, f"(unavailable: {exc})"))
    return out


def describe_options(name: str) -> list[tuple[str, Any, str]]:
    """(option, default, help) of one dataset, for ``list`` and the docs."""
    out = []
    for key, opt in entry(name).options.items():
        text = opt.help + (f" [{'|'.join(opt.choices)}]" if opt.choices else "")
        out.append((key, opt.default, text))
    return out


def entry(name: str) -> DatasetEntry:
    """The registered dataset ``name``; an unknown name lists the valid ones."""
    return DATASETS.get(name)


def resolve(spec: DatasetSpec) -> tuple[DatasetEntry, dict[str, Any]]:
    """The entry of ``spec`` and every one of its options, coerced: what ``build`` needs."""
    found = entry(spec.name)
    return found, found.resolve_options(spec.options)


def check_names(specs: list[DatasetSpec]) -> None:
    """Raise OptionError for an unknown dataset or a bad option, before anything is loaded."""
    for spec in specs:
        resolve(spec)
