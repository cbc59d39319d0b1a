"""The OMOP loader on a hand-built CDM (CSV folder, Parquet folder, DuckDB file) and on Eunomia.

The little CDM, worked out by hand:

    person 1: condition 201826 twice, the outcome 192671, drug 1112807, measurement 3004410
    person 2: condition 201826, procedure 4336464
    person 3: condition 320128, drug 1112807 three times; in the death table
    person 4: an unmapped condition (concept 0), drug 19019073, measurement 3004410
    person 9: not in the person table; condition 4000 (ignored)
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pytest

from bench import datasets
from bench.core.errors import DatasetError, OptionError
from bench.datasets import omop
from bench.datasets.eunomia import GI_HEMORRHAGE, eunomia_path
from bench.datasets.omop import load_omop

TABLES = {
    "person": "person_id,gender_concept_id,year_of_birth\n1,8507,1950\n2,8532,1961\n3,8507,1977\n4,8532,1990\n",
    "condition_occurrence": (
        "condition_occurrence_id,person_id,condition_concept_id\n"
        "1,1,201826\n2,1,201826\n3,1,192671\n4,2,201826\n5,3,320128\n6,4,0\n7,9,4000\n"
    ),
    "drug_exposure": "drug_exposure_id,person_id,drug_concept_id\n1,1,1112807\n2,3,1112807\n3,3,1112807\n"
                     "4,3,1112807\n5,4,19019073\n",
    "procedure_occurrence": "procedure_occurrence_id,person_id,procedure_concept_id\n1,2,4336464\n",
    "measurement": "measurement_id,person_id,measurement_concept_id,value_as_number\n1,1,3004410,5.1\n2,4,3004410,7.9\n",
    "death": "person_id,death_date\n3,2020-01-01\n",
    "concept": "concept_id,concept_name\n201826,Type 2 diabetes mellitus\n320128,Essential hypertension\n"
               "192671,Gastrointestinal hemorrhage\n1112807,Aspirin\n4336464,Coronary artery bypass graft\n",
}
COLUMNS = ["condition:201826", "condition:320128", "drug:1112807", "drug:19019073", "procedure:4336464"]
COUNTS = np.array(
    [
        [2, 0, 1, 0, 0],
        [1, 0, 0, 0, 1],
        [0, 1, 3, 0, 0],
        [0, 0, 0, 1, 0],
    ],
    dtype=np.float32,
)
OUTCOME = np.array([1, 0, 0, 0])


@pytest.fixture
def cdm_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "cdm"
    folder.mkdir()
    for table, text in TABLES.items():
        (folder / f"{table}.csv").write_text(text)
    return folder


@pytest.fixture
def cdm_duckdb(cdm_folder: Path, tmp_path: Path) -> Path:
    path = tmp_path / "omop_cdm.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA cdm")
    for table in TABLES:
        con.execute(f"CREATE TABLE cdm.{table} AS SELECT * FROM read_csv('{cdm_folder / (table + '.csv')}')")
    con.close()
    return path


def test_csv_folder_gives_the_hand_worked_matrix(cdm_folder):
    d = load_omop(cdm_folder, 192671, kind="count")
    assert d.columns == COLUMNS
    assert np.array_equal(d.X, COUNTS)
    assert np.array_equal(d.y, OUTCOME)
    assert d.label_name == "Gastrointestinal hemorrhage"
    assert d.names[:3] == ["Type 2 diabetes mellitus", "Essential hypertension", "Aspirin"]
    assert d.names[3] == "concept 19019073"  # not in the concept table
    b = load_omop(cdm_folder, 192671)
    assert np.array_equal(b.X, (COUNTS > 0).astype(np.float32)) and b.is_sparse


def test_duckdb_file_in_its_own_schema_and_parquet_folder_agree(cdm_folder, cdm_duckdb, tmp_path):
    ref = load_omop(cdm_folder, 192671, kind="count")
    db = load_omop(cdm_duckdb, 192671, kind="count")
    pq = tmp_path / "pq"
    pq.mkdir()
    con = duckdb.connect()
    for table in TABLES:
        con.execute(f"COPY (SELECT * FROM read_csv('{cdm_folder / (table + '.csv')}')) TO '{pq / (table + '.parquet')}'")
    con.close()
    par = load_omop(pq, 192671, kind="count")
    assert db.fingerprint == ref.fingerprint == par.fingerprint
    assert db.names == ref.names


def test_measurement_presence_and_death_outcome(cdm_folder):
    d = load_omop(cdm_folder, "death", domains="condition+measurement")
    assert d.columns == ["condition:192671", "condition:201826", "condition:320128", "measurement:3004410"]
    assert np.array_equal(d.X[:, 3], [1, 0, 0, 1])
    assert np.array_equal(d.y, [0, 0, 1, 0]) and d.label_name == "death"


def test_outcome_in_another_domain(cdm_folder):
    d = load_omop(cdm_folder, 1112807, domains=("condition",), outcome_domain="drug")
    assert np.array_equal(d.y, [1, 0, 1, 0]) and d.label_name == "Aspirin"


def test_registry_omop_takes_path_outcome_and_domains(cdm_folder):
    d = datasets.load(f"omop:path={cdm_folder},outcome=192671,domains=condition+drug+procedure,kind=count")
    assert d.columns == COLUMNS and np.array_equal(d.X, COUNTS)
    e = datasets.load("omop:outcome=192671", data_dir=str(cdm_folder))
    assert e.fingerprint == datasets.load("omop:outcome=192671,kind=binary", data_dir=str(cdm_folder)).fingerprint


def test_omop_cache_follows_the_files(cdm_folder, monkeypatch):
    first = datasets.load("omop:outcome=192671", data_dir=str(cdm_folder))

    def fail(*a, **k):
        raise AssertionError("queried again")

    monkeypatch.setattr(omop, "load_omop_dataset", fail)
    assert datasets.load("omop:outcome=192671", data_dir=str(cdm_folder)).fingerprint == first.fingerprint
    monkeypatch.undo()
    with (cdm_folder / "procedure_occurrence.csv").open("a") as fh:
        fh.write("2,4,4336464\n")
    changed = datasets.load("omop:outcome=192671", data_dir=str(cdm_folder))
    assert changed.fingerprint != first.fingerprint


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("omop", "needs its outcome"),
        ("omop:outcome=192671,domains=condition+labs", "unknown OMOP domain 'labs'"),
        ("omop:outcome=12345", "no person has the outcome"),
        ("omop:outcome=aspirin", "concept id or 'death'"),
        ("omop:outcome=192671,domains=observation", "table observation .* is missing"),
    ],
)
def test_bad_omop_requests_are_named(cdm_folder, spec, message):
    with pytest.raises(DatasetError, match=message):
        datasets.load(spec, data_dir=str(cdm_folder))


def test_missing_database_is_named(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        datasets.load(f"omop:path={tmp_path / 'nope.duckdb'},outcome=1")


def test_wrong_schema_lists_the_ones_found(cdm_duckdb):
    with pytest.raises(DatasetError, match="schema 'main' has no person table.*cdm"):
        load_omop(cdm_duckdb, 192671, schema="main")


def test_unknown_option_is_an_option_error():
    with pytest.raises(OptionError, match="unknown option 'outcom'.*outcome"):
        datasets.load("omop:outcom=1")


def _reference_eunomia(path: Path) -> tuple[np.ndarray, list[str], np.ndarray]:
    """The foundation's original row-by-row construction, kept here as an independent check."""
    con = duckdb.connect(str(path), read_only=True)
    persons = [r[0] for r in con.execute("SELECT person_id FROM person ORDER BY person_id").fetchall()]
    rows = con.execute(
        "SELECT person_id, c, dom, COUNT(*) FROM ("
        "SELECT person_id, condition_concept_id AS c, 'condition' AS dom FROM condition_occurrence UNION ALL "
        "SELECT person_id, drug_concept_id, 'drug' FROM drug_exposure UNION ALL "
        "SELECT person_id, procedure_concept_id, 'procedure' FROM procedure_occurrence) "
        "WHERE c IS NOT NULL AND c <> 0 GROUP BY ALL"
    ).fetchall()
    outcome = {r[0] for r in con.execute(
        "SELECT person_id FROM condition_occurrence WHERE condition_concept_id = ?", [GI_HEMORRHAGE]
    ).fetchall()}
    con.close()
    keys = sorted({(dom, int(c)) for _, c, dom, _ in rows if int(c) != GI_HEMORRHAGE})
    col = {k: j for j, k in enumerate(keys)}
    row = {p: i for i, p in enumerate(persons)}
    X = np.zeros((len(persons), len(keys)), dtype=np.float32)
    for p, c, dom, _ in rows:
        if (dom, int(c)) in col:
            X[row[p], col[(dom, int(c))]] = 1
    return X, [f"{d}:{c}" for d, c in keys], np.array([p in outcome for p in persons], dtype=np.int64)


