"""The few statements that differ between SQLite and PostgreSQL, one function each."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Table, case, cast, func, null
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert


def upsert(
    dialect: str,
    table: Table,
    values: Mapping[str, Any],
    key: Sequence[str],
    update: Sequence[str],
) -> Insert:
    """INSERT ... ON CONFLICT (key) DO UPDATE SET update-columns (or DO NOTHING if none)."""
    return _upsert_template(dialect, table, tuple(key), tuple(update)).values(**values)


def dialect_insert(dialect: str) -> Callable[[Table], postgresql.Insert | sqlite.Insert]:
    """The dialect's INSERT construct, which has ON CONFLICT."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


@functools.cache
def _upsert_template(dialect: str, table: Table, key: tuple[str, ...], update: tuple[str, ...]) -> Insert:
    """The statement without its values, built once: its `excluded` alias, built per
    statement, would leave columns in reference cycles for the collector."""
    stmt = dialect_insert(dialect)(table)
    if not update:
        return stmt.on_conflict_do_nothing(index_elements=list(key))
    changes = {col: stmt.excluded[col] for col in update}
    return stmt.on_conflict_do_update(index_elements=list(key), set_=changes)


def json_text(dialect: str, document: ColumnElement[Any], path: Sequence[str]) -> ColumnElement[Any]:
    """The value at `path` inside a JSON document stored as text, as text; NULL when it is
    absent or JSON null. PostgreSQL cannot turn a `\\u0000` escape into text and would fail the
    whole query on the first document holding one: such a document reads as NULL here."""
    if dialect == "postgresql":
        value = cast(document, postgresql.JSON)[tuple(path)].astext
        return case((func.strpos(document, "\\u0000") == 0, value), else_=null())
    return func.json_extract(document, "$" + "".join(f'."{key}"' for key in path))


def text_lower(dialect: str, value: ColumnElement[Any]) -> ColumnElement[Any]:
    """lower() for any script: SQLite's own folds ASCII only, so there a Python function
    registered on each connection (storage.database) does it."""
    if dialect == "postgresql":
        return func.lower(value)
    return func.unicode_lower(value)
