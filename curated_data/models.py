"""Import jobs, immutable dataset versions, and the builds that make large versions on a worker."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from annotune.work import WorkRow


class ImportStatus(models.TextChoices):
    AWAITING_MAPPING = "awaiting_mapping", "Waiting for the column mapping"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class ImportPhase(models.TextChoices):
    WAITING = "waiting", "Waiting"
    VALIDATING = "validating", "Reading and checking rows"
    WRITING = "writing", "Writing examples"
    DONE = "done", "Done"


class ImportJob(WorkRow):
    """One uploaded file and its processing: the row is the source of truth for the task (a work row,
    annotune/work.py)."""

    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="import_jobs")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    file = models.CharField(max_length=500, help_text="Name of the uploaded file in the default storage.")
    original_name = models.CharField(max_length=255)
    size_bytes = models.BigIntegerField(default=0)
    file_format = models.CharField(max_length=20, default="auto", help_text="Format asked for (auto: detect).")
    detected_format = models.CharField(max_length=40, blank=True)
    # skip_bad_rows, mapping (CSV columns), status of the new examples.
    options = models.JSONField(default=dict, blank=True)
    # Indexed: the reaper looks for queued / running rows every minute (tests/test_reaper_indexes.py).
    status = models.CharField(max_length=20, choices=ImportStatus.choices, default=ImportStatus.QUEUED, db_index=True)
    phase = models.CharField(max_length=20, choices=ImportPhase.choices, default=ImportPhase.WAITING)
    bytes_done = models.BigIntegerField(default=0)
    rows_read = models.PositiveIntegerField(default=0)
    rows_valid = models.PositiveIntegerField(default=0)
    rows_invalid = models.PositiveIntegerField(default=0)
    rows_imported = models.PositiveIntegerField(default=0)
    # {"errors": [{"line", "field", "reason"}...], "error_count", "truncated", "notes": [...]}
    report = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["project", "-id"], name="importjob_project_id")]

    def __str__(self) -> str:
        return f"Import {self.pk} ({self.status})"

    @property
    def progress_percent(self) -> int:
        if self.status == ImportStatus.SUCCEEDED:
            return 100
        if not self.size_bytes:
            return 0
        return min(99, int(self.bytes_done * 100 / self.size_bytes))


class DatasetVersion(models.Model):
    """An immutable snapshot of a project's approved examples. Written once; never updated."""

    project = models.ForeignKey("annotation.Project", on_delete=models.PROTECT, related_name="dataset_versions")
    number = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64, help_text="sha256 of the canonical content (all.jsonl).")
    example_count = models.PositiveIntegerField()
    train_count = models.PositiveIntegerField()
    validation_count = models.PositiveIntegerField()
    # {"billing": {"total": 10, "train": 8, "validation": 2}, ...}; "" is the uncategorised bucket.
    category_counts = models.JSONField(default=dict)
    split_seed = models.BigIntegerField()
    validation_fraction = models.FloatField()
    # Files in the default storage: canonical JSON lines (all, train, validation) and the manifest
    # (example id, content hash, record hash, split per line of all.jsonl).
    all_path = models.CharField(max_length=500)
    train_path = models.CharField(max_length=500)
    validation_path = models.CharField(max_length=500)
    manifest_path = models.CharField(max_length=500)
    train_sha256 = models.CharField(max_length=64)
    validation_sha256 = models.CharField(max_length=64)
    guideline_sha256 = models.CharField(max_length=64)
    validation_report = models.JSONField(default=dict, blank=True)
    override_reason = models.TextField(blank=True)
    notes = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-number"]
        constraints = [models.UniqueConstraint(fields=["project", "number"], name="one_version_number_per_project")]

    def __str__(self) -> str:
        return f"{self.project_id} v{self.number} ({self.sha256[:12]})"


class VersionBuildStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Building"
    SUCCEEDED = "succeeded", "Built"
    FAILED = "failed", "Failed"


class VersionBuild(WorkRow):
    """A dataset version being built by a worker (projects with many approved examples: see
    ANNOTUNE_VERSION_INLINE_MAX). A work row (annotune/work.py): claimed, beating, reaped."""

    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="version_builds")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # What the owner asked for, as the version form takes it.
    notes = models.TextField(blank=True)
    seed = models.BigIntegerField(null=True, blank=True)
    validation_fraction = models.FloatField(null=True, blank=True)
    override_reason = models.TextField(blank=True)
    # Indexed: the reaper looks for queued / running rows every minute (tests/test_reaper_indexes.py).
    status = models.CharField(
        max_length=20, choices=VersionBuildStatus.choices, default=VersionBuildStatus.QUEUED, db_index=True
    )
    phase = models.CharField(max_length=120, blank=True)
    example_count = models.PositiveIntegerField(default=0, help_text="Approved examples, counted when the build starts")
    # The dataset checks' report when their errors refused the version (the page shows it).
    report = models.JSONField(default=dict, blank=True)
    version = models.OneToOneField(
        DatasetVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="build"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"Version build {self.pk} ({self.status})"
