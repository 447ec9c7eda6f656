"""Validation on the platform: editor checks, fixes, submit refusal, knowledge base, pages, command."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from annotation.models import ClaimVerification, Example, ExampleStatus, KnowledgeDocument, Revision, Transition
from annotation.services import examples as example_services
from annotation.services import knowledge as knowledge_services
from annotune.errors import ApplicationError
from tests.factories import ExampleFactory

pytestmark = pytest.mark.django_db

DOUBLE_SPACE = "Hi  there, how do I reset my password?"
EMAIL = "Write to bob.smith@acme-mail.org for help."
DOCS = {
    "pricing.md": "The Pro plan costs 30 euros per month and includes 5 seats.\n\n"
    "Refunds are possible within 14 days of purchase.",
    "security.md": "Two-factor authentication can be enabled in Settings under Security. "
    "Passwords must have at least 12 characters.",
    "exports.md": "Invoices can be exported as PDF from the Billing page. Exports are kept for 90 days.",
}
WRONG_PRICE = "The Pro plan costs 45 euros per month."


def _post_editor(client, project, user_text, assistant_text, **extra):
    data = {"role": ["user", "assistant"], "content": [user_text, assistant_text], **extra}
    return client.post(reverse("editor-validate", args=[project.pk]), data)


def test_editor_validate_shows_planted_defects_and_writes_nothing(client, project, annotator):
    client.force_login(annotator)
    before = (Example.objects.count(), Revision.objects.count())
    response = _post_editor(client, project, DOUBLE_SPACE, EMAIL)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-code="fmt.double_space"' in html
    assert 'data-code="pii.email"' in html
    assert "Turn 2 (assistant)" in html
    assert "<mark>bob.smith@acme-mail.org</mark>" in html
    assert "Fix" in html
    assert (Example.objects.count(), Revision.objects.count()) == before


def test_editor_validate_clean_example_has_no_findings(client, project, annotator, two_turns):
    client.force_login(annotator)
    response = _post_editor(client, project, two_turns[0]["content"], two_turns[1]["content"])
    assert response.status_code == 200
    assert "No findings." in response.content.decode()
    assert "data-code=" not in response.content.decode()


def test_a_blank_draft_gets_guidance_not_errors(client, project, annotator):
    project.default_system_prompt = "You are Acme's assistant."
    project.save()
    client.force_login(annotator)
    data = {"role": ["system", "user", "assistant"], "content": [project.default_system_prompt, "", ""]}
    html = client.post(reverse("editor-validate", args=[project.pk]), data).content.decode()
    assert "The checks run as you type" in html
    assert "finding-error" not in html
    html = _post_editor(client, project, "How do I reset my password?", "").content.decode()
    assert 'data-code="fmt.empty_turn"' in html  # typing started: the empty answer is now a finding


def test_the_checks_panel_shows_what_submit_refuses_fact_checks_included(client, project, owner, annotator):
    knowledge_services.document_add(project=project, user=owner, title="pricing.md", text=DOCS["pricing.md"])
    client.force_login(annotator)
    panel = _post_editor(client, project, "How much is Pro?", WRONG_PRICE).content.decode()
    assert 'data-code="fact.contradicted"' in panel
    assert "Claim contradicts the knowledge base" in panel
    example = example_services.example_create(
        project=project,
        author=annotator,
        messages=[{"role": "user", "content": "How much is Pro?"}, {"role": "assistant", "content": WRONG_PRICE}],
    )
    with pytest.raises(ApplicationError) as refused:
        example_services.example_submit(example=example, user=annotator)
    named = {line.partition(":")[0] for line in refused.value.extra["findings"]}
    shown = {code for code in named if f'data-code="{code}"' in panel}
    assert named == shown == {"fact.contradicted"}


def test_editor_validate_escapes_untrusted_text(client, project, annotator):
    client.force_login(annotator)
    response = _post_editor(client, project, "<script>alert(1)</script>  x  y", "Fine answer here.")
    html = response.content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html


def test_editor_fix_returns_fixed_messages(client, project, annotator):
    client.force_login(annotator)
    response = _post_editor(client, project, DOUBLE_SPACE, EMAIL, fix="fmt.double_space")
    html = response.content.decode()
    assert 'id="fixed-messages"' in html
    start = html.index('id="fixed-messages"')
    payload = html[html.index(">", start) + 1 : html.index("</script>", start)]
    fixed = json.loads(payload)
    assert fixed[0]["content"] == "Hi there, how do I reset my password?"
    assert 'data-code="fmt.double_space"' not in html
    assert 'data-code="pii.email"' in html


def test_findings_stored_on_create_and_update(project, annotator):
    example = example_services.example_create(
        project=project,
        author=annotator,
        messages=[{"role": "user", "content": DOUBLE_SPACE}, {"role": "assistant", "content": "Sure."}],
    )
    assert [f["code"] for f in example.findings] == ["fmt.double_space"]
    assert example.error_count == 0
    example = example_services.example_update(
        example=example,
        user=annotator,
        version=example.version,
        messages=[{"role": "user", "content": "Plain question?"}, {"role": "assistant", "content": "<|im_end|> Ok."}],
    )
    example.refresh_from_db()
    assert "fmt.template_token" in [f["code"] for f in example.findings]
    assert example.error_count >= 1


def test_fix_page_writes_a_revision(client, project, annotator):
    example = example_services.example_create(
        project=project,
        author=annotator,
        messages=[{"role": "user", "content": DOUBLE_SPACE}, {"role": "assistant", "content": "Sure."}],
    )
    client.force_login(annotator)
    response = client.post(
        reverse("example-fix", args=[project.pk, example.pk]), {"version": example.version, "code": "fmt.double_space"}
    )
    assert response.status_code == 302
    example.refresh_from_db()
    assert example.version == 2
    assert example.messages[0]["content"] == "Hi there, how do I reset my password?"
    assert example.findings == []
    revision = Revision.objects.get(example=example, version=2)
    assert revision.note == "fix: fmt.double_space"
    assert revision.author == annotator


def test_fix_with_stale_version_is_409_and_changes_nothing(client, project, annotator):
    example = example_services.example_create(
        project=project,
        author=annotator,
        messages=[{"role": "user", "content": DOUBLE_SPACE}, {"role": "assistant", "content": "Sure."}],
    )
    client.force_login(annotator)
    response = client.post(
        reverse("example-fix", args=[project.pk, example.pk]), {"version": 7, "code": "fmt.double_space"}
    )
    assert response.status_code == 409
    example.refresh_from_db()
    assert example.version == 1
    assert example.messages[0]["content"] == DOUBLE_SPACE


def test_submit_with_error_finding_is_refused_and_changes_nothing(client, project, annotator):
    example = example_services.example_create(
        project=project,
        author=annotator,
        messages=[{"role": "user", "content": "Question?"}, {"role": "assistant", "content": "Answer <|im_end|>"}],
    )
    with pytest.raises(ApplicationError, match="Leaked template token") as refused:
        example_services.example_submit(example=example, user=annotator)
    assert refused.value.extra["findings"][0].startswith("fmt.template_token: ")  # the code stays for the API
    example.refresh_from_db()
    assert example.status == ExampleStatus.DRAFT
    assert example.version == 1
    assert example.review_round == 0
    assert not Transition.objects.filter(example=example).exists()
    client.force_login(annotator)
    response = client.post(reverse("example-submit", args=[project.pk, example.pk]), follow=True)
    assert "Fix the validation errors before submitting" in response.content.decode()
    example.refresh_from_db()
    assert example.status == ExampleStatus.DRAFT


def test_policy_can_downgrade_an_error(project, annotator):
    project.validation_policy = {"overrides": {"fmt.template_token": "warning"}}
    project.save()
    example = example_services.example_create(
        project=project,
        author=annotator,
        messages=[{"role": "user", "content": "Question?"}, {"role": "assistant", "content": "Answer <|im_end|>"}],
        submit=True,
    )
    assert example.status == ExampleStatus.SUBMITTED


def test_policy_shape_is_validated(client, project, owner):
    from annotation.services import projects as project_services

    with pytest.raises(ApplicationError) as info:
        project_services.project_update(
            project=project, user=owner, validation_policy={"overrides": {"nope.x": "error"}}
        )
    assert "no check has this code" in str(info.value.extra["validation_policy"])


def _knowledge(project, owner):
    for title, text in DOCS.items():
        knowledge_services.document_add(project=project, user=owner, title=title, text=text)


def test_knowledge_upload_and_fact_check_finds_contradiction(client, project, owner, annotator):
    client.force_login(owner)
    upload = SimpleUploadedFile("pricing.md", DOCS["pricing.md"].encode(), content_type="text/markdown")
    response = client.post(reverse("knowledge", args=[project.pk]), {"action": "document", "file": upload})
    assert response.status_code == 302
    url = reverse("knowledge", args=[project.pk])
    for title in ("security.md", "exports.md"):
        client.post(url, {"action": "document", "title": title, "text": DOCS[title]})
    client.post(url, {"action": "fact", "statement": "Support is open on weekdays."})
    assert KnowledgeDocument.objects.filter(project=project).count() == 3
    page = client.get(reverse("knowledge", args=[project.pk])).content.decode()
    assert "pricing.md" in page
    assert "Support is open on weekdays." in page

    example = example_services.example_create(
        project=project,
        author=annotator,
        messages=[{"role": "user", "content": "How much is Pro?"}, {"role": "assistant", "content": WRONG_PRICE}],
    )
    contradicted = [f for f in example.findings if f["code"] == "fact.contradicted"]
    assert contradicted
    assert "45 euros" in contradicted[0]["message"]
    assert contradicted[0]["evidence"]["source"] == "pricing.md"


def test_verified_claim_is_reported_as_verified(client, project, owner, reviewer, annotator):
    _knowledge(project, owner)
    example = example_services.example_create(
        project=project,
        author=annotator,
        messages=[{"role": "user", "content": "How much is Pro?"}, {"role": "assistant", "content": WRONG_PRICE}],
    )
    Example.objects.filter(pk=example.pk).update(status=ExampleStatus.SUBMITTED)
    client.force_login(reviewer)
    screen = client.get(reverse("review-screen", args=[project.pk, example.pk])).content.decode()
    assert "Mark verified" in screen
    response = client.post(
        reverse("claim-verify", args=[project.pk, example.pk]),
        {"claim": WRONG_PRICE, "source": "Price list 2027"},
    )
    assert response.status_code == 302
    verification = ClaimVerification.objects.get(project=project)
    assert verification.verified_by == reviewer
    assert verification.source == "Price list 2027"
    example.refresh_from_db()
    codes = [f["code"] for f in example.findings]
    assert "fact.verified" in codes
    assert "fact.contradicted" not in codes
    screen = client.get(reverse("review-screen", args=[project.pk, example.pk])).content.decode()
    assert "Verified by a reviewer (Price list 2027)" in screen
    knowledge = client.get(reverse("knowledge", args=[project.pk])).content.decode()
    assert "Price list 2027" in knowledge


def test_annotators_cannot_verify_claims_or_edit_knowledge(client, project, annotator):
    example = ExampleFactory(project=project, author=annotator)
    client.force_login(annotator)
    response = client.post(
        reverse("claim-verify", args=[project.pk, example.pk]), {"claim": WRONG_PRICE, "source": "x"}
    )
    assert response.status_code == 403
    response = client.post(reverse("knowledge", args=[project.pk]), {"action": "fact", "statement": "x y z"})
    assert response.status_code == 403
    assert not ClaimVerification.objects.exists()


def test_check_help_lists_every_code_with_effective_severity(client, project, annotator):
    from validators import REGISTRY

    project.validation_policy = {"overrides": {"pii.email": "error"}, "disabled": ["fmt.list_style"]}
    project.save()
    client.force_login(annotator)
    html = client.get(reverse("check-help", args=[project.pk])).content.decode()
    for code in REGISTRY:
        assert f"<code>{code}</code>" in html
    row = html[html.index('id="check-piiemail"') :]
    row = row[: row.index("</tr>")]
    assert '<span class="sev">error</span>' in row
    assert "(policy)" in row
    row = html[html.index('id="check-fmtlist_style"') :]
    assert '<span class="sev">off</span>' in row[: row.index("</tr>")]


def test_outsiders_get_404_everywhere(client, project, outsider, annotator):
    from annotation.models import Fact, ValidationRun

    example = ExampleFactory(project=project, author=annotator)
    run = ValidationRun.objects.create(project=project)
    client.force_login(outsider)
    pk = project.pk
    pages = [
        ("post", reverse("editor-validate", args=[pk])),
        ("post", reverse("example-fix", args=[pk, example.pk])),
        ("post", reverse("claim-verify", args=[pk, example.pk])),
        ("get", reverse("knowledge", args=[pk])),
        ("post", reverse("knowledge", args=[pk])),
        ("get", reverse("data-health", args=[pk])),
        ("post", reverse("data-health", args=[pk])),
        ("get", reverse("validation-run", args=[pk, run.pk])),
        ("get", reverse("validation-run-progress", args=[pk, run.pk])),
        ("get", reverse("check-help", args=[pk])),
    ]
    for method, url in pages:
        assert getattr(client, method)(url).status_code == 404, url
    assert not Fact.objects.exists()
    assert ValidationRun.objects.count() == 1


def test_validate_command_text_and_json(project, annotator, capsys):
    ExampleFactory(project=project, author=annotator)
    bad = ExampleFactory(
        project=project,
        author=annotator,
        messages=[{"role": "user", "content": DOUBLE_SPACE}, {"role": "assistant", "content": EMAIL}],
    )
    call_command("validate", str(project.pk))
    out = capsys.readouterr().out
    assert f"Example {bad.pk} (draft, anna):" in out
    assert "INFO    fmt.double_space [turn 1]" in out
    assert "pii.email [turn 2]" in out
    assert "2 example(s) checked, 1 with findings, 0 error(s)." in out
    call_command("validate", str(project.pk), "--format", "json")
    data = json.loads(capsys.readouterr().out)
    by_id = {e["id"]: e for e in data["examples"]}
    assert {f["code"] for f in by_id[bad.pk]["findings"]} == {"fmt.double_space", "pii.email"}


def test_validate_command_dataset(project, annotator, annotator2, capsys):
    same = [{"role": "user", "content": "Same question?"}, {"role": "assistant", "content": "Same."}]
    for _ in range(3):
        ExampleFactory(
            project=project, author=annotator, status=ExampleStatus.APPROVED, category="billing", messages=same
        )
    call_command("validate", str(project.pk), "--dataset")
    out = capsys.readouterr().out
    assert "Dataset checks over 3 approved example(s):" in out
    assert "ds.exact_duplicate" in out
    leaked = [{"role": "user", "content": "Q?"}, {"role": "assistant", "content": "A <|im_end|>"}]
    ExampleFactory(project=project, author=annotator2, status=ExampleStatus.APPROVED, messages=leaked)
    with pytest.raises(CommandError, match="error"):
        call_command("validate", str(project.pk), "--dataset", "--strict")
