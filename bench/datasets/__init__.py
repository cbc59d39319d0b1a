"""Datasets by name, with options, loaded into the one data model (``EHRDataset``).

A dataset is named the way generators are: ``name`` or ``name:key=value,key=value``
(``mimic3:codes=full,kind=count``). Several share one comma-separated list on the command line; a
token with ``=`` and no ``name:`` before it continues the previous dataset's options. Values that
are lists use ``+`` (``omop:domains=condition+drug``), since ``,`` separates options.

Loaders that read user files find them through an option (``path=``), else ``data_dir`` (the
CLI's ``--data-dir``), else an environment variable named in the entry. Built matrices are cached
under a key that includes the options and the size and modification time of every file read, so
an edited file or a new option rebuilds, and an unchanged one loads from the cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from bench.cache import cache_dir
from bench.core.data import EHRDataset
from bench.core.errors import DatasetError, OptionError

LOADER_VERSION = "2"

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


# ------------------------------------------------------------------------------------ options
@dataclass(frozen=True)
class Option:
    """One dataset option: its default (which also fixes its type), help text, allowed values."""

    default: Any
    help: str
    choices: tuple[str, ...] | None = None
    type: type | None = None  # for defaults of None: the type of a given value


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset name with its options as given (text from the command line, or Python values)."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """Canonical text: the name results are filed under, and what ``load`` accepts back."""
        if not self.options:
            return self.name
        return self.name + ":" + ",".join(f"{k}={v}" for k, v in sorted(self.options.items()))

    @classmethod
    def parse(cls, text: str) -> DatasetSpec:
        specs = parse_datasets(text)
        if len(specs) != 1:
            raise OptionError(f"expected one dataset, got {len(specs)} in {text!r}")
        return specs[0]


def parse_datasets(text: str) -> list[DatasetSpec]:
    """Split ``a:k=v,k2=v2,b,c:k=v`` into specs (the generators' syntax).

    A token starts a new dataset when it has no ``=``, or a ``:`` before its first ``=``; so a
    value may itself hold ``:`` (``file:label=y,path=C:/x.csv`` keeps the path whole).
    """
    specs: list[tuple[str, dict[str, str]]] = []
    for raw in text.split(","):
        token = raw.strip()
        if not token:
            continue
        colon, eq = token.find(":"), token.find("=")
        if colon >= 0 and (eq < 0 or colon < eq):
            name, token = token[:colon].strip(), token[colon + 1 :].strip()
            if not name:
                raise OptionError(f"dataset spec {raw.strip()!r} has options but no dataset name")
            specs.append((name, {}))
            if not token:
                continue
        elif eq < 0:
            specs.append((token, {}))
            continue
        if not specs:
            raise OptionError(f"option {token!r} comes before any dataset name")
        key, sep, value = token.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            raise OptionError(f"dataset {specs[-1][0]!r}: option {token!r} is not key=value")
        if key in specs[-1][1]:
            raise OptionError(f"dataset {specs[-1][0]!r}: option {key!r} given twice")
        specs[-1][1][key] = value
    if not specs:
        raise OptionError("no dataset named")
    return [DatasetSpec(n, o) for n, o in specs]


def _coerce(dataset: str, key: str, value: Any, opt: Option) -> Any:
    """Option text (or a Python value) to the option's type, checked against its choices."""
    want = opt.type or (type(opt.default) if opt.default is not None else None)
    if isinstance(value, str):
        text = value.strip()
        if opt.default is None and text.lower() in ("", "none"):
            return None
        try:
            if want is bool:
                if text.lower() in _TRUE:
                    value = True
                elif text.lower() in _FALSE:
                    value = False
                else:
                    raise ValueError
            elif want is int:
                value = int(text.replace("_", ""))
            elif want is float:
                value = float(text)
            else:
                value = text
        except ValueError:
            kind = "true/false" if want is bool else ("an integer" if want is int else "a number")
            raise OptionError(f"dataset {dataset!r}: option {key}={value!r} is not {kind}") from None
    elif want is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    elif want is not None and value is not None and not isinstance(value, want):
        if not (want is int and isinstance(value, np.integer)):
            raise OptionError(
                f"dataset {dataset!r}: option {key}={value!r} should be {want.__name__}, "
                f"not {type(value).__name__}"
            )
        value = int(value)
    if opt.choices is not None and value not in opt.choices:
        raise OptionError(
            f"dataset {dataset!r}: option {key}={value!r} is not one of {', '.join(opt.choices)}"
        )
    return value


# ----------------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class DatasetEntry:
    """A named dataset.

    ``load(data_dir, **options)`` builds it; ``cache_key(data_dir, **options)`` names what it
    reads (files with size and mtime) so the cache can tell an unchanged input; it returns None
    when it cannot tell (a remote database). ``cache_key`` itself is None for datasets that are
    quicker to build than to read back. ``options`` declares every option with
    its default; the loader receives all of them, coerced.
    """

    name: str
    description: str
    load: Callable[..., EHRDataset]
    cache_key: Callable[..., str | None] | None = None
    options: Mapping[str, Option] = field(default_factory=dict)
    env_var: str | None = None  # where the data is when neither path= nor data_dir says
    extra: str | None = None  # the optional dependency group it needs, for messages

    def resolve_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            valid = ", ".join(sorted(self.options)) or "none"
            raise OptionError(f"dataset {self.name!r}: unknown option {unknown[0]!r}; valid options: {valid}")
        out = {k: o.default for k, o in self.options.items()}
        for k, v in options.items():
            out[k] = _coerce(self.name, k, v, self.options[k])
        return out


def _from_env(entry: DatasetEntry, data_dir: str | None) -> str | None:
    if data_dir:
        return str(data_dir)
    if entry.env_var and os.environ.get(entry.env_var):
        return os.environ[entry.env_var]
    return None


def _file_stamp(path: Path) -> str:
    """Identity of a file's content for cache keys: resolved path, size, modification time."""
    st = path.stat()
    return f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}"


