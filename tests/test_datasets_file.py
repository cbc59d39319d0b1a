"""``file``: the user's own matrix as CSV, Parquet or sparse .npz, with messages naming file, column, line."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from bench import datasets
from bench.core.errors import DatasetError
from bench.datasets.files import load_file

CSV = "pid,a,b,c,died\n7,1,0,0,1\n8,0,1,1,0\n9,1,1,0,0\n10,0,0,1,1\n"
X = np.array([[1, 0, 0], [0, 1, 1], [1, 1, 0], [0, 0, 1]], dtype=np.float32)
Y = np.array([1, 0, 0, 1])


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    p = tmp_path / "mine.csv"
    p.write_text(CSV)
    return p


def _write(tmp_path: Path, text: str, name: str = "bad.csv") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_csv_with_label_and_dropped_id(csv_file):
    d = load_file(str(csv_file), label="died", drop="pid")
    assert d.columns == ["a", "b", "c"] and np.array_equal(d.X, X) and np.array_equal(d.y, Y)
    assert d.kind == "binary" and d.name == "mine" and d.label_name == "died" and d.is_sparse


def test_a_count_never_switches_the_kind_silently(tmp_path):
    """Binary is the default: one value above 1 is an error naming its column and line, and
    kind=count is how counts are read (issue 27)."""
    p = _write(tmp_path, "a,b,y\n1,0,1\n0,1,0\n1,3,0\n", "counts.csv")
    with pytest.raises(DatasetError, match=r"counts\.csv, column 'b', line 4: not 0 or 1.*kind=count reads counts"):
        load_file(str(p), label="y")
    d = load_file(str(p), label="y", kind="count")
    assert d.kind == "count" and d.X[2, 1] == 3
    npz = tmp_path / "counts.npz"
    np.savez(npz, X=np.array([[1, 0], [0, 2]]), columns=np.array(["a", "b"]))
    with pytest.raises(DatasetError, match=r"counts\.npz, column 'b', record 1: not 0 or 1"):
        load_file(str(npz))
    assert load_file(str(npz), kind="count").kind == "count"


def test_kind_auto_is_gone_with_a_message_naming_the_choices(tmp_path):
    from bench.core.errors import OptionError

    with pytest.raises(OptionError, match=r"dataset 'file': option kind='auto' is not one of binary, count"):
        datasets.load(f"file:path={_write(tmp_path, CSV)},kind=auto")


def test_parquet_and_npz_give_the_same_dataset(csv_file, tmp_path):
    ref = load_file(str(csv_file), label="died", drop="pid")
    pq = tmp_path / "mine.parquet"
    pd.read_csv(csv_file).to_parquet(pq)
    assert load_file(str(pq), label="died", drop="pid").fingerprint == ref.fingerprint
    npz = tmp_path / "mine.npz"
    sparse.save_npz(npz, sparse.csr_matrix(X))
    with np.load(npz) as z:
        arrays = dict(z)
    np.savez(npz, **arrays, columns=np.array(["a", "b", "c"]), died=Y)
    assert load_file(str(npz), label="died").fingerprint == ref.fingerprint
    dense = tmp_path / "dense.npz"  # label as a column of the matrix
    np.savez(dense, X=np.column_stack([X, Y]), columns=np.array(["a", "b", "c", "died"]))
    assert load_file(str(dense), label="died").fingerprint == ref.fingerprint


def test_registry_file_resolves_relative_paths_from_data_dir(csv_file):
    d = datasets.load("file:path=mine.csv,label=died,drop=pid", data_dir=str(csv_file.parent))
    assert np.array_equal(d.X, X)
    e = datasets.load("file:label=died,drop=pid", data_dir=str(csv_file))  # --data-dir names the file
    assert e.fingerprint == d.fingerprint


def test_cache_key_follows_size_mtime_and_options(csv_file, monkeypatch):
    first = datasets.load(f"file:path={csv_file},label=died,drop=pid")
    from bench.datasets import files

    def fail(*a, **k):
        raise AssertionError("read again")

    monkeypatch.setattr(files, "load_file", fail)
    assert datasets.load(f"file:path={csv_file},label=died,drop=pid").fingerprint == first.fingerprint
    with pytest.raises(AssertionError):  # another option: another entry
        datasets.load(f"file:path={csv_file},label=died,drop=pid,kind=count")
    monkeypatch.undo()
    csv_file.write_text(CSV.replace("9,1,1,0,0", "9,0,1,0,0"))  # same size: only the mtime tells
    st = csv_file.stat()
    os.utime(csv_file, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    changed = datasets.load(f"file:path={csv_file},label=died,drop=pid")
    assert changed.X[2, 0] == 0 and changed.fingerprint != first.fingerprint


@pytest.mark.parametrize(
    ("text", "options", "message"),
    [
        ("a,b,y\n1,0,1\n0,x,0\n", {"label": "y"}, r"bad\.csv, column 'b', line 3: not a number"),
        ("a,b,y\n1,0,1\n0,,0\n", {"label": "y"}, r"column 'b', line 3: missing value"),
        ("a,b,y\n1,0,1\n0,-1,0\n", {"label": "y"}, r"column 'b', line 3: negative value"),
        ("a,b,y\n1,0.5,1\n0,1,0\n", {"label": "y"}, r"column 'b', line 2: not a whole number"),
        ("a,b,y\n1,2,1\n0,1,0\n", {"label": "y"}, r"column 'b', line 2: not 0 or 1"),
        ("a,b,y\n1,0,1\n0,1,2\n", {"label": "y"}, r"column 'y', line 3: the label must be 0 or 1"),
        ("a,b,y\n1,0,1\n0,1,0\n", {"label": "died"}, r"no column 'died' \(columns: a, b, y\)"),
        ("a,b,y\n1,0,1\n0,1,0\n", {"label": "y", "drop": "zz"}, r"no column 'zz'"),
        ("a,a,y\n1,0,1\n0,1,0\n", {"label": "y"}, r"column 'a' appears twice"),
        ("a,b,y\n", {"label": "y"}, r"no records"),
        ("", {}, r"empty"),
        ("a,b,y\n1,0,1\n0,1,0\n", {"label": "y", "drop": "y"}, r"both the label and dropped"),
        ("a,b,y\n1,0,1\n0,1,0,7\n", {"label": "y"}, r"cannot be read as CSV"),
    ],
)
def test_bad_csv_is_reported_with_file_column_and_line(tmp_path, text, options, message):
    p = _write(tmp_path, text)
    with pytest.raises(DatasetError, match=message):
        load_file(str(p), **options)


def test_line_numbers_count_blank_lines(tmp_path):
    p = _write(tmp_path, "a,y\n1,1\n\n0,0\nq,1\n")
    with pytest.raises(DatasetError, match="line 5: not a number"):
        load_file(str(p), label="y")


def test_messages_do_not_echo_cell_values(tmp_path):
    p = _write(tmp_path, "a,y\n1,1\n0.123456,0\n")
    with pytest.raises(DatasetError) as info:
        load_file(str(p), label="y")
    assert "0.123456" not in str(info.value)


def test_parquet_rows_are_named(tmp_path):
    p = tmp_path / "x.parquet"
    pd.DataFrame({"a": [1.0, np.nan], "y": [0, 1]}).to_parquet(p)
    with pytest.raises(DatasetError, match=r"x\.parquet, column 'a', row 2: missing value"):
        load_file(str(p), label="y")


def test_date_columns_are_refused_not_turned_into_numbers(tmp_path):
    p = tmp_path / "d.parquet"
    pd.DataFrame({"a": [1, 0], "seen": pd.to_datetime(["2020-01-01", "2021-01-01"]), "y": [0, 1]}).to_parquet(p)
    with pytest.raises(DatasetError, match="column 'seen': holds dates"):
        load_file(str(p), label="y")
    assert load_file(str(p), label="y", drop="seen").columns == ["a"]


def test_npz_problems_are_named(tmp_path):
    p = tmp_path / "m.npz"
    sparse.save_npz(p, sparse.csr_matrix(np.array([[1.0, 0], [0, np.nan]])))
    with pytest.raises(DatasetError, match=r"m\.npz.*non-finite values .* column 'c1' \(record 1\)"):
        load_file(str(p))
    np.savez(p, foo=np.zeros(3))
    with pytest.raises(DatasetError, match="neither a scipy.sparse.save_npz file nor an array X"):
        load_file(str(p))
    np.savez(p, X=np.eye(2), y=np.array([0, 3]))
    with pytest.raises(DatasetError, match="label 'y', record 1: the label must be 0 or 1"):
        load_file(str(p), label="y")


def test_unknown_format_and_missing_file(tmp_path):
    with pytest.raises(DatasetError, match="unknown format"):
        load_file(str(_write(tmp_path, "a\n1\n", "x.xlsx")))
    with pytest.raises(DatasetError, match="does not exist"):
        datasets.load(f"file:path={tmp_path / 'none.csv'}")
    with pytest.raises(DatasetError, match="needs the file"):
        datasets.load("file")


def test_unlabelled_file_loads_without_label(csv_file):
    d = load_file(str(csv_file), drop="pid+died")
    assert d.y is None and d.columns == ["a", "b", "c"]
