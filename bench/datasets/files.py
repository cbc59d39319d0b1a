"""``file``: a records x codes matrix the user brings, as CSV, Parquet or sparse ``.npz``.

One row per record, one column per code, an optional 0/1 label column named by ``label=``, and
columns to ignore (ids, dates) named by ``drop=a+b``. ``kind=binary`` (the default) reads 0/1 codes
and a value other than 0 or 1 is an error naming its column and line; ``kind=count`` reads
non-negative whole counts. The kind is never guessed from the values, so one stray count cannot
switch a whole dataset to counts without a word. Every check of ``EHRDataset`` runs, but
here first, column by column, so a message names the file, the column and the line (CSV) or row
(Parquet) rather than a position in a matrix. Cell values are never echoed into messages.

The matrix is built column by column straight into sparse form, so the only dense copy ever held
is the parsed table itself, and it is freed before the dataset is returned.

``.npz`` files: what ``scipy.sparse.save_npz`` writes (any format), or an array ``X`` (dense).
Column ids may be added as a string array ``columns``; the label is either one of those columns
or an array of its own in the file, under the name given by ``label=``.
"""

from __future__ import annotations

import csv
import gzip
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from bench.core.data import EHRDataset
from bench.core.errors import DatasetError

KINDS = ("binary", "count")
_NOT_BINARY = "not 0 or 1, and kind=binary (the default) reads 0/1 codes; kind=count reads counts"
_CSV = (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".txt")
_PARQUET = (".parquet", ".pq")
_NPZ = (".npz",)


def resolve_file(path: str | None, data_dir: str | None) -> Path:
    """``path=`` (relative to --data-dir when given), else --data-dir / EHRBENCH_DATA_FILE itself."""
    if path is None:
        if data_dir and Path(data_dir).expanduser().is_file():
            return Path(data_dir).expanduser()
        raise DatasetError("dataset 'file' needs the file: file:path=FILE (CSV, Parquet or .npz)")
    p = Path(path).expanduser()
    if not p.is_absolute() and data_dir and Path(data_dir).expanduser().is_dir():
        p = Path(data_dir).expanduser() / p
    if not p.is_file():
        raise DatasetError(f"data file {p} does not exist")
    return p


def file_cache_key(path: str | None, data_dir: str | None = None, **options: Any) -> str:
    """What the cache keys a ``file`` dataset by: the file's identity and every other option."""
    import json

    from bench.datasets.spec import file_stamp

    return "|".join([file_stamp(resolve_file(path, data_dir)), json.dumps(options, sort_keys=True)])


def _format(p: Path) -> str:
    low = p.name.lower()
    if low.endswith(_CSV):
        return "csv"
    if low.endswith(_PARQUET):
        return "parquet"
    if low.endswith(_NPZ):
        return "npz"
    raise DatasetError(f"data file {p}: unknown format; use .csv, .csv.gz, .tsv, .parquet or .npz")


def _csv_header(p: Path, sep: str) -> list[str]:
    """The header as written (pandas would rename duplicates to ``a.1`` without a word)."""
    opener = gzip.open if p.name.lower().endswith(".gz") else open
    try:
        with opener(p, "rt", newline="", encoding="utf-8") as fh:
            return next(csv.reader(fh, delimiter=sep), [])
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"data file {p}: cannot be read as text CSV: {exc}") from None


def _read_table(p: Path, fmt: str) -> tuple[pd.DataFrame, str]:
    """The table and how its rows are quoted in messages (``line`` for CSV, ``row`` else)."""
    if fmt == "csv":
        sep = "\t" if ".tsv" in p.name.lower() else ","
        header = _csv_header(p, sep)
        if not header:
            raise DatasetError(f"data file {p}: the file is empty (no header line)")
        seen: set[str] = set()
        for h in header:
            if h in seen:
                raise DatasetError(f"data file {p}: column {h!r} appears twice in the header")
            seen.add(h)
        try:
            df = pd.read_csv(p, sep=sep, skip_blank_lines=False, engine="c", low_memory=False)
        except pd.errors.EmptyDataError:
            raise DatasetError(f"data file {p}: the file is empty") from None
        except (OSError, EOFError, zlib.error, UnicodeDecodeError, pd.errors.ParserError) as exc:
            raise DatasetError(f"data file {p}: cannot be read as CSV: {str(exc).strip()}") from None
        return df, "line"
    try:
        df = pd.read_parquet(p)
    except Exception as exc:  # pyarrow raises its own types for every kind of bad file
        raise DatasetError(f"data file {p}: cannot be read as Parquet: {str(exc).splitlines()[0]}") from None
    return df, "row"


