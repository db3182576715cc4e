"""The few statements that differ between SQLite and PostgreSQL, one function each."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table
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
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(table).values(**values)
    if not update:
        return stmt.on_conflict_do_nothing(index_elements=list(key))
    return stmt.on_conflict_do_update(
        index_elements=list(key), set_={col: stmt.excluded[col] for col in update}
    )
