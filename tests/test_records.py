"""The job record: what jobs/<id>.json holds, how it reads back, and how jobs.csv shows it."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from bench.core.io import write_json
from bench.records import JobRecord
from bench.results import UnreadableRecord, jobs_table, load_records, write_tables


def _record(**kw) -> JobRecord:
    rec = JobRecord("meddiff", "toy", 0, 10, fit_s=1.0, diagnostics={"nfe": 20, "hidden": [64, 32]},
                    scores=[{"category": "fidelity", "metric": "f", "score": "m", "value": 0.5, "goal": "maximize",
                             "ideal": 1.0, "reference": False, "note": ""}], history=[{"epoch": 0, "loss": 1.0}],
                    profile=[0.1, 0.2])
    for k, v in kw.items():
        setattr(rec, k, v)
    return rec


def test_record_round_trips_through_its_json_without_the_side_files():
    rec = _record(key="abc")
    data = json.loads(json.dumps(rec.to_json()))
    assert "history" not in data and "profile" not in data and "ray_node" not in data
    back = JobRecord.from_json(data)
    assert back.to_json() == rec.to_json() and back.history == [] and back.profile is None


def test_diagnostics_become_named_columns_not_a_json_cell():
    table = jobs_table([_record(), _record(seed=1, diagnostics={"epsilon": 1.5})])
    assert {"diag_nfe", "diag_hidden", "diag_epsilon"} <= set(table.columns)
    assert "diagnostics" not in table.columns
    assert list(table["diag_hidden"])[0] == "64-32" and pd.isna(list(table["diag_nfe"])[1])


def test_an_unreadable_job_file_is_an_error_naming_it(tmp_path):
    write_json(tmp_path / "jobs" / "a.json", _record().to_json())
    assert len(load_records(tmp_path)) == 1
    (tmp_path / "jobs" / "b.json").write_text("{ half a record")
    with pytest.raises(UnreadableRecord, match=r"jobs/b\.json is unreadable.*delete it and rerun"):
        write_tables(tmp_path)
    (tmp_path / "jobs" / "b.json").write_text(json.dumps({"status": "ok"}))
    with pytest.raises(UnreadableRecord, match="lacks generator"):
        load_records(tmp_path)


def test_records_written_before_the_column_rename_read_back_in_todays_names():
    old = _record().to_json()
    old["scores"] = [{"category": "fidelity", "family": "dimwise_probability", "metric": "dwp_apd", "value": 0.1,
                      "goal": "minimize", "ideal": 0.0, "reference": False, "note": ""}]
    [row] = JobRecord.from_json(old).scores
    assert (row["metric"], row["score"]) == ("dimwise_probability", "dwp_apd") and "family" not in row


def test_job_keys_that_look_like_numbers_read_back_as_written(tmp_path):
    """A job key is 16 hex digits; some are all digits ('0123...') or read as a float ('...12e0034').
    The rendered jobs.csv, and the records rebuilt from the tables alone (a resumed leaderboard
    part), keep it as the text it is, or the resumed run would never find the job finished."""
    from bench.results import read_jobs_csv, records_from_tables

    keys = ["0123456789012345", "00000000012e0034"]
    for seed, key in enumerate(keys):
        write_json(tmp_path / "run" / "jobs" / f"meddiff__toy__s{seed}.json", _record(seed=seed, key=key).to_json())
    write_tables(tmp_path / "run")
    assert list(read_jobs_csv(tmp_path / "run" / "jobs.csv")["key"]) == keys
    tables = tmp_path / "tables"  # what the committed leaderboard keeps: the tables, no job records
    tables.mkdir()
    for name in ("scores.csv", "timings.csv", "jobs.csv"):
        if (tmp_path / "run" / name).is_file():
            (tables / name).write_bytes((tmp_path / "run" / name).read_bytes())
    assert sorted(r.key for r in records_from_tables(tables)) == sorted(keys)