def _where(p: Path, col: str, unit: str, index: pd.Index, pos: int) -> str:
    """``pos`` is a position among the kept rows; the frame's index still counts every row read."""
    row = int(index[pos])
    n = row + 2 if unit == "line" else row + 1  # CSV: the header is line 1; Parquet rows from 1
    return f"data file {p}, column {col!r}, {unit} {n}"


def _numeric(p: Path, df: pd.DataFrame, col: str, unit: str) -> np.ndarray:
    s = df[col]
    if s.dtype == bool:
        return s.to_numpy(np.float64)
    if s.dtype.kind in "mM":  # dates would turn into nanosecond counts without a word
        raise DatasetError(
            f"data file {p}, column {col!r}: holds dates or durations, not codes; drop={col} leaves it out"
        )
    if s.dtype.kind in "iuf":
        values = s.to_numpy(np.float64)
    else:
        values = pd.to_numeric(s, errors="coerce").to_numpy(np.float64)
        text = s.notna().to_numpy() & np.isnan(values)
        if text.any():
            raise DatasetError(
                f"{_where(p, col, unit, s.index, int(np.argmax(text)))}: not a number "
                f"({int(text.sum())} such cells); drop=COLUMN leaves a column out"
            )
    missing = np.isnan(values)
    if missing.any():
        raise DatasetError(
            f"{_where(p, col, unit, s.index, int(np.argmax(missing)))}: missing value ({int(missing.sum())} such cells)"
        )
    if np.isinf(values).any():
        raise DatasetError(f"{_where(p, col, unit, s.index, int(np.argmax(np.isinf(values))))}: infinite value")
    return values


def _table_dataset(
    p: Path, df: pd.DataFrame, unit: str, label: str | None, kind: str, drop: list[str], name: str
) -> EHRDataset:
    columns = [str(c) for c in df.columns]
    df.columns = columns
    for c in [*drop, *([label] if label else [])]:
        if c not in columns:
            raise DatasetError(f"data file {p}: no column {c!r} (columns: {_some(columns)})")
    if unit == "line":  # blank lines were kept so that positions map to lines; now drop them
        empty = df.isna().all(axis=1).to_numpy()
        if empty.any():
            df = df.loc[~empty]
    if df.shape[0] == 0:
        raise DatasetError(f"data file {p}: no records (a header only)")
    n = df.shape[0]
    y = None
    if label is not None:
        lab = _numeric(p, df, label, unit)
        bad = (lab != 0) & (lab != 1)
        if bad.any():
            raise DatasetError(
                f"{_where(p, label, unit, df.index, int(np.argmax(bad)))}: the label must be 0 or 1 ({int(bad.sum())} rows are not)"
            )
        y = lab.astype(np.int64)
    features = [c for c in columns if c != label and c not in drop]
    if not features:
        raise DatasetError(f"data file {p}: no code columns left after the label and drop=")
    data_parts, row_parts, indptr = [], [], [0]
    for c in features:
        v = _numeric(p, df, c, unit)
        if (v < 0).any():
            raise DatasetError(f"{_where(p, c, unit, df.index, int(np.argmax(v < 0)))}: negative value")
        frac = v != np.round(v)
        if frac.any():
            raise DatasetError(
                f"{_where(p, c, unit, df.index, int(np.argmax(frac)))}: not a whole number; codes are "
                "binary (0/1) or counts"
            )
        nz = np.flatnonzero(v)
        if kind == "binary" and (v[nz] != 1).any():
            pos = int(nz[np.argmax(v[nz] != 1)])
            raise DatasetError(f"{_where(p, c, unit, df.index, pos)}: {_NOT_BINARY}")
        row_parts.append(nz.astype(np.int64))
        data_parts.append(v[nz].astype(np.float32))
        indptr.append(indptr[-1] + nz.size)
        df.drop(columns=c, inplace=True)  # free each column once it is copied
    del df
    M = sparse.csc_array(
        (np.concatenate(data_parts), np.concatenate(row_parts), np.asarray(indptr, dtype=np.int64)),
        shape=(n, len(features)),
    ).tocsr()
    return EHRDataset(X=M, y=y, columns=features, kind=kind, name=name, label_name=label or "label", source=str(p))


def _some(items: list[str], k: int = 8) -> str:
    return ", ".join(items[:k]) + (f", ... ({len(items)} in all)" if len(items) > k else "")


