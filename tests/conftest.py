"""Shared fixtures: users of each role in one project, API clients, factories."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from annotation.models import Role
from tests.factories import MembershipFactory, ProjectFactory, UserFactory
from tests.workers import isolated_broker


@pytest.fixture(autouse=True, scope="session")
def test_broker():
    """Tasks sent by tests go to a broker folder of this run only (file-system broker)."""
    from annotune.celery import app

    return isolated_broker(app)


@pytest.fixture(autouse=True)
def fast_password_hasher(settings):
    """Hashing test passwords with PBKDF2 would dominate the suite's run time."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def owner(db):
    return UserFactory(username="olivia")


@pytest.fixture
def reviewer(db):
    return UserFactory(username="rita")


@pytest.fixture
def annotator(db):
    return UserFactory(username="anna")


@pytest.fixture
def annotator2(db):
    return UserFactory(username="ben")


@pytest.fixture
def outsider(db):
    return UserFactory(username="oscar")


@pytest.fixture
def project(owner, reviewer, annotator, annotator2):
    project = ProjectFactory(
        name="Support bot",
        created_by=owner,
        categories=[{"name": "billing", "target_share": 0.5}, {"name": "general", "target_share": 0.5}],
    )
    MembershipFactory(project=project, user=owner, role=Role.OWNER)
    MembershipFactory(project=project, user=reviewer, role=Role.REVIEWER)
    MembershipFactory(project=project, user=annotator, role=Role.ANNOTATOR)
    MembershipFactory(project=project, user=annotator2, role=Role.ANNOTATOR)
    return project


@pytest.fixture
def client_as():
    """`client_as(user)` returns a page client signed in as that user."""
    from django.test import Client

    def make(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.fixture
def api():
    """`api(user)` returns an API client authenticated as that user (None: anonymous)."""

    def make(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return make


@pytest.fixture
def two_turns():
    return [
        {"role": "user", "content": "How do I reset my password?"},
        {"role": "assistant", "content": "Open Settings, choose Security, then Reset password."},
    ]