# each loader module is imported only when its dataset is used


def _toy(data_dir: str | None, **o: Any) -> EHRDataset:
    from bench.datasets.toy import make_toy

    return make_toy(**o)


def _eunomia(data_dir: str | None, **o: Any) -> EHRDataset:
    from bench.datasets import eunomia

    return eunomia.load_eunomia(**o)


def _eunomia_key(data_dir: str | None, **o: Any) -> str:
    from bench.datasets.eunomia import eunomia_path

    p = eunomia_path()
    st = p.stat()
    return f"eunomia-{st.st_size}-{int(st.st_mtime)}-{json.dumps(o, sort_keys=True)}"


def _omop(data_dir: str | None, **o: Any) -> EHRDataset:
    from bench.datasets.omop import load_omop_dataset

    return load_omop_dataset(data_dir, **o)


def _omop_key(data_dir: str | None, **o: Any) -> str:
    from bench.datasets.omop import omop_cache_key

    return omop_cache_key(data_dir, **o)


def _mimic3(data_dir: str | None, **o: Any) -> EHRDataset:
    from bench.datasets.mimic3 import load_mimic3

    return load_mimic3(o.pop("path") or data_dir, **o)


def _mimic3_key(data_dir: str | None, **o: Any) -> str:
    from bench.datasets.mimic3 import mimic3_files

    files = mimic3_files(o.pop("path") or data_dir)
    return "|".join([*(_file_stamp(f) for f in files), json.dumps(o, sort_keys=True)])


def _rhc(data_dir: str | None, **o: Any) -> EHRDataset:
    from bench.datasets.rhc import load_rhc

    return load_rhc(**o)


def _file(data_dir: str | None, **o: Any) -> EHRDataset:
    from bench.datasets.files import load_file

    return load_file(o.pop("path"), data_dir=data_dir, **o)


def _file_key(data_dir: str | None, **o: Any) -> str:
    from bench.datasets.files import resolve_file

    path = resolve_file(o.pop("path"), data_dir)
    return "|".join([_file_stamp(path), json.dumps(o, sort_keys=True)])