def _npz_dataset(p: Path, label: str | None, kind: str, drop: list[str], name: str) -> EHRDataset:
    try:
        z = np.load(p, allow_pickle=False)
    except (OSError, ValueError, zlib.error, EOFError) as exc:
        raise DatasetError(f"data file {p}: cannot be read as .npz: {exc}") from None
    with z:
        keys = set(z.files)
        try:
            if "X" in keys:
                dense = z["X"]
                if dense.ndim != 2:
                    raise DatasetError(f"data file {p}: array X must be 2-D, got shape {dense.shape}")
                M: Any = sparse.csr_array(dense)
            elif {"data", "shape"} <= keys:
                M = sparse.csr_array(sparse.load_npz(p))
            else:
                raise DatasetError(
                    f"data file {p}: neither a scipy.sparse.save_npz file nor an array X "
                    f"(arrays found: {', '.join(sorted(keys))})"
                )
            columns = [str(c) for c in z["columns"]] if "columns" in keys else [f"c{j}" for j in range(M.shape[1])]
            extra_label = z[label] if label is not None and label in keys and label not in columns else None
        except (ValueError, KeyError, zlib.error, OSError) as exc:
            raise DatasetError(f"data file {p}: malformed .npz: {exc}") from None
    if len(columns) != M.shape[1]:
        raise DatasetError(f"data file {p}: {len(columns)} names in 'columns' for {M.shape[1]} matrix columns")
    for c in drop:
        if c not in columns:
            raise DatasetError(f"data file {p}: no column {c!r} (columns: {_some(columns)})")
    y = None
    if label is not None:
        if extra_label is not None:
            y = np.asarray(extra_label)
            if y.ndim != 1 or y.shape[0] != M.shape[0]:
                raise DatasetError(
                    f"data file {p}: label array {label!r} has shape {y.shape} for {M.shape[0]} records"
                )
        elif label in columns:
            y = M[:, [columns.index(label)]].toarray().ravel()
        else:
            raise DatasetError(f"data file {p}: no column or array {label!r} (columns: {_some(columns)})")
        try:
            yf = np.asarray(y, dtype=np.float64)
        except (TypeError, ValueError):
            raise DatasetError(f"data file {p}, label {label!r}: not numeric (dtype {y.dtype})") from None
        bad = ~np.isin(yf, (0, 1))
        if bad.any():
            raise DatasetError(
                f"data file {p}, label {label!r}, record {int(np.argmax(bad))}: the label must be 0 or 1 "
                f"({int(bad.sum())} records are not)"
            )
        y = yf.astype(np.int64)
    keep = [j for j, c in enumerate(columns) if c != label and c not in drop]
    if not keep:
        raise DatasetError(f"data file {p}: no code columns left after the label and drop=")
    if len(keep) < len(columns):
        M = M[:, keep]
        columns = [columns[j] for j in keep]
    M = sparse.csr_array(M, dtype=np.float32)
    M.eliminate_zeros()
    counts = np.isfinite(M.data) & (M.data > 1) & (M.data == np.round(M.data))  # others: EHRDataset's messages
    if kind == "binary" and counts.any():
        bad = int(np.argmax(counts))
        row = int(np.searchsorted(M.indptr, bad, side="right")) - 1
        raise DatasetError(f"data file {p}, column {columns[int(M.indices[bad])]!r}, record {row}: {_NOT_BINARY}")
    return EHRDataset(X=M, y=y, columns=columns, kind=kind, name=name, label_name=label or "label", source=str(p))


def load_file(
    path: str | None,
    data_dir: str | None = None,
    label: str | None = None,
    kind: str = "binary",
    drop: str | list[str] | None = None,
    name: str | None = None,
) -> EHRDataset:
    """Read the user's matrix; see the module docstring for formats and checks."""
    if kind not in KINDS:
        raise DatasetError(f"dataset 'file': option kind={kind!r} is not one of {', '.join(KINDS)}")
    p = resolve_file(path, data_dir)
    drops = [d.strip() for d in (drop.split("+") if isinstance(drop, str) else (drop or [])) if d.strip()]
    if label is not None and label in drops:
        raise DatasetError(f"data file {p}: column {label!r} is both the label and dropped")
    fmt = _format(p)
    dname = name or p.name.split(".")[0]
    if fmt == "npz":
        return _npz_dataset(p, label, kind, drops, dname)
    df, unit = _read_table(p, fmt)
    return _table_dataset(p, df, unit, label, kind, drops, dname)
