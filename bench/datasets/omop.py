"""Persons x concepts matrices from an OMOP CDM database, read through DuckDB.

The CDM may be a DuckDB file (opened read-only), a folder of CSV / Parquet table files (one per
table, e.g. ``person.csv``, ``condition_occurrence.parquet``), a SQLite file, or a Postgres / MySQL
database named as ``postgres:DSN`` / ``mysql:DSN``. The last three go through DuckDB's extensions,
which must already be installed (``INSTALL sqlite`` once, where the network is reachable): the
loader turns extension auto-install off so that nothing is downloaded at run time.

Two options serve the clinical-validity metrics and transportability runs (both off by default,
which leaves the default matrix and its fingerprint as they were):

- ``demographics=True`` appends one 0/1 column per sex, ``sex:F`` and ``sex:M`` (gender concepts
  8532 and 8507; any other gender sets neither), and one per age band, ``age:0-17``, ``age:18-44``,
  ``age:45-64``, ``age:65-79``, ``age:80+`` (the bands of :data:`bench.datasets.omop_person.AGE_BANDS` that at least one person
  of the CDM falls in). Age is the calendar year of the person's last observation period end
  minus the year of birth; a person without an observation period takes the CDM's last
  observation period end. The names follow ``bench.core.data.SEX_FEMALE``/``AGE_PREFIX``.
- ``cohort="born_before_YEAR"`` / ``"born_from_YEAR"`` keeps only the persons born before /
  in or after ``YEAR`` (persons without a year of birth are in neither). The columns are those of
  the whole CDM (every concept any person has, every age band any person falls in), so the two
  cohorts of one split have identical columns by construction; a column can be all zero in a
  cohort. The label is the outcome of the cohort's persons.

All counting happens inside DuckDB; Python receives (row, column, count) triples and builds a
sparse matrix, so a CDM of millions of events never becomes a Python loop or a dense copy.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from bench.core.data import EHRDataset
from bench.core.errors import DatasetError
from bench.datasets.omop_person import demographic_block, parse_cohort, person_columns, person_demographics

# OMOP domain -> (table, concept column)
DOMAINS: dict[str, tuple[str, str]] = {
    "condition": ("condition_occurrence", "condition_concept_id"),
    "drug": ("drug_exposure", "drug_concept_id"),
    "procedure": ("procedure_occurrence", "procedure_concept_id"),
    "measurement": ("measurement", "measurement_concept_id"),
    "observation": ("observation", "observation_concept_id"),
}
_TABLE_SUFFIXES = (".parquet", ".csv", ".csv.gz", ".tsv", ".tsv.gz")
_REMOTE = {"postgres": "postgres", "postgresql": "postgres", "mysql": "mysql"}


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def parse_domains(domains: str | Iterable[str]) -> tuple[str, ...]:
    """``condition+drug`` (or a sequence) -> a checked tuple of domain names, order kept."""
    items = [d.strip().lower() for d in (domains.split("+") if isinstance(domains, str) else domains)]
    items = [d for d in items if d]
    unknown = [d for d in items if d not in DOMAINS]
    if unknown:
        raise DatasetError(f"unknown OMOP domain {unknown[0]!r}; valid: {', '.join(DOMAINS)}")
    if not items:
        raise DatasetError(f"no OMOP domain chosen; valid: {', '.join(DOMAINS)}")
    return tuple(dict.fromkeys(items))


def _table_files(folder: Path) -> dict[str, Path]:
    """Lower-case table name -> file, for a folder holding one file per CDM table."""
    out: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        low = p.name.lower()
        for suf in _TABLE_SUFFIXES:
            if low.endswith(suf) and p.is_file():
                table = low[: -len(suf)]
                if table in out:
                    raise DatasetError(f"OMOP folder {folder}: two files for table {table}: {out[table].name}, {p.name}")
                out[table] = p
    return out


def _kind_of(path: str) -> str:
    """duckdb / sqlite / folder / postgres / mysql, from the path's form or the file's header."""
    head, sep, _ = path.partition(":")
    if sep and head.lower() in _REMOTE and not Path(path).exists():
        return _REMOTE[head.lower()]
    p = Path(path)
    if p.is_dir():
        return "folder"
    if not p.is_file():
        raise DatasetError(f"OMOP database {path} does not exist")
    with p.open("rb") as fh:
        magic = fh.read(16)
    if magic.startswith(b"SQLite format 3"):
        return "sqlite"
    return "duckdb"


def _connect(path: str) -> tuple[Any, str]:
    """An in-memory DuckDB with the CDM attached read-only; returns (connection, table prefix)."""
    import duckdb

    kind = _kind_of(path)
    try:
        con = duckdb.connect(":memory:", config={"autoinstall_known_extensions": False})
    except duckdb.Error as exc:
        raise DatasetError(f"cannot start DuckDB: {exc}") from None
    try:
        if kind == "folder":
            files = _table_files(Path(path))
            if "person" not in files:
                raise DatasetError(f"OMOP folder {path}: no person table (person.csv or person.parquet)")
            for table, f in files.items():
                reader = "read_parquet" if f.name.lower().endswith(".parquet") else "read_csv"
                con.execute(
                    f"CREATE VIEW {_quote_ident(table)} AS SELECT * FROM {reader}({_quote_str(str(f))})"
                )
            return con, ""
        target = path.partition(":")[2] if kind in ("postgres", "mysql") else path
        options = "READ_ONLY" if kind == "duckdb" else f"TYPE {kind}, READ_ONLY"
        con.execute(f"ATTACH {_quote_str(target)} AS ehr_cdm ({options})")
        return con, "ehr_cdm."
    except duckdb.Error as exc:
        con.close()
        msg = str(exc).splitlines()[0]
        if kind in ("sqlite", "postgres", "mysql") and "extension" in msg.lower():
            raise DatasetError(
                f"OMOP database {path}: DuckDB's {kind} extension is not installed; run "
                f"python -c \"import duckdb; duckdb.execute('INSTALL {kind}')\" once where the "
                f"network is reachable ({msg})"
            ) from None
        raise DatasetError(f"cannot open OMOP database {path}: {msg}") from None
    except BaseException:
        con.close()
        raise


def _find_schema(con: Any, prefix: str, schema: str | None, path: str) -> str:
    """``prefix`` + the schema that holds the CDM tables, checked to have a person table."""
    if not prefix:  # a folder: the views live in the default schema
        return ""
    rows = con.execute(
        "SELECT DISTINCT table_schema FROM information_schema.tables "
        "WHERE table_catalog = 'ehr_cdm' AND lower(table_name) = 'person'"
    ).fetchall()
    schemas = [r[0] for r in rows]
    if schema is not None:
        if schema not in schemas:
            raise DatasetError(
                f"OMOP database {path}: schema {schema!r} has no person table "
                f"(schemas with one: {', '.join(schemas) or 'none'})"
            )
        return f"ehr_cdm.{_quote_ident(schema)}."
    if not schemas:
        raise DatasetError(f"OMOP database {path}: no person table in any schema")
    if len(schemas) > 1:
        raise DatasetError(
            f"OMOP database {path}: person tables in schemas {', '.join(schemas)}; choose one with schema=NAME"
        )
    return f"ehr_cdm.{_quote_ident(schemas[0])}."


def _has_table(con: Any, qual: str, table: str) -> bool:
    try:
        con.execute(f"SELECT 1 FROM {qual}{table} LIMIT 0")
        return True
    except Exception:  # any DuckDB error: the table is not there or not readable
        return False


def load_omop(
    path: str | Path,
    outcome_concept: int | str,
    domains: str | Iterable[str] = ("condition", "drug", "procedure"),
    kind: str = "binary",
    name: str = "omop",
    *,
    outcome_domain: str = "condition",
    schema: str | None = None,
    demographics: bool = False,
    cohort: str | None = None,
) -> EHRDataset:
    """Every person of ``person``, one column per concept those persons have in ``domains``.

    The label is whether the person has the outcome concept (looked up in ``outcome_domain``'s
    table), or, for ``outcome_concept="death"``, a row in ``death``. The outcome concept is
    removed from the features so that no generator or classifier can read the label off a
    column. Columns are ``domain:concept_id`` sorted by domain then id; cells count events
    (``count``) or mark presence (``binary``). Measurements count as present when recorded,
    whatever their value. ``demographics`` and ``cohort``: see the module docstring.
    """
    import duckdb

    path = os.fspath(path)
    domains = parse_domains(domains)
    if kind not in ("binary", "count"):
        raise DatasetError(f"OMOP: kind must be binary or count, got {kind!r}")
    death = isinstance(outcome_concept, str) and outcome_concept.strip().lower() == "death"
    if not death:
        try:
            outcome_concept = int(outcome_concept)
        except (TypeError, ValueError):
            raise DatasetError(
                f"OMOP: the outcome must be a concept id or 'death', got {outcome_concept!r}"
            ) from None
    if outcome_domain not in DOMAINS:
        raise DatasetError(f"unknown OMOP outcome domain {outcome_domain!r}; valid: {', '.join(DOMAINS)}")
    outcome_id = -1 if death else int(outcome_concept)
    split = parse_cohort(cohort)
    keep = "" if split is None else f" WHERE year_of_birth {split[0]} {split[1]}"

    con, prefix = _connect(path)
    try:
        q = _find_schema(con, prefix, schema, path)
        for dom in domains:
            if not _has_table(con, q, DOMAINS[dom][0]):
                raise DatasetError(f"OMOP database {path}: table {DOMAINS[dom][0]} (domain {dom}) is missing")
        needed = ({"year_of_birth"} if split or demographics else set()) | (
            {"gender_concept_id"} if demographics else set())
        lacking = sorted(needed - person_columns(con, q))
        if lacking:
            why = "demographics=true" if demographics else f"cohort={cohort}"
            raise DatasetError(f"OMOP database {path}: {why} needs column {lacking[0]} in the person table")
        persons = con.execute(
            f"SELECT person_id AS pid FROM {q}person{keep} ORDER BY person_id"
        ).fetchnumpy()["pid"]
        persons = np.asarray(persons, dtype=np.int64)
        if persons.size == 0:
            if split is not None:
                raise DatasetError(f"OMOP database {path}: no person in cohort {cohort}")
            raise DatasetError(f"OMOP database {path}: the person table is empty")
        if persons.size > 1 and (np.diff(persons) == 0).any():
            raise DatasetError(f"OMOP database {path}: person_id is not unique in the person table")
        union = " UNION ALL ".join(
            f"SELECT person_id, {col} AS concept_id, '{dom}' AS domain FROM {q}{table}"
            for dom, (table, col) in DOMAINS.items()
            if dom in domains
        )
        con.execute(
            f"CREATE TEMP TABLE ehr_agg AS SELECT person_id, domain, concept_id, COUNT(*) AS n "
            f"FROM ({union}) WHERE concept_id IS NOT NULL AND concept_id <> 0 AND concept_id <> ? "
            f"AND person_id IN (SELECT person_id FROM {q}person) GROUP BY ALL",
            [outcome_id],
        )
        con.execute(
            "CREATE TEMP TABLE ehr_keys AS SELECT domain, concept_id, "
            "(ROW_NUMBER() OVER (ORDER BY domain, concept_id) - 1) AS col "
            "FROM (SELECT DISTINCT domain, concept_id FROM ehr_agg)"
        )
        keys = con.execute("SELECT domain, concept_id FROM ehr_keys ORDER BY col").fetchall()
        if not keys:
            raise DatasetError(f"OMOP database {path}: no events in domains {', '.join(domains)}")
        con.execute(
            f"CREATE TEMP TABLE ehr_rows AS SELECT person_id, "
            f"(ROW_NUMBER() OVER (ORDER BY person_id) - 1) AS r FROM {q}person{keep}"
        )
        trip = con.execute(
            "SELECT p.r AS r, k.col AS col, a.n AS n FROM ehr_agg a JOIN ehr_rows p USING (person_id) "
            "JOIN ehr_keys k USING (domain, concept_id)"
        ).fetchnumpy()
        has_concept = _has_table(con, q, "concept")
        names: dict[int, str] = {}
        if has_concept:
            ids = sorted({int(cid) for _, cid in keys} | ({outcome_id} if not death else set()))
            names = {
                int(cid): str(nm)
                for cid, nm in con.execute(
                    f"SELECT concept_id, concept_name FROM {q}concept WHERE concept_id IN "
                    "(SELECT unnest(?::BIGINT[]))",
                    [ids],
                ).fetchall()
                if nm is not None
            }
        if death:
            if not _has_table(con, q, "death"):
                raise DatasetError(f"OMOP database {path}: outcome=death but there is no death table")
            outcome_sql = f"SELECT DISTINCT person_id AS pid FROM {q}death"
            params: list[Any] = []
        else:
            table, col = DOMAINS[outcome_domain]
            if not _has_table(con, q, table):
                raise DatasetError(f"OMOP database {path}: outcome table {table} is missing")
            outcome_sql = f"SELECT DISTINCT person_id AS pid FROM {q}{table} WHERE {col} = ?"
            params = [outcome_id]
        outcome = con.execute(outcome_sql, params).fetchnumpy()["pid"]
        demo = person_demographics(con, q, path) if demographics else None
    except duckdb.Error as exc:
        raise DatasetError(f"OMOP database {path}: query failed: {str(exc).splitlines()[0]}") from None
    finally:
        con.close()

    what = "death" if death else f"{outcome_domain} concept {outcome_id}"
    if len(outcome) == 0:
        raise DatasetError(f"OMOP database {path}: no person has the outcome ({what})")
    counts = np.asarray(trip["n"], dtype=np.float32)
    X = sparse.csr_array(
        (counts, (np.asarray(trip["r"], dtype=np.int64), np.asarray(trip["col"], dtype=np.int64))),
        shape=(persons.size, len(keys)),
    )
    if kind == "binary":
        X.data[:] = 1.0
    y = np.isin(persons, np.asarray(outcome, dtype=np.int64)).astype(np.int64)
    if len(np.unique(y)) < 2 and split is not None:
        raise DatasetError(f"OMOP database {path}: every person of cohort {cohort} has the same outcome ({what})")
    label = "death" if death else names.get(outcome_id, f"concept {outcome_id}")
    columns = [f"{dom}:{int(cid)}" for dom, cid in keys]
    col_names = [names.get(int(cid), f"concept {int(cid)}") for _, cid in keys]
    if demo is not None:
        D, demo_columns, demo_names = demographic_block(persons, *demo)
        X = sparse.hstack([X, D], format="csr")
        columns += demo_columns
        col_names += demo_names
    return EHRDataset(
        X=X,
        y=y,
        columns=columns,
        names=col_names,
        kind=kind,
        name=name,
        label_name=label,
        source=path,
    )


def _resolve_path(data_dir: str | None, path: str | None) -> str:
    """``path=`` option, else --data-dir / EHRBENCH_OMOP (a CDM file, folder, or a folder holding
    exactly one ``.duckdb`` file)."""
    target = path or data_dir
    if not target:
        raise DatasetError(
            "dataset 'omop' needs a CDM: omop:path=FILE_OR_FOLDER, --data-dir, or EHRBENCH_OMOP"
        )
    head = target.partition(":")[0].lower()
    if head in _REMOTE:
        return target
    p = Path(target).expanduser()
    if path and data_dir and not p.is_absolute() and Path(data_dir).is_dir():
        p = Path(data_dir).expanduser() / p
    if not p.exists():
        raise DatasetError(f"OMOP database {p} does not exist")
    if p.is_dir() and not _table_files(p):
        dbs = sorted(x for x in p.iterdir() if x.suffix.lower() in (".duckdb", ".ddb", ".db"))
        if len(dbs) == 1:
            return str(dbs[0])
        raise DatasetError(f"OMOP folder {p}: no table files and not exactly one .duckdb file")
    return str(p)


def load_omop_dataset(
    data_dir: str | None,
    path: str | None = None,
    outcome: str | None = None,
    outcome_domain: str = "condition",
    domains: str = "condition+drug+procedure",
    kind: str = "binary",
    schema: str | None = None,
    demographics: bool = False,
    cohort: str | None = None,
) -> EHRDataset:
    """The registry's ``omop`` dataset: options as given on the command line."""
    if outcome is None:
        raise DatasetError(
            "dataset 'omop' needs its outcome: omop:outcome=CONCEPT_ID (a condition concept by "
            "default; outcome_domain= for another table) or omop:outcome=death"
        )
    return load_omop(
        _resolve_path(data_dir, path), outcome, domains, kind=kind, name="omop",
        outcome_domain=outcome_domain, schema=schema, demographics=demographics, cohort=cohort,
    )


def omop_cache_key(data_dir: str | None, path: str | None = None, **options: Any) -> str | None:
    """Files read (with size and mtime) plus options; None (never cached) for a remote database,
    whose changes cannot be seen from here."""
    import json

    target = _resolve_path(data_dir, path)
    if target.partition(":")[0].lower() in _REMOTE and not Path(target).exists():
        return None
    p = Path(target)
    files = sorted(_table_files(p).values()) if p.is_dir() else [p]
    stamps = []
    for f in files:
        st = f.stat()
        stamps.append(f"{f.resolve()}:{st.st_size}:{st.st_mtime_ns}")
    return "|".join([*stamps, json.dumps(options, sort_keys=True)])
