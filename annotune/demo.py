"""The demo `make run` sets up (`manage.py setup_demo`): the default tiny base model and a small project.

The project is made through the platform's own services, as people would make it: a demo annotator
writes and submits the conversations, the admin (the project's owner) approves them through the review
service, so every approved example has its revisions, transitions and review row. Two drafts by the
admin are left to finish. Idempotent: a project with the demo's name is never made twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction

from annotation.models import ExampleStatus, Membership, Project, Role
from annotation.services.examples import example_create
from annotation.services.projects import project_create
from annotation.services.reviews import review_approve
from training.models import BaseModel

DEMO_PROJECT_NAME = "Demo: Acme support assistant"
DEMO_ANNOTATOR = "demo-annotator"

GUIDELINES = """\
# Acme support assistant

Write the answers Acme's support team would like to give.

- **Be concise**: two or three sentences, the most useful step first.
- **Be friendly**, never chatty: no "Great question!".
- **Say where to click**: name the page and the button as the customer sees them.
- **Don't invent policy**: refunds within 30 days, shipping in 3–5 working days. If unsure, offer a human.
- Use "sign in", never "login" or "log in" as a verb.
"""

SYSTEM_PROMPT = "You are Acme's support assistant. Answer in two or three friendly, concise sentences."

CATEGORIES = [
    {"name": "billing", "target_share": 0.3},
    {"name": "shipping", "target_share": 0.3},
    {"name": "account", "target_share": 0.2},
    {"name": "general", "target_share": 0.2},
]

# (category, style tags, [user, assistant, (user, assistant)...])
APPROVED = [
    (
        "billing",
        ["concise"],
        [
            "I was charged twice for my order this month. Can you fix that?",
            "Sorry about that! The second charge is a pending authorisation and disappears within 3 working days. "
            "If it is still there after that, reply here with the order number and we refund it at once.",
        ],
    ),
    (
        "billing",
        ["friendly"],
        [
            "How do I download an invoice for my company?",
            "Open Orders, choose the order and click Download invoice. To add your company's VAT number first, "
            "go to Settings, then Billing details.",
            "Can I change the address on an invoice I already downloaded?",
            "Yes: update Billing details, then click Regenerate invoice on the order. "
            "The new PDF replaces the old one.",
        ],
    ),
    (
        "shipping",
        ["concise"],
        [
            "My parcel has not moved for four days. Where is it?",
            "Parcels sometimes wait at a sorting centre over busy weeks. Open Orders and click Track parcel for the "
            "latest scan; if nothing changes in two more days, we send a replacement for free.",
        ],
    ),
    (
        "shipping",
        ["friendly"],
        [
            "Do you deliver to Norway?",
            "We do! Delivery to Norway takes 5 to 7 working days, and customs fees are included in the price you "
            "see at checkout.",
        ],
    ),
    (
        "account",
        ["concise"],
        [
            "I forgot my password and the reset email never arrives.",
            "Check the spam folder first: the email comes from no-reply@acme.example. Still nothing after ten "
            "minutes? Click Sign in, then Other options, and we text a code to your phone instead.",
        ],
    ),
    (
        "account",
        ["friendly"],
        [
            "How can I delete my account?",
            "Go to Settings, then Privacy, and click Delete account. We keep invoices for seven years because the "
            "law requires it; everything else is erased within 30 days.",
            "Will my open order still arrive?",
            "Yes, open orders are delivered first. Your account is closed once the last parcel has arrived.",
        ],
    ),
    (
        "general",
        ["friendly"],
        [
            "What are your opening hours?",
            "Our support team answers from 8:00 to 20:00 on weekdays and 9:00 to 17:00 on Saturdays. "
            "This chat is open around the clock.",
        ],
    ),
    (
        "general",
        ["concise"],
        [
            "Can you recommend a good book about baking bread?",
            "Flour Water Salt Yeast by Ken Forkish is a favourite: clear steps, and it explains why each one "
            "matters. For a lighter start, try a simple no-knead recipe first.",
        ],
    ),
]

DRAFTS = [
    (
        "billing",
        ["concise"],
        [
            "Do you offer a discount for charities?",
            "Yes, registered charities get 20% off. Send us your registration number and we apply it to your account.",
        ],
    ),
    (
        "general",
        [],
        [
            "What is the difference between a LoRA adapter and the base model?",
            "An adapter is a small set of extra weights trained on top of a frozen base model.",
        ],
    ),
]


def _messages(turns: list[str]) -> list[dict[str, str]]:
    roles = ("user", "assistant")
    return [{"role": roles[i % 2], "content": text} for i, text in enumerate(turns)]


@dataclass
class DemoProjectResult:
    project: Project
    created: bool
    approved: int = 0
    drafts: int = 0


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
            description="Made by make run: approved support conversations, ready to version and train on.",
            guidelines=GUIDELINES,
            base_model=base_model,
            default_system_prompt=SYSTEM_PROMPT,
            categories=CATEGORIES,
            general_category="general",
            style_tags=["concise", "friendly"],
            glossary={"sign in": ["login", "log in"]},
            max_tokens=512,
            reviews_required=1,
        )
        annotator = demo_annotator()
        Membership.objects.create(project=project, user=annotator, role=Role.ANNOTATOR)
        result = DemoProjectResult(project=project, created=True)
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
