"""A tiny random-weight test model is named as such wherever a user meets it, so nobody judges an adapter by the
noise it says; a pretrained base (the default SmolLM2-135M-Instruct) carries no such note."""

from __future__ import annotations

import pytest
from django.urls import reverse

from annotation.templatetags.annotune_tags import RANDOM_WEIGHTS_NOTE
from training.models import BaseModel

pytestmark = pytest.mark.django_db


@pytest.fixture
def tiny(db):
    return BaseModel.objects.create(
        name="tiny-llama-test", source="/nowhere/tiny", build_arch="llama", build_size="test"
    )


@pytest.fixture
def pretrained(db):
    return BaseModel.objects.create(name="SmolLM2-135M-Instruct", source="/nowhere/smol")


def pages(project) -> list[str]:
    return [
        reverse("playground", args=[project.pk]),
        reverse("project-list"),
        reverse("project-settings", args=[project.pk]),
    ]


def test_a_random_weight_base_is_named_as_such(client_as, project, owner, tiny):
    project.base_model = tiny
    project.save()
    client = client_as(owner)
    for url in pages(project):
        html = client.get(url).content.decode()
        assert RANDOM_WEIGHTS_NOTE in html, url


def test_a_pretrained_base_carries_no_note(client_as, project, owner, pretrained):
    project.base_model = pretrained
    project.save()
    client = client_as(owner)
    for url in pages(project):
        assert RANDOM_WEIGHTS_NOTE not in client.get(url).content.decode(), url
