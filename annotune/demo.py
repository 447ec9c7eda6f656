"""The demo `make run` sets up (`manage.py setup_demo`): a project whose adapter visibly learns a house style.

The project is made through the platform's own services, as people would make it: the owner states the
house style (`Project.style_rules`) and the knowledge base (facts), a demo annotator writes and submits the
conversations, the owner approves them through the review service, so every approved example has its
revisions, transitions and review row. Two drafts by the owner are left to finish. The data (68 approved
conversations in four categories, three planted defects, ten held-out prompts) is in `annotune.demo_data`.

The demo's validation policy (`DEMO_POLICY`, recorded in the project's settings where an owner can change
it back) grades a contradicted fact as a warning instead of an error: the planted contradiction passed
review, as such slips do, and a new user's first dataset version is made with one click; Data health and
the version's report still list it. Idempotent: a project with the demo's name is never made twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction

from annotation.models import ExampleStatus, Membership, Project, Role
from annotation.services.examples import example_create
from annotation.services.knowledge import fact_add
from annotation.services.projects import project_create
from annotation.services.reviews import review_approve
from training.models import BaseModel
from validators.style import StyleRules, follows_style

from .demo_data import (
    APPROVED,
    CATEGORIES,
    DEFECT_PROMPTS,
    DEFECTS,
    DRAFTS,
    FACT_SOURCE,
    FACTS,
    GUIDELINES,
    HELD_OUT_PROMPTS,
    STYLE_RULES,
    SYSTEM_PROMPT,
)

__all__ = [
    "APPROVED",
    "CATEGORIES",
    "DEFECTS",
    "DEFECT_PROMPTS",
    "DEMO_ANNOTATOR",
    "DEMO_POLICY",
    "DEMO_PROJECT_NAME",
    "DRAFTS",
    "FACTS",
    "GUIDELINES",
    "HELD_OUT_PROMPTS",
    "STYLE_RULES",
    "SYSTEM_PROMPT",
    "DemoProjectResult",
    "demo_annotator",
    "demo_project_ensure",
    "follows_house_style",
]

DEMO_PROJECT_NAME = "Demo: Acme support assistant"
DEMO_ANNOTATOR = "demo-annotator"

DEMO_POLICY = {"overrides": {"fact.contradicted": "warning", "fact.unsupported": "info"}}
"""The demo's validation policy (see the module's docstring). Ten facts cannot support most sentences of
68 conversations (nor any of the everyday answers): a claim the knowledge base does not cover is a note,
so the warnings a new user sees are the slips."""

_RULES = StyleRules.from_dict(STYLE_RULES)


def follows_house_style(text: str) -> bool:
    """Whether an answer keeps the demo's house style (the project's own style check, validators/style.py)."""
    return follows_style(text, _RULES)


def _messages(turns: list[str]) -> list[dict[str, str]]:
    roles = ("user", "assistant")
    return [{"role": roles[i % 2], "content": text} for i, text in enumerate(turns)]


@dataclass
class DemoProjectResult:
    project: Project
    created: bool
    approved: int = 0
    drafts: int = 0
    facts: int = 0


def demo_annotator():
    """The system user who wrote the demo's conversations (cannot sign in)."""
    users = get_user_model().objects
    user = users.filter(username=DEMO_ANNOTATOR).first()
    if user is None:
        user = users.create_user(username=DEMO_ANNOTATOR, first_name="Demo", last_name="annotator")
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def demo_project_ensure(*, owner, base_model: BaseModel | None) -> DemoProjectResult:
    """The demo project owned by `owner` on `base_model`; made once (found again by its name)."""
    existing = Project.objects.filter(name=DEMO_PROJECT_NAME).order_by("pk").first()
    if existing is not None:
        return DemoProjectResult(project=existing, created=False)
    with transaction.atomic():
        project = project_create(
            user=owner,
            name=DEMO_PROJECT_NAME,
            description=(
                "Made by make run: approved support conversations in one house style, ready to version and train "
                "on. Train it, then ask the adapter and the base model the same question in the playground."
            ),
            guidelines=GUIDELINES,
            base_model=base_model,
            default_system_prompt=SYSTEM_PROMPT,
            categories=CATEGORIES,
            general_category="general",
            style_tags=["concise", "friendly"],
            glossary={"sign in": ["login", "log in"]},
            style_rules=STYLE_RULES,
            validation_policy=DEMO_POLICY,
            max_tokens=512,
            reviews_required=1,
        )
        result = DemoProjectResult(project=project, created=True)
        for statement in FACTS:
            fact_add(project=project, user=owner, statement=statement, source=FACT_SOURCE)
            result.facts += 1
        annotator = demo_annotator()
        Membership.objects.create(project=project, user=annotator, role=Role.ANNOTATOR)
        for category, tags, turns in APPROVED:
            example = example_create(
                project=project,
                author=annotator,
                messages=_messages(turns),
                category=category,
                style_tags=tags,
                submit=True,
            )
            review_approve(example=example, reviewer=owner, comment="Approved for the demo.")
            example.refresh_from_db()
            if example.status == ExampleStatus.APPROVED:
                result.approved += 1
        for category, tags, turns in DRAFTS:
            example_create(project=project, author=owner, messages=_messages(turns), category=category, style_tags=tags)
            result.drafts += 1
    return result
