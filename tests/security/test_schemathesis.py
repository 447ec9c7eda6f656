"""Property-based API check: every operation of the OpenAPI schema, a few generated requests each.

Runs through the WSGI app in-process (no server), authenticated by token as a project owner, with
data present (examples in each state, knowledge, a dataset version). Any 5xx, undocumented status
code, wrong content type or response that does not match its schema fails the test. Bounded and
reproducible: a fixed number of examples per operation, derandomized generation (fixed seed).
"""

from __future__ import annotations

import json
import time

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.services import api_token_create
from annotation.models import ExampleStatus, Fact, KnowledgeDocument
from tests.factories import ExampleFactory

# (mode, examples per operation, checks): valid requests must get documented answers; invalid ones
# (wrong types, missing fields, ...) must be refused in a documented way, never with a 5xx.
POSITIVE_CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
RUNS = [
    (GenerationMode.POSITIVE, 8, POSITIVE_CHECKS),
    (GenerationMode.NEGATIVE, 4, [not_a_server_error, content_type_conformance, response_schema_conformance]),
]
# Operations left out, and why.
SKIPPED: dict[str, str] = {}


def build_schema():
    raw = SchemaGenerator().get_schema(request=None, public=True)
    schema = schemathesis.openapi.from_dict(json.loads(OpenApiJsonRenderer().render(raw)))
    schema.app = get_wsgi_application()
    return schema


@pytest.fixture
def data(project, owner, annotator, reviewer, tmp_path, settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }
    settings.ANNOTUNE_GENERATE_TIMEOUT_SECONDS = 1
    examples = {}
    for i, status in enumerate([*ExampleStatus.values, ExampleStatus.APPROVED, ExampleStatus.APPROVED]):
        examples[status] = ExampleFactory(
            project=project, author=annotator, status=status, category=["billing", "general"][i % 2]
        )
    KnowledgeDocument.objects.create(project=project, title="Manual", text="Invoices are monthly.", uploaded_by=owner)
    Fact.objects.create(project=project, statement="Invoices are monthly.", created_by=owner)
    ids = {"project_id": project.pk, "example_id": examples[ExampleStatus.SUBMITTED].pk, "user_id": annotator.pk}
    try:
        from curated_data.services import versions

        ids["number"] = versions.version_create(project=project, user=owner, override_reason="schema test").number
    except Exception:  # noqa: BLE001,S110 - without a version those operations get generated numbers
        pass
    return {"token": api_token_create(user=owner, name="test")[1], "ids": ids}


def run_operation(operation, mode, examples, checks, ids, headers, counts) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples,
        derandomize=True,  # a fixed seed: the same requests on every run
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def check(case):
        for name in case.path_parameters or {}:
            if name in ids:
                case.path_parameters[name] = ids[name]
        counts["requests"] += 1
        case.call_and_validate(headers=headers, checks=checks)

    check()


@pytest.fixture
def keep_connection():
    """Requests go through the real WSGI handler, which closes the connection when one finishes (and
    with it the test's transaction); Django's own test client disconnects the same receivers."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.timeout(300)
def test_api_conforms_to_its_schema(data, keep_connection):
    schema = build_schema()
    headers = {"Authorization": f"Token {data['token']}"}
    failures: list[str] = []
    counts = {"operations": 0, "requests": 0}
    operations = [result.ok() for result in schema.get_all_operations()]
    # Deleting runs last, so that the other operations find the data.
    operations.sort(key=lambda op: (op.method.upper() == "DELETE", op.path, op.method))
    started = time.monotonic()
    for operation in operations:
        label = f"{operation.method.upper()} {operation.path}"
        if label in SKIPPED:
            continue
        counts["operations"] += 1
        for mode, examples, checks in RUNS:
            try:
                run_operation(operation, mode, examples, checks, data["ids"], headers, counts)
            except Unsatisfiable:  # no parameters or body: nothing can be made invalid
                continue
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - the first failure of each, reported below
                failures.append(f"{label} ({mode.value}): {type(exc).__name__}: {str(exc)[:1500]}")
    elapsed = time.monotonic() - started
    print(f"schemathesis: {counts['operations']} operations, {counts['requests']} requests, {elapsed:.1f} s")
    assert not failures, "\n\n".join(failures)
