"""The launch form: a preset plus an advanced section generated from the engine's JSON Schema."""

from __future__ import annotations

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


class LaunchForm(forms.Form):
    preset = forms.ChoiceField(
        choices=[(name, name.capitalize()) for name in PRESETS], initial="balanced", widget=forms.RadioSelect
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.config_fields = []
        for name, spec in config_schema()["properties"].items():
            self.fields[f"cfg_{name}"] = _field_for(name, spec)
            self.config_fields.append(f"cfg_{name}")

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
