"""`invoke store.migrate`: a SQLite MLflow store copied, row for row, into an empty PostgreSQL database.

MLflow's client cannot do this job without losing what the project relies on: `create_run` hands out new run
ids and derives each run's artifact location from them, so the copied runs would point at empty folders and
every model version's `runs:/` source would dangle. mlflow-export-import (1.2.0, from before MLflow 3) does
the same and copies artifacts besides. So MLflow itself creates the target's schema (its own migrations, the
same release as the source), and every table is copied as it is, in foreign-key order: ids, artifact
locations, metric histories, statuses, tags, registered models, versions, aliases and MLflow 3's logged
models all stay as they were, and the artifacts stay where they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ops.errors import OpsError
from trainer.errors import BadInput, one_line
from trainer.tracking import sqlite_path

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

TARGET_SCHEMES = ("postgresql://", "postgresql+psycopg://")
SCHEMA_TABLE = "alembic_version"
# What MLflow writes into a new database by itself: the schema version, the Default experiment and workspace.
SEEDED = {"experiments": 1, "workspaces": 1}
CHUNK = 5000
REPORTED = {
    "experiments": "experiments",
    "runs": "runs",
    "params": "params",
    "metrics": "metric values",
    "tags": "run tags",
    "registered_models": "registered models",
    "model_versions": "model versions",
    "registered_model_aliases": "aliases",
}


@dataclass(frozen=True)
class Migration:
    source: str
    target: str
    rows: dict[str, int]

    def lines(self) -> list[str]:
        counts = ", ".join(f"{self.rows.get(table, 0)} {label}" for table, label in REPORTED.items())
        copied = sum(self.rows.values())
        return [
            f"{self.source} -> {self.target}: {counts}",
            f"  {copied} rows in {len(self.rows)} tables; artifacts stay where the runs already point",
        ]


def migrate(source: str, target: str) -> Migration:
    """Copy the SQLite store `source` into the empty database `target`; BadInput names a refused flag."""
    from sqlalchemy import create_engine
    from sqlalchemy.exc import SQLAlchemyError

    database = _source_file(source)
    if not target.startswith(TARGET_SCHEMES):
        raise BadInput(f"--to: {_shown(target)!r} is not a PostgreSQL URI (postgresql+psycopg://user@host/database)")
    shown = _shown(target)
    reader = create_engine(f"sqlite:///file:{database}?mode=ro&uri=true")
    writer = create_engine(target)
    try:
        with writer.connect() as connection:
            _refuse_non_empty(connection, shown)
        _create_schema(target, database.parent)
        # One transaction: a copy that fails half-way leaves the target as empty as it was.
        with reader.connect() as old, writer.begin() as new:
            _same_schema(old, new, source)
            rows = _copy_tables(old, new)
    except SQLAlchemyError as err:
        raise OpsError(f"{shown}: {one_line(err.orig if getattr(err, 'orig', None) else err)}") from err
    finally:
        reader.dispose()
        writer.dispose()
    return Migration(source, shown, rows)


def _source_file(source: str) -> Path:
    database = sqlite_path(source)
    if database is None:
        raise BadInput(f"--source: {source!r} is not a sqlite:/// store")
    if not database.is_file():
        raise BadInput(f"--source: {database} does not exist")
    return database


def _shown(uri: str) -> str:
    """The URI as it may be printed: without its password."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(uri).render_as_string(hide_password=True)
    except ArgumentError:
        return uri.split("@")[-1]


def _refuse_non_empty(connection: Connection, shown: str) -> None:
    from sqlalchemy import MetaData, func, select

    tables = MetaData()
    tables.reflect(connection)
    filled = {}
    for name, table in tables.tables.items():
        if name == SCHEMA_TABLE:
            continue
        count = connection.execute(select(func.count()).select_from(table)).scalar_one()
        if count > SEEDED.get(name, 0):
            filled[name] = count
    if filled:
        held = ", ".join(f"{name} {count}" for name, count in sorted(filled.items()))
        raise BadInput(f"--to: {shown} is not empty ({held} rows); migrate into a new, empty database")


def _create_schema(target: str, scratch: Path) -> None:
    """MLflow's own tables in `target`, from MLflow's own migrations."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    SqlAlchemyStore(target, (scratch / "artifacts").as_uri()).engine.dispose()


def _same_schema(old: Connection, new: Connection, source: str) -> None:
    from sqlalchemy import text

    query = text(f"SELECT version_num FROM {SCHEMA_TABLE}")
    before, after = old.execute(query).scalar_one(), new.execute(query).scalar_one()
    if before != after:
        raise BadInput(
            f"--source: {source} has schema {before}, this MLflow writes {after}; "
            "upgrade a copy with `mlflow db upgrade` and migrate that"
        )


def _copy_tables(old: Connection, new: Connection) -> dict[str, int]:
    from sqlalchemy import MetaData, insert, select

    source, target = MetaData(), MetaData()
    source.reflect(old)
    target.reflect(new)
    ordered = [table for table in target.sorted_tables if table.name != SCHEMA_TABLE]
    for table in reversed(ordered):
        new.execute(table.delete())
    rows = {}
    for table in ordered:
        if table.name not in source.tables:
            continue
        origin = source.tables[table.name]
        columns = [column.name for column in origin.columns if column.name in table.columns]
        result = old.execute(select(*(origin.columns[name] for name in columns)))
        copied = 0
        while batch := result.fetchmany(CHUNK):
            new.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in batch])
            copied += len(batch)
        rows[table.name] = copied
    _advance_sequences(new, ordered)
    return rows


def _advance_sequences(new: Connection, tables: list) -> None:
    """Serial ids continue after the copied ones, so the next experiment MLflow creates gets a free id."""
    from sqlalchemy import text

    for table in tables:
        for column in table.primary_key.columns:
            sequence = new.execute(
                text("SELECT pg_get_serial_sequence(:table, :column)"), {"table": table.name, "column": column.name}
            ).scalar_one()
            if sequence:
                highest = f'COALESCE((SELECT MAX("{column.name}") FROM "{table.name}"), 0) + 1'
                new.execute(text(f"SELECT setval(:sequence, {highest}, false)"), {"sequence": sequence})
