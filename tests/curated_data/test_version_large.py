"""A version of many approved examples is built without a query naming every example (SQLite refuses a
statement with more variables than its build allows: 32,766 by default, 250,000 on some distributions)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import connection

from curated_data.services import versions

pytestmark = pytest.mark.django_db


@contextmanager
def lowered_variable_limit(limit: int) -> Iterator[None]:
    """SQLite: this build's limit on variables per statement, lowered below the example count (the same
    failure a project with more approved examples than SQLITE_MAX_VARIABLE_NUMBER meets), and put back:
    the connection outlives the test, and every later test would meet the lowered limit."""
    if connection.vendor != "sqlite":
        yield
        return
    connection.ensure_connection()
    before = connection.connection.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, limit)
    try:
        yield
    finally:
        connection.connection.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, before)


def test_a_version_needs_no_statement_with_a_variable_per_example(project, owner, annotator, approved):
    approved(60)
    seen: list[int] = []

    def count(execute, sql, params, many, context):
        seen.append(len(params or ()))
        return execute(sql, params, many, context)

    with lowered_variable_limit(40), connection.execute_wrapper(count):
        version = versions.version_create(project=project, user=owner)
    assert version.example_count == 60
    assert max(seen) < 40
    # The checks still know each example's author: one annotator wrote them all.
    assert version.validation_report["stats"]["annotators"] == {annotator.username: {"count": 60, "share": 1.0}}
