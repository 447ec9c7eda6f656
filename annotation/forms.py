"""Page forms: turn form text into the plain values the services take, and back for editing."""

from __future__ import annotations

import json
from typing import Any

from django import forms

from training.models import BaseModel, BaseModelStatus

from .models import Project, Role


class BaseModelChoiceField(forms.ModelChoiceField):
    """Base models by name; a tiny random-weight test model says so, so nobody judges an adapter on one."""

    def label_from_instance(self, obj):
        return f"{obj.name} (test model: random weights, answers are noise)" if obj.has_random_weights else obj.name


class ProjectForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(max_length=500, required=False)
    guidelines = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 10}),
        required=False,
        strip=False,
        help_text="Markdown. Shown to annotators and reviewers next to their work.",
    )
    base_model = BaseModelChoiceField(
        queryset=BaseModel.objects.filter(status=BaseModelStatus.READY),  # not models still building or failed
        required=False,
        empty_label="(none yet)",
    )
    default_system_prompt = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, strip=False)
    categories = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        help_text="One per line, optionally with a target share: billing: 0.3",
    )
    general_category = forms.CharField(required=False, help_text="The category holding general-purpose examples.")
    style_tags = forms.CharField(required=False, help_text="Comma-separated, e.g. concise, formal")
    glossary = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text="One per line: preferred term: forbidden variant, another variant",
    )
    response_schema = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}), required=False, help_text="Optional JSON Schema for replies."
    )
    style_opening = forms.CharField(
        label="Answers start with",
        max_length=200,
        required=False,
        help_text="House style: text every assistant answer must start with, e.g. **In short:** (empty: no rule).",
    )
    style_signoff = forms.CharField(
        label="Answers end with",
        max_length=200,
        required=False,
        help_text="House style: a sign-off every assistant answer must end with, e.g. — The team (empty: no rule).",
    )
    style_max_words = forms.IntegerField(
        label="Most words per answer",
        min_value=1,
        max_value=100_000,
        required=False,
        help_text="House style: answers with more words are flagged (empty: no limit).",
    )
    max_tokens = forms.IntegerField(min_value=16, max_value=131072, initial=2048, help_text="Token budget per example.")
    reviews_required = forms.IntegerField(min_value=1, max_value=3, initial=1)
    reject_reasons = forms.CharField(required=False, help_text="Comma-separated reason codes for rejections.")

    def clean_categories(self) -> list[dict[str, Any]]:
        categories = []
        for line in self.cleaned_data["categories"].splitlines():
            if not line.strip():
                continue
            name, _, share = line.partition(":")
            item: dict[str, Any] = {"name": name.strip(), "target_share": None}
            if share.strip():
                try:
                    item["target_share"] = float(share.strip().rstrip("%")) / (100 if "%" in share else 1)
                except ValueError:
                    raise forms.ValidationError(f"Line {line!r}: the share must be a number like 0.3 or 30%.") from None
            categories.append(item)
        return categories

    def clean_style_tags(self) -> list[str]:
        return [t.strip() for t in self.cleaned_data["style_tags"].split(",") if t.strip()]

    def clean_reject_reasons(self) -> list[str] | None:
        reasons = [t.strip() for t in self.cleaned_data["reject_reasons"].split(",") if t.strip()]
        return reasons or None

    def clean_glossary(self) -> dict[str, list[str]]:
        glossary: dict[str, list[str]] = {}
        for line in self.cleaned_data["glossary"].splitlines():
            if not line.strip():
                continue
            preferred, sep, variants = line.partition(":")
            if not sep:
                raise forms.ValidationError(f"Line {line!r}: write it as preferred: variant, variant.")
            glossary[preferred.strip()] = [v.strip() for v in variants.split(",") if v.strip()]
        return glossary

    def clean_response_schema(self) -> Any:
        text = self.cleaned_data["response_schema"].strip()
        if not text:
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(
                f"Not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
            ) from None

    STYLE_FIELDS = {"style_opening": "opening", "style_signoff": "signoff", "style_max_words": "max_words"}

    def service_fields(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        if data.get("reject_reasons") is None:
            data.pop("reject_reasons", None)
        rules = {rule: data.pop(field, None) for field, rule in self.STYLE_FIELDS.items()}
        data["style_rules"] = {rule: value for rule, value in rules.items() if value not in (None, "")}
        return data

    def add_service_error(self, field: str, problem: str) -> None:
        """A service's problem next to the field it concerns (the house style rules have three)."""
        from validators.style import RULE_NAMES

        if field == "style_rules":
            for form_field, rule in self.STYLE_FIELDS.items():
                if problem.startswith(RULE_NAMES[rule]):
                    self.add_error(form_field, problem)
                    return
        self.add_error(field if field in self.fields else None, problem)

    @staticmethod
    def initial_for(project: Project) -> dict[str, Any]:
        return {
            "name": project.name,
            "description": project.description,
            "guidelines": project.guidelines,
            "base_model": project.base_model_id,
            "default_system_prompt": project.default_system_prompt,
            "categories": "\n".join(
                c["name"] + (f": {c['target_share']:g}" if c.get("target_share") is not None else "")
                for c in project.categories
            ),
            "general_category": project.general_category,
            "style_tags": ", ".join(project.style_tags),
            "glossary": "\n".join(f"{k}: {', '.join(v)}" for k, v in project.glossary.items()),
            "response_schema": json.dumps(project.response_schema, indent=2) if project.response_schema else "",
            "style_opening": (project.style_rules or {}).get("opening", ""),
            "style_signoff": (project.style_rules or {}).get("signoff", ""),
            "style_max_words": (project.style_rules or {}).get("max_words"),
            "max_tokens": project.max_tokens,
            "reviews_required": project.reviews_required,
            "reject_reasons": ", ".join(project.reject_reasons),
        }


class MemberAddForm(forms.Form):
    """One field for an existing account or a new person: a username or an e-mail address."""

    identifier = forms.CharField(
        label="Username or e-mail",
        max_length=254,
        widget=forms.TextInput(attrs={"placeholder": "maria or maria@example.org", "autocomplete": "off"}),
    )
    role = forms.ChoiceField(label="Role", choices=Role.choices, initial=Role.ANNOTATOR)


def messages_from_post(post) -> list[dict[str, str]]:
    """The editor posts parallel lists `role` and `content`, one entry per turn."""
    roles, contents = post.getlist("role"), post.getlist("content")
    return [{"role": r, "content": c.replace("\r\n", "\n")} for r, c in zip(roles, contents, strict=False)]