def test_eunomia_preset_matches_the_row_by_row_reference_and_plain_omop():
    X, columns, y = _reference_eunomia(eunomia_path())
    d = datasets.load("eunomia", use_cache=False)
    assert d.columns == columns and np.array_equal(d.X, X) and np.array_equal(d.y, y)
    same = datasets.load(f"omop:path={eunomia_path()},outcome={GI_HEMORRHAGE}", use_cache=False)
    assert same.fingerprint == d.fingerprint


def test_sqlite_cdm_loads_or_names_the_missing_extension(tmp_path):
    """SQLite goes through DuckDB's sqlite extension, which is never downloaded at run time."""
    import csv
    import io
    import sqlite3

    path = tmp_path / "cdm.sqlite"
    con = sqlite3.connect(path)
    for table, text in TABLES.items():
        rows = list(csv.reader(io.StringIO(text)))
        con.execute(f"CREATE TABLE {table} ({', '.join(rows[0])})")
        con.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * len(rows[0]))})", rows[1:])
    con.commit()
    con.close()
    try:
        d = load_omop(path, 192671, kind="count")
    except DatasetError as exc:
        assert "sqlite extension is not installed" in str(exc) and "INSTALL sqlite" in str(exc)
    else:
        assert d.columns == COLUMNS and np.array_equal(d.X, COUNTS)


