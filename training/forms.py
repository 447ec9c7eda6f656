"""The launch form: a preset plus an advanced section generated from the engine's JSON Schema."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms

from .engine.config import PRESETS, TARGET_PRESETS, config_schema
from .models import AlphaRule, Method, SweepAxis

METHOD_LABELS = dict(Method.choices)


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
    if name == "method":
        return forms.ChoiceField(
            label=label,
            required=False,
            help_text="Automatic: QLoRA on a GPU, LoRA on a CPU where the base fits at full precision (the estimate "
            "below says which, and why).",
            choices=[("", "Automatic (for the device)")] + [(v, METHOD_LABELS.get(v, v)) for v in spec["enum"]],
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


def split_counts(version: Any) -> str:
    """The one wording of a version's split, used on every page that shows it."""
    return f"{version.train_count} train / {version.validation_count} validation"


def version_label(version: Any, *, latest: bool = False) -> str:
    return f"Version {version.number}{' (latest)' if latest else ''} · {split_counts(version)}"


def adapter_label(adapter: Any) -> str:
    lineage = adapter.lineage or {}
    config = lineage.get("config") or {}
    version = (lineage.get("dataset_version") or {}).get("number")
    parts = [adapter.name]
    if config.get("rank"):
        parts.append(f"r={config['rank']}")
    if version:
        parts.append(f"trained on version {version}")
    return " · ".join(parts)


class LaunchForm(forms.Form):
    """`versions`: the project's dataset versions, newest first; the newest is preselected. A project without
    one has no choice to make: the launch makes its first version of the approved examples."""

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

    continue_from = forms.ChoiceField(
        label="Continue from adapter",
        required=False,
        help_text="Start from this adapter's weights (its base model, method, rank, alpha and target modules are "
        "kept) and train on the chosen dataset version: the adapter's or a newer one.",
        error_messages={"invalid_choice": "That adapter is not in this project; choose one of the listed adapters."},
    )

    def __init__(self, *args: Any, versions: Sequence[Any] = (), adapters: Sequence[Any] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.adapters = {str(a.pk): a for a in adapters}
        self.fields["continue_from"].choices = [("", "No: new adapter from scratch")] + [
            (str(a.pk), adapter_label(a)) for a in adapters
        ]
        self.versions = {str(v.number): v for v in versions}
        self.fields["dataset"].choices = [
            (str(v.number), version_label(v, latest=i == 0)) for i, v in enumerate(versions)
        ]
        self.fields["dataset"].required = bool(versions)
        if versions and "dataset" not in self.initial:
            self.initial["dataset"] = str(versions[0].number)
        self.config_fields = []
        for name, spec in config_schema()["properties"].items():
            self.fields[f"cfg_{name}"] = _field_for(name, spec)
            self.config_fields.append(f"cfg_{name}")

    def parent_adapter(self) -> Any:
        """The adapter training continues from, or None."""
        return self.adapters.get(self.cleaned_data.get("continue_from") or "")

    def dataset_version(self) -> Any:
        """The chosen version; None when the project has none yet (the launch makes the first one)."""
        return self.versions.get(self.cleaned_data.get("dataset") or "")

    def version_choices(self) -> list[tuple[Any, Any]]:
        """(radio widget, version) for the template."""
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


def _ranks(text: str) -> list[int]:
    try:
        ranks = [int(part) for part in text.replace(",", " ").split()]
    except ValueError:
        raise forms.ValidationError("Ranks are whole numbers separated by commas, e.g. 4, 8, 16, 32.") from None
    if len(set(ranks)) < 2:
        raise forms.ValidationError("Compare at least two different ranks.")
    if not all(1 <= r <= 512 for r in ranks):
        raise forms.ValidationError("Ranks are from 1 to 512.")
    return sorted(set(ranks))


class SweepForm(forms.Form):
    """The launch form's "Compare ranks" part (prefix `sweep`): the rest of the settings come from LaunchForm."""

    ranks = forms.CharField(
        label="Ranks", initial="4, 8, 16, 32", help_text="One job per rank, same data, seed and other settings."
    )
    alpha_rule = forms.ChoiceField(label="Alpha", choices=AlphaRule.choices, initial=AlphaRule.DOUBLE)
    both_targets = forms.BooleanField(
        label="Also compare attention layers only with all linear layers (twice the jobs)", required=False
    )
    tolerance_percent = forms.FloatField(
        label="Tolerance (%)",
        initial=2,
        min_value=0,
        max_value=50,
        help_text="Recommended: the smallest rank whose validation loss is within this much of the best.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("prefix", "sweep")
        super().__init__(*args, **kwargs)

    def clean_ranks(self) -> list[int]:
        return _ranks(self.cleaned_data["ranks"])

    def arguments(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "ranks": data["ranks"],
            "alpha_rule": data["alpha_rule"],
            "axis": SweepAxis.TARGETS if data["both_targets"] else SweepAxis.RANK,
            "tolerance": data["tolerance_percent"] / 100,
        }
