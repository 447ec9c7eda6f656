"""A project in the states the annotation side of the journey leaves it in, for page scans and browser tests.

An owner, a reviewer and an annotator; a one-fact knowledge base; approved, submitted, rejected ("off_topic")
and sent-back examples; a dataset version and a finished data-health run. Built through the services, as
a user's clicks would.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from annotation.models import Example, ExampleStatus, Project, Role, ValidationRun
from annotation.services import examples as example_services
from annotation.services import reviews as review_services
from annotation.services.knowledge import fact_add
from annotation.services.validation_runs import run_execute
from curated_data.services.versions import version_create
from tests.factories import MembershipFactory, ProjectFactory, UserFactory

REFUND_FACT = "Refunds are available within 30 days of purchase."
CONTRADICTION = "Refunds are available within 90 days of purchase."
CATEGORIES = [{"name": "billing", "target_share": 0.5}, {"name": "general", "target_share": 0.5}]
ANSWERS = [
    "Open Billing, pick the invoice and choose Export as PDF.",
    "Your receipt is in Orders under the order's number.",
    "Choose Settings, then Security, then Change password.",
    "Write to the support team from the Help page; we answer within a day.",
]


def use_storage(settings, tmp_path: Path) -> None:
    """Dataset versions are written through Django's storage: a folder of this test."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "storage")},
        },
    }


@dataclass
class Journey:
    project: Project
    owner: object
    reviewer: object
    annotator: object
    submitted: list[Example]
    rejected: Example
    sent_back: Example
    run: ValidationRun


def _turns(n: int) -> list[dict[str, str]]:
    return [
        {"role": "user", "content": f"Question {n}: where do I find invoice {n}?"},
        {"role": "assistant", "content": ANSWERS[n % len(ANSWERS)] + f" Reference {n}."},
    ]


def build_journey(*, approved: int = 12, submitted: int = 2) -> Journey:
    owner = UserFactory(username="olivia")
    reviewer = UserFactory(username="rita")
    annotator = UserFactory(username="anna")
    project = ProjectFactory(
        name="Acme support",
        created_by=owner,
        categories=CATEGORIES,
        general_category="general",
        style_tags=["concise", "friendly"],
        style_rules={"max_words": 60},
    )
    for user, role in ((owner, Role.OWNER), (reviewer, Role.REVIEWER), (annotator, Role.ANNOTATOR)):
        MembershipFactory(project=project, user=user, role=role)
    fact_add(project=project, user=owner, statement=REFUND_FACT, source="refund policy")

    def write(n: int, *, submit: bool = True) -> Example:
        return example_services.example_create(
            project=project,
            author=annotator,
            messages=_turns(n),
            category=("billing", "general")[n % 2],
            style_tags=["concise"],
            submit=submit,
        )

    for n in range(approved):
        review_services.review_approve(example=write(n), reviewer=reviewer)
    rejected = write(100)
    review_services.review_reject(example=rejected, reviewer=reviewer, reason="off_topic", comment="Not about us.")
    sent_back = write(101)
    review_services.review_request_changes(example=sent_back, reviewer=reviewer, comment="Name the menu.")
    waiting = [write(200 + n) for n in range(submitted)]
    write(300, submit=False)  # a draft
    version_create(project=project, user=owner, validation_fraction=0.25)
    run = ValidationRun.objects.create(project=project, created_by=owner)
    run_execute(run.pk)
    run.refresh_from_db()
    for example in (rejected, sent_back, *waiting):
        example.refresh_from_db()
    assert rejected.status == ExampleStatus.REJECTED
    return Journey(project, owner, reviewer, annotator, waiting, rejected, sent_back, run)
