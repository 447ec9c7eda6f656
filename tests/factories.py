"""Row factories for tests and benchmarks."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from annotation.models import Example, Membership, Project, Role
from annotation.services.conversations import content_hash, search_text

PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):  # noqa: N805
        if create:
            obj.save()


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    name = factory.Sequence(lambda n: f"Project {n}")
    guidelines = "Answer briefly and politely."


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    role = Role.ANNOTATOR


def conversation(n: int) -> list[dict[str, str]]:
    return [
        {"role": "user", "content": f"Question number {n}: how do I export invoice {n}?"},
        {"role": "assistant", "content": f"Open Billing, pick invoice {n} and choose Export as PDF."},
    ]


class ExampleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Example

    messages = factory.Sequence(conversation)
    content_hash = factory.LazyAttribute(lambda o: content_hash(o.messages))
    search_text = factory.LazyAttribute(lambda o: search_text(o.messages))
