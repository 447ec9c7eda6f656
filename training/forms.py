"""The launch form: a preset plus an advanced section generated from the engine's JSON Schema."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms

from .engine.config import PRESETS, TARGET_PRESETS, config_schema


def _field_for(name: str, spec: dict[str, Any]) -> forms.Field:
    label = spec.get("title") or name.replace("_", " ").capitalize()
    help_text = spec.get("description", "")
    default = spec.get("default")
    if name == "target_modules":
        return forms.CharField(
            label=label,
            required=False,
            help_text=f"{' or '.join(TARGET_PRESETS)}, or module names separated by commas",
            widget=forms.TextInput(attrs={"placeholder": str(default)}),
        )
    if "enum" in spec:
        return forms.ChoiceField(
            label=label,
            required=False,
            help_text=help_text,
            choices=[("", "(preset)")] + [(v, v) for v in spec["enum"]],
        )
    if spec.get("type") == "boolean":
        return forms.ChoiceField(
            label=label,
            required=False,
            help_text=help_text,
            choices=[("", "(preset)"), ("true", "yes"), ("false", "no")],
        )
    attrs: dict[str, Any] = {"placeholder": str(default)}
    for key in ("minimum", "maximum"):
        if key in spec:
            attrs[key[:3]] = spec[key]
    if spec.get("type") == "integer":
        return forms.IntegerField(label=label, required=False, help_text=help_text, widget=forms.NumberInput(attrs))
    attrs["step"] = "any"
    return forms.FloatField(label=label, required=False, help_text=help_text, widget=forms.NumberInput(attrs))


SNAPSHOT = "snapshot"
SNAPSHOT_LABEL = "Approved examples now (snapshot at launch, not a version)"


def split_counts(version: Any) -> str:
    """The one wording of a version's split, used on every page that shows it."""
    return f"{version.train_count} train / {version.validation_count} validation"


def version_label(version: Any, *, latest: bool = False) -> str:
    return f"Version {version.number}{' (latest)' if latest else ''} · {split_counts(version)}"


class LaunchForm(forms.Form):
    """`versions`: the project's dataset versions, newest first; the newest is preselected."""

    dataset = forms.ChoiceField(
        label="Data",
        widget=forms.RadioSelect,
        error_messages={
            "required": "Choose the data to train on: a dataset version.",
            "invalid_choice": "That dataset version is not in this project; choose one of the listed versions.",
        },
    )
    preset = forms.ChoiceField(
        choices=[(name, name.capitalize()) for name in PRESETS], initial="balanced", widget=forms.RadioSelect
    )

    def __init__(self, *args: Any, versions: Sequence[Any] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.versions = {str(v.number): v for v in versions}
        self.fields["dataset"].choices = [
            (str(v.number), version_label(v, latest=i == 0)) for i, v in enumerate(versions)
        ] + [(SNAPSHOT, SNAPSHOT_LABEL)]
        if versions and "dataset" not in self.initial:
            self.initial["dataset"] = str(versions[0].number)
        self.config_fields = []
        for name, spec in config_schema()["properties"].items():
            self.fields[f"cfg_{name}"] = _field_for(name, spec)
            self.config_fields.append(f"cfg_{name}")

    def dataset_version(self) -> Any:
        """The chosen version, or None for the snapshot of the approved examples."""
        return self.versions.get(self.cleaned_data["dataset"])

    def version_choices(self) -> list[tuple[Any, Any]]:
        """(radio widget, version or None for the snapshot) for the template."""
        return [(choice, self.versions.get(str(choice.data["value"]))) for choice in self["dataset"]]

    def advanced(self):
        return [self[name] for name in self.config_fields]

    def overrides(self) -> dict[str, Any]:
        """Only the advanced fields the user filled in; the rest come from the preset."""
        out: dict[str, Any] = {}
        for name in self.config_fields:
            value = self.cleaned_data.get(name)
            if value in (None, ""):
                continue
            key = name[4:]
            if value in ("true", "false"):
                value = value == "true"
            elif key == "target_modules" and value not in TARGET_PRESETS:
                value = [part.strip() for part in value.split(",") if part.strip()]
            out[key] = value
        return out
