"""Page forms of the curated_data app: plain values for the services."""

from __future__ import annotations

from django import forms

from annotation.models import ExampleStatus

from .formats.containers import CSV_FIELDS, CSV_REQUIRED
from .formats.records import IMPORT_FORMAT_LABELS
from .services.versions import MAX_TEXT_CHARS


class ImportForm(forms.Form):
    file = forms.FileField(help_text="JSONL, a JSON array or CSV, in UTF-8; plain, gzip (.gz) or a .zip of one file.")
    file_format = forms.ChoiceField(
        label="Format", choices=list(IMPORT_FORMAT_LABELS.items()), initial="auto", required=False
    )
    skip_bad_rows = forms.BooleanField(
        required=False,
        label="Skip bad rows",
        help_text="Import the good rows and report the bad ones. Off: one bad row and nothing is imported.",
    )
    keep_duplicates = forms.BooleanField(
        required=False,
        label="Keep duplicates",
        help_text="Off: a row repeating an earlier row or an existing example is skipped and reported.",
    )
    status = forms.ChoiceField(
        label="Imported examples are",
        choices=[(ExampleStatus.DRAFT, "Drafts"), (ExampleStatus.SUBMITTED, "Submitted for review")],
        initial=ExampleStatus.DRAFT,
    )


class MappingForm(forms.Form):
    """One select per field of a conversation, listing the CSV file's columns."""

    LABELS = {
        "prompt": "Prompt (user turn)",
        "response": "Response (assistant turn; none: prompts that wait for a draft)",
        "system": "System prompt",
        "category": "Category",
        "tags": "Style tags (comma-separated)",
        "context": "Context passage",
        "messages": "Full conversation (JSON list of turns, for multi-turn rows)",
    }

    def __init__(self, *args, columns: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        choices = [("", "—")] + [(c, c) for c in columns]
        for key in CSV_FIELDS:
            self.fields[key] = forms.ChoiceField(label=self.LABELS[key], choices=choices, required=key in CSV_REQUIRED)


class VersionForm(forms.Form):
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=MAX_TEXT_CHARS)
    seed = forms.IntegerField(min_value=0, required=False, help_text="Split seed; empty: the default.")
    validation_fraction = forms.FloatField(
        min_value=0,
        max_value=0.99,
        required=False,
        help_text=(
            "Share of each category held out for validation, e.g. 0.1; kept as given. Empty: 10 %, raised to "
            "10 conversations when the pool has 40 or more (so never more than 25 % of it)."
        ),
    )
    override_reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        max_length=MAX_TEXT_CHARS,
        help_text="Only when the dataset checks report errors: why this version should be created anyway.",
    )