def _synthetic_mimic(data_dir: str | None, **o: Any) -> EHRDataset:
    from bench.datasets.synthetic_mimic import make_synthetic_mimic

    return make_synthetic_mimic(**o)


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
        _toy,
        options={
            "n_records": Option(600, "records"),
            "n_codes": Option(24, "codes"),
            "seed": Option(0, "simulation seed"),
            "kind": _KIND,
        },
    ),
    "eunomia": DatasetEntry(
        "eunomia",
        "OHDSI Eunomia (Synthea, simulated): 2,694 persons x 243 concepts, binary; "
        "label = gastrointestinal hemorrhage (a preset of omop)",
        _eunomia,
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
        _omop,
        _omop_key,
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
        "Right Heart Catheterization (real ICU patients, SurvSet, GPL extra 'rhc'): 5,735 "
        "patients; comorbidity flags, one-hot categoricals, binned numerics; label = death",
        _rhc,
        options={
            "bins": Option(4, "quantile bins per numeric variable"),
            "treatment": Option(True, "keep the RHC treatment flag (swang1) as a feature"),
        },
        extra="rhc",
    ),
    "file": DatasetEntry(
        "file",
        "your own matrix: path=FILE (CSV, Parquet or sparse .npz), label=COLUMN; "
        "every column else is a code",
        _file,
        _file_key,
        options={
            "path": Option(None, "the file (relative paths are taken from --data-dir)", type=str),
            "label": Option(None, "label column (0/1); none: unlabelled", type=str),
            "kind": Option("auto", "binary, count, or auto (binary if every value is 0/1)",
                           ("auto", "binary", "count")),
            "drop": Option(None, "columns to leave out (ids, dates), joined by '+'", type=str),
            "name": Option(None, "the dataset's name in results (default: the file's stem)", type=str),
        },
        env_var="EHRBENCH_DATA_FILE",
    ),
    "synthetic-mimic": DatasetEntry(
        "synthetic-mimic",
        "SIMULATED data shaped like MIMIC-III (46,520 x 1,071 by default; n= and d= up to "
        "1,000,000 x 5,000), heavy-tailed prevalence, code clusters; for speed and scaling runs",
        _synthetic_mimic,
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


def available() -> list[str]:
    return sorted(REGISTRY)


def describe_all() -> list[tuple[str, str]]:
    """(name, one-line description) for ``python -m bench list``."""
    return [(n, REGISTRY[n].description) for n in available()]


def describe_options(name: str) -> list[tuple[str, Any, str]]:
    """(option, default, help) of one dataset, for ``list`` and the docs."""
    check_names([name])
    out = []
    for key, opt in REGISTRY[name].options.items():
        text = opt.help + (f" [{'|'.join(opt.choices)}]" if opt.choices else "")
        out.append((key, opt.default, text))
    return out


def check_names(names: list[str]) -> None:
    """Raise OptionError for an unknown dataset; entries may carry options (``mimic3:kind=count``)."""
    for text in names:
        for spec in parse_datasets(text) if isinstance(text, str) else [text]:
            if spec.name not in REGISTRY:
                raise OptionError(f"unknown dataset {spec.name!r}; valid datasets: {', '.join(available())}")
            REGISTRY[spec.name].resolve_options(spec.options)


def load(
    name: str | DatasetSpec, data_dir: str | os.PathLike[str] | None = None, use_cache: bool = True, **options: Any
) -> EHRDataset:
    """Build (or read from the cache) one dataset.

    ``name`` may carry options (``"mimic3:codes=full"``); keyword ``options`` add to them. Bad
    names or options raise OptionError; unreadable or malformed data raise DatasetError naming
    the file, column or row.
    """
    spec = name if isinstance(name, DatasetSpec) else DatasetSpec.parse(name)
    check_names([spec])
    clash = sorted(set(spec.options) & set(options))
    if clash:
        raise OptionError(f"dataset {spec.name!r}: option {clash[0]!r} given twice")
    entry = REGISTRY[spec.name]
    opts = entry.resolve_options({**spec.options, **options})
    where = _from_env(entry, None if data_dir is None else os.fspath(data_dir))
    if entry.cache_key is None or not use_cache:
        return entry.load(where, **opts)
    try:
        stamp = entry.cache_key(where, **dict(opts))
    except OSError as exc:
        raise DatasetError(f"dataset {spec.name!r}: cannot read {exc.filename or exc}: {exc.strerror}") from None
    if stamp is None:  # the loader cannot tell whether its input changed: always build
        return entry.load(where, **opts)
    key = hashlib.sha256(f"{LOADER_VERSION}:{spec.name}:{stamp}".encode()).hexdigest()[:16]
    path = cache_dir() / f"{spec.name}-{key}.npz"
    if path.exists():
        try:
            return _read_cache(path)
        except Exception:  # a corrupt cache is rebuilt, never trusted
            path.unlink(missing_ok=True)
    data = entry.load(where, **opts)
    with contextlib.suppress(OSError):  # a read-only or full cache directory costs speed, not the run
        _write_cache(path, data)
    return data


def _write_cache(path: Path, data: EHRDataset) -> None:
    meta = {
        "columns": list(data.columns),
        "names": None if data.names is None else list(data.names),
        "kind": data.kind,
        "name": data.name,
        "label_name": data.label_name,
        "source": data.source,
    }
    small = np.uint16 if data.kind == "count" else np.uint8
    if data.is_sparse:
        M = data.X_sparse
        if data.kind == "count" and M.nnz and M.data.max() > np.iinfo(np.uint16).max:
            small = np.uint32
        arrays = {
            "data": M.data.astype(small),
            "indices": M.indices,
            "indptr": M.indptr,
            "shape": np.array(M.shape, dtype=np.int64),
        }
    else:
        if data.kind == "count" and data.X.max() > np.iinfo(np.uint16).max:
            small = np.uint32
        arrays = {"X": data.X.astype(small)}
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
    os.close(fd)
    try:
        with open(tmp, "wb") as fh:
            np.savez_compressed(
                fh,
                **arrays,
                y=np.array([]) if data.y is None else data.y,
                has_y=np.array(data.y is not None),
                meta=np.array(json.dumps(meta)),
            )
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _read_cache(path: Path) -> EHRDataset:
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        if "X" in z.files:
            X: Any = z["X"].astype(np.float32)
        else:
            shape = tuple(int(s) for s in z["shape"])
            X = sparse.csr_array((z["data"].astype(np.float32), z["indices"], z["indptr"]), shape=shape)
        return EHRDataset(
            X=X,
            y=z["y"] if bool(z["has_y"]) else None,
            **meta,
        )


__all__ = [
    "REGISTRY",
    "DatasetEntry",
    "DatasetError",
    "DatasetSpec",
    "EHRDataset",
    "Option",
    "available",
    "check_names",
    "describe_all",
    "describe_options",
    "load",
    "parse_datasets",
]
