"""A project's house style rules: stored through the services, the API and the Settings page, checked on
every conversation (`findings_for`), shown to annotators next to the guidelines."""

from __future__ import annotations

import pytest

from annotation.models import Example, Project
from annotation.services import projects as project_services
from annotation.services.examples import example_create
from annotation.services.validation import findings_for
from annotune.errors import ApplicationError

pytestmark = pytest.mark.django_db

RULES = {"opening": "**In short:**", "signoff": "— Acme Support", "max_words": 40}
IN_STYLE = "**In short:** Open Settings, then Security.\nClick Reset password there.\n— Acme Support"


def payload(answer: str) -> dict:
    return {
        "messages": [
            {"role": "user", "content": "How do I reset my password?"},
            {"role": "assistant", "content": answer},
        ]
    }


def style_codes(findings: list[dict]) -> list[str]:
    return sorted(f["code"] for f in findings if f["code"].startswith("style."))


def test_rules_are_stored_cleaned_and_checked_on_one_conversation(project, owner):
    project_services.project_update(
        project=project, user=owner, style_rules={"opening": " **In short:** ", "signoff": "— Acme Support"}
    )
    project.refresh_from_db()
    assert project.style_rules == {"opening": "**In short:**", "signoff": "— Acme Support"}
    assert style_codes(findings_for(project, payload(IN_STYLE))) == []
    slip = findings_for(project, payload("Open Settings, then Security."))
    assert style_codes(slip) == ["style.opening", "style.signoff"]
    assert {f["severity"] for f in slip if f["code"].startswith("style.")} == {"warning"}
    opening = next(f for f in slip if f["code"] == "style.opening")
    assert opening["message"] == "The answer should start with “**In short:**”; it starts with “Open Settings,”."
    # Another rule set takes effect at once (the cached spec follows the project's updated_at).
    project_services.project_update(project=project, user=owner, style_rules={"max_words": 3})
    assert style_codes(findings_for(project, payload(IN_STYLE))) == ["style.length"]
    project_services.project_update(project=project, user=owner, style_rules={})
    assert style_codes(findings_for(project, payload("anything"))) == []


def test_the_policy_changes_the_severity_of_style_findings(project, owner, annotator):
    project_services.project_update(
        project=project,
        user=owner,
        style_rules=RULES,
        validation_policy={"overrides": {"style.signoff": "error"}},
    )
    found = findings_for(project, payload("**In short:** Open Settings."))
    assert [(f["code"], f["severity"]) for f in found if f["code"].startswith("style.")] == [("style.signoff", "error")]
    # An error blocks submitting, like every other error finding.
    with pytest.raises(ApplicationError, match="Answer does not end with the house sign-off") as refused:
        example_create(
            project=project,
            author=annotator,
            messages=payload("**In short:** Open Settings.")["messages"],
            category="billing",
            submit=True,
        )
    assert refused.value.extra["findings"][0].startswith("style.signoff: ")  # the code, for the API


def test_saved_examples_carry_their_style_findings(project, owner, annotator):
    project_services.project_update(project=project, user=owner, style_rules=RULES)
    example = example_create(
        project=project, author=annotator, messages=payload("Just do it.")["messages"], category="billing"
    )
    assert style_codes(Example.objects.get(pk=example.pk).findings) == ["style.opening", "style.signoff"]


@pytest.mark.parametrize(
    ("rules", "words"),
    [
        ("be short", "An object such as"),
        ({"opening": 5}, "Required opening: text"),
        ({"signoff": "x" * 201}, "at most 200 characters"),
        ({"max_words": 0}, "Maximum words per answer: a whole number"),
        ({"max_words": "40"}, "Maximum words per answer: a whole number"),
        ({"tone": "warm"}, "Unknown rule(s): tone"),
    ],
)
def test_bad_rules_are_refused_per_field_and_change_nothing(project, owner, rules, words):
    project_services.project_update(project=project, user=owner, style_rules=RULES)
    before = Project.objects.get(pk=project.pk)
    with pytest.raises(ApplicationError) as caught:
        project_services.project_update(project=project, user=owner, style_rules=rules, description="changed")
    assert caught.value.message == "Some project settings are invalid."
    assert words in " ".join(caught.value.extra["style_rules"])
    after = Project.objects.get(pk=project.pk)
    assert (after.style_rules, after.description, after.updated_at) == (RULES, before.description, before.updated_at)