# ------------------------------------------------------------------- demographics and cohorts
# person 1: male, born 1950, observed until 2020 -> 70 (65-79); person 2: female, 1961, until 2019
# -> 58 (45-64); person 3: male, 1977, no observation period -> the CDM's last end, 2020 -> 43
# (18-44); person 4: female, 1990, until 2010 -> 20 (18-44)
OBSERVATION = (
    "observation_period_id,person_id,observation_period_start_date,observation_period_end_date\n"
    "1,1,2000-01-01,2015-01-01\n2,1,2016-01-01,2020-06-30\n3,2,2001-01-01,2019-12-31\n4,4,2005-01-01,2010-03-01\n"
)
DEMO_COLUMNS = ["sex:F", "sex:M", "age:18-44", "age:45-64", "age:65-79"]
DEMO = np.array([[0, 1, 0, 0, 1], [1, 0, 0, 1, 0], [0, 1, 1, 0, 0], [1, 0, 1, 0, 0]], dtype=np.float32)


@pytest.fixture
def cdm_with_periods(cdm_folder: Path) -> Path:
    (cdm_folder / "observation_period.csv").write_text(OBSERVATION)
    return cdm_folder


def test_demographics_are_appended_by_hand(cdm_with_periods):
    plain = load_omop(cdm_with_periods, 192671, kind="count")
    d = load_omop(cdm_with_periods, 192671, kind="count", demographics=True)
    assert d.columns == COLUMNS + DEMO_COLUMNS
    assert np.array_equal(d.X, np.hstack([COUNTS, DEMO])) and np.array_equal(d.y, OUTCOME)
    assert d.names[-1] == "age 65-79 at observation end"
    assert plain.columns == COLUMNS and np.array_equal(plain.X, COUNTS)  # off by default: unchanged
    reg = datasets.load(f"omop:path={cdm_with_periods},outcome=192671,demographics=true", use_cache=False)
    assert reg.columns == COLUMNS + DEMO_COLUMNS


def test_demographics_need_the_observation_period_table(cdm_folder):
    with pytest.raises(DatasetError, match="observation_period"):
        load_omop(cdm_folder, 192671, demographics=True)


def test_cohorts_keep_the_whole_cdms_columns(cdm_with_periods):
    full = load_omop(cdm_with_periods, "death", kind="count", demographics=True)
    old = load_omop(cdm_with_periods, "death", kind="count", demographics=True, cohort="born_before_1980")
    assert old.columns == full.columns  # person 4's drug and age band stay, as zero columns
    assert np.array_equal(old.X, full.X[:3]) and np.array_equal(old.y, [0, 0, 1])
    assert old.X[:, full.columns.index("drug:19019073")].sum() == 0


@pytest.mark.parametrize(
    "cohort, message",
    [("born_after_1960", "born_before_YEAR or born_from_YEAR"), ("born_from_2000", "no person in cohort"),
     ("born_before_1955", "same outcome")],
)
def test_bad_cohorts_are_named(cdm_with_periods, cohort, message):
    with pytest.raises(DatasetError, match=message):
        load_omop(cdm_with_periods, 192671, cohort=cohort)


def test_cohort_needs_year_of_birth(cdm_folder):
    (cdm_folder / "person.csv").write_text("person_id,gender_concept_id\n1,8507\n2,8532\n3,8507\n4,8532\n")
    with pytest.raises(DatasetError, match="year_of_birth"):
        load_omop(cdm_folder, 192671, cohort="born_before_1960")
