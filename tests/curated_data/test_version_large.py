"""A version of many approved examples is built without a query naming every example (SQLite refuses a
statement with more variables than its build allows: 32,766 by default, 250,000 on some distributions)."""

from __future__ import annotations

import sqlite3

import pytest
from django.db import connection

from curated_data.services import versions

pytestmark = pytest.mark.django_db


def test_a_version_needs_no_statement_with_a_variable_per_example(project, owner, annotator, approved):
    approved(60)
    if connection.vendor == "sqlite":
        # This build's limit, lowered below the example count: the same failure a project with more approved
        # examples than SQLITE_MAX_VARIABLE_NUMBER meets.
        connection.ensure_connection()
        connection.connection.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 40)
    seen: list[int] = []

    def count(execute, sql, params, many, context):
        seen.append(len(params or ()))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        version = versions.version_create(project=project, user=owner)
    assert version.example_count == 60
    assert max(seen) < 40
    # The checks still know each example's author: one annotator wrote them all.
    assert version.validation_report["stats"]["annotators"] == {annotator.username: {"count": 60, "share": 1.0}}