def test_api_reads_and_writes_the_rules(api, owner, project):
    client = api(owner)
    url = f"/api/v1/projects/{project.pk}/"
    assert client.get(url).json()["style_rules"] == {}
    response = client.patch(url, {"style_rules": RULES}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["style_rules"] == RULES
    assert client.get(url).json()["style_rules"] == RULES
    cleared = client.patch(url, {"style_rules": None}, format="json")
    assert cleared.status_code == 200
    assert cleared.json()["style_rules"] == {}
    created = client.post("/api/v1/projects/", {"name": "Styled", "style_rules": {"signoff": "Bye"}}, format="json")
    assert created.status_code == 201
    assert created.json()["style_rules"] == {"signoff": "Bye"}


def test_api_refuses_bad_rules_with_a_message_and_changes_nothing(api, owner, project):
    client = api(owner)
    url = f"/api/v1/projects/{project.pk}/"
    client.patch(url, {"style_rules": RULES}, format="json")
    response = client.patch(url, {"style_rules": {"max_words": -3, "opening": ["x"]}}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["detail"] == "Some project settings are invalid."
    assert body["errors"]["style_rules"] == [
        "Required opening: text, or empty for none.",
        "Maximum words per answer: a whole number from 1 to 100,000, or empty.",
    ]
    assert Project.objects.get(pk=project.pk).style_rules == RULES
    assert client.patch(url, {"style_rules": "short"}, format="json").status_code == 400
    assert Project.objects.get(pk=project.pk).style_rules == RULES


def test_only_owners_change_the_rules(api, reviewer, project):
    response = api(reviewer).patch(f"/api/v1/projects/{project.pk}/", {"style_rules": RULES}, format="json")
    assert response.status_code == 403
    assert Project.objects.get(pk=project.pk).style_rules == {}


def settings_post(**style) -> dict:
    return {"name": "Support bot", "max_tokens": "2048", "reviews_required": "1", **style}


def test_settings_page_edits_the_rules(client_as, owner, project):
    client = client_as(owner)
    url = f"/projects/{project.pk}/settings/"
    response = client.post(
        url, settings_post(style_opening="**In short:**", style_signoff="— Acme Support", style_max_words="40")
    )
    assert response.status_code == 302
    assert Project.objects.get(pk=project.pk).style_rules == RULES
    page = client.get(url).content.decode()
    assert 'value="**In short:**"' in page
    assert 'value="— Acme Support"' in page
    assert 'value="40"' in page
    # Emptied fields remove the rules.
    assert client.post(url, settings_post(style_signoff="— Acme Support")).status_code == 302
    assert Project.objects.get(pk=project.pk).style_rules == {"signoff": "— Acme Support"}


def test_settings_page_refuses_a_bad_limit_next_to_its_field(client_as, owner, project):
    client = client_as(owner)
    response = client.post(f"/projects/{project.pk}/settings/", settings_post(style_max_words="0"))
    assert response.status_code == 200
    assert response.context["form"].errors["style_max_words"]
    assert Project.objects.get(pk=project.pk).style_rules == {}
    form_class = response.context["form"].__class__
    form = form_class(settings_post())
    assert form.is_valid()
    form.add_service_error("style_rules", "Required sign-off: at most 200 characters (this has 300).")
    assert form.errors["style_signoff"] == ["Required sign-off: at most 200 characters (this has 300)."]


def test_annotators_see_the_rules_where_the_guidelines_are_escaped(client_as, owner, annotator, project):
    project_services.project_update(
        project=project, user=owner, style_rules={"opening": "<b>Hi</b>", "signoff": "— Acme", "max_words": 40}
    )
    example = example_create(project=project, author=annotator, messages=payload("x")["messages"])
    client = client_as(annotator)
    for url in (
        f"/projects/{project.pk}/",
        f"/projects/{project.pk}/examples/new/",
        f"/projects/{project.pk}/examples/{example.pk}/edit/",
    ):
        page = client.get(url).content.decode()
        assert 'id="house-style"' in page, url
        assert "&lt;b&gt;Hi&lt;/b&gt;" in page, url
        assert "<b>Hi</b>" not in page, url
        assert "At most 40 words per answer" in page, url
    project_services.project_update(project=project, user=owner, style_rules={})
    assert 'id="house-style"' not in client.get(f"/projects/{project.pk}/").content.decode()
