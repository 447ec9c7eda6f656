"""Base models, training jobs (with their metric history), rank sweeps and training workers; the adapters jobs
produce live in the serving app (serving.models.Adapter)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from annotune.work import WorkRow

from .processes.routing import Needs


class BaseModelStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    BUILDING = "building", "Building"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class BaseModel(models.Model):
    """A model adapters are trained on: an HF hub id or a local folder, loaded offline where configured.

    Rows added by hand are ready at once (checked before they are created); a tiny model built by a
    worker is a row first (queued → building → ready | failed), so the page can show its progress.
    """

    name = models.CharField(max_length=200, unique=True)
    source = models.CharField(max_length=500, help_text="HF hub id or local path (what training loads)")
    requested_source = models.CharField(
        max_length=500, blank=True, help_text="What the user entered, when `source` is a folder prepared from it"
    )
    architecture = models.CharField(max_length=100, blank=True)
    parameter_count = models.BigIntegerField(null=True, blank=True)
    has_chat_template = models.BooleanField(default=False)
    template_note = models.CharField(max_length=500, blank=True, help_text="Why the default chat template applies")
    status = models.CharField(
        max_length=20, choices=BaseModelStatus.choices, default=BaseModelStatus.READY, db_index=True
    )
    status_changed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, help_text="Why the build failed")
    build_arch = models.CharField(max_length=20, blank=True, help_text="Tiny model build: architecture")
    build_size = models.CharField(max_length=20, blank=True, help_text="Tiny model build: size")
    estimates = models.JSONField(
        default=dict, blank=True, help_text="The engine's memory estimates for this model, by their inputs"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_ready(self) -> bool:
        return self.status == BaseModelStatus.READY

    @property
    def is_pending(self) -> bool:
        return self.status in (BaseModelStatus.QUEUED, BaseModelStatus.BUILDING)

    @property
    def shown_source(self) -> str:
        return self.requested_source or self.source

    @property
    def has_random_weights(self) -> bool:
        """A tiny model the platform built: random weights, its answers are noise (for tests, not for judging)."""
        return bool(self.build_size)


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)


class JobPhase(models.TextChoices):
    """Where a queued job stands before a worker of its device class can take it."""

    PLACED = "", "Placed"
    ESTIMATING = "estimating", "Estimating its memory"


FINAL_STATUSES = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


class Method(models.TextChoices):
    QLORA = "qlora", "QLoRA (4-bit base)"
    LORA = "lora", "LoRA"
    DORA = "dora", "DoRA"
    DPO = "dpo", "DPO (preference pairs, from an adapter)"


class SweepAxis(models.TextChoices):
    RANK = "rank", "Rank only"
    TARGETS = "targets", "Rank × target layers (attention only vs all linear layers)"


class AlphaRule(models.TextChoices):
    DOUBLE = "double", "alpha = 2 × rank"
    EQUAL = "equal", "alpha = rank"
    RSLORA = "rslora", "rsLoRA: the configuration's alpha for every rank, scaled by alpha / √rank"


class Sweep(models.Model):
    """A rank sweep: one training job per rank (and, with the targets axis, per target-layer choice),
    same dataset version, seed and other settings. Its status is derived from its members' statuses."""

    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="sweeps")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    dataset_version = models.ForeignKey(
        "datasets.DatasetVersion", on_delete=models.PROTECT, related_name="sweeps", help_text="Every member's data"
    )
    base_model = models.ForeignKey("BaseModel", on_delete=models.PROTECT, related_name="sweeps")
    preset = models.CharField(max_length=20, blank=True)
    base_config = models.JSONField(help_text="The shared configuration; rank, alpha and targets vary per member")
    ranks = models.JSONField(help_text="Ranks compared, ascending")
    alpha_rule = models.CharField(max_length=10, choices=AlphaRule.choices, default=AlphaRule.DOUBLE)
    axis = models.CharField(max_length=10, choices=SweepAxis.choices, default=SweepAxis.RANK)
    tolerance = models.FloatField(default=0.02, help_text="Share of the best validation loss a smaller rank may lose")
    cancel_requested = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"Sweep {self.pk}"


class TrainingJob(WorkRow):
    """One training run. The row is the source of truth: the worker claims it, reports into it, finishes it
    (a work row, annotune/work.py; `attempts` is the fencing token, `max_attempts` its limit, shown on the page)."""

    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="training_jobs")
    base_model = models.ForeignKey(BaseModel, on_delete=models.PROTECT, related_name="training_jobs")
    # Data: a dataset version's files (jobs launched before versions were required may have trained on a
    # snapshot of the approved examples saved with the job: their dataset_version is empty).
    train_path = models.CharField(max_length=500, help_text="Storage path of the training JSONL")
    validation_path = models.CharField(max_length=500, blank=True, help_text="Storage path of the validation JSONL")
    dataset_version = models.ForeignKey(
        "datasets.DatasetVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="training_jobs",
        help_text="The version trained on (empty only on jobs from before every launch read a version)",
    )
    dataset_sha256 = models.CharField(max_length=64)
    train_examples = models.PositiveIntegerField(default=0)
    validation_examples = models.PositiveIntegerField(default=0)
    method = models.CharField(max_length=10, choices=Method.choices)
    preset = models.CharField(max_length=20, blank=True)
    config = models.JSONField(help_text="Validated, complete training configuration")
    estimate = models.JSONField(default=dict, blank=True, help_text="Memory and adapter size estimate at launch")

    status = models.CharField(max_length=20, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True)
    # A launch whose memory estimate was not known yet is queued "estimating" (no queue); a default-queue task
    # estimates, places and dispatches it (training/services/estimating.py).
    phase = models.CharField(max_length=20, choices=JobPhase.choices, default=JobPhase.PLACED, blank=True)
    method_fixed = models.BooleanField(
        default=True, help_text="False: the launch plan picks the method for the device class it places the job on"
    )
    cancel_requested = models.BooleanField(default=False)
    # Progress, written by the worker at each logging step.
    step = models.PositiveIntegerField(default=0)
    max_steps = models.PositiveIntegerField(default=0)
    epoch = models.FloatField(default=0)
    loss = models.FloatField(null=True, blank=True)
    eval_loss = models.FloatField(null=True, blank=True)
    learning_rate = models.FloatField(null=True, blank=True)
    grad_norm = models.FloatField(null=True, blank=True)
    tokens_per_second = models.FloatField(null=True, blank=True)
    eta_seconds = models.FloatField(null=True, blank=True)
    max_attempts = models.PositiveSmallIntegerField(default=3)
    checkpoint_dir = models.CharField(max_length=500, blank=True, help_text="Worker-local folder of checkpoints")
    resumed_from_step = models.PositiveIntegerField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    child_pid = models.PositiveIntegerField(null=True, blank=True, help_text="Process running the engine")
    # What the job needs (training.processes.routing.Needs), decided at launch; `queue` is where it waits for a
    # worker of that device class.
    device_type = models.CharField(max_length=10, default="cpu")
    devices = models.PositiveSmallIntegerField(default=1, help_text="Processes: one per device")
    memory_mb = models.PositiveIntegerField(default=0, help_text="Estimated memory per process (MiB)")
    queue = models.CharField(max_length=60, default="training.cpu", db_index=True)
    error_code = models.CharField(max_length=50, blank=True)
    log_tail = models.TextField(blank=True)
    result = models.JSONField(default=dict, blank=True, help_text="Engine result: metrics, truncation, versions")

    sweep = models.ForeignKey(
        Sweep, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs", help_text="Rank sweep it is in"
    )
    parent_adapter = models.ForeignKey(
        "serving.Adapter",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="continued_by",
        help_text="Continue training: the adapter whose weights the job starts from",
    )

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["project", "-id"], name="trainingjob_project_id")]

    def __str__(self) -> str:
        return f"Job {self.pk} ({self.status})"

    @property
    def needs(self) -> Needs:
        """What the job takes (device class, processes, memory), as decided at launch."""
        return Needs(self.device_type, self.devices, self.memory_mb, self.method)

    @property
    def percent(self) -> int:
        if self.status == JobStatus.SUCCEEDED:
            return 100
        if not self.max_steps:
            return 0
        return min(100, int(100 * self.step / self.max_steps))


class TrainingWorker(models.Model):
    """A training worker's advert: what it has (training.processes.routing.Capacity) and the queues it consumes.

    Written by the worker at start-up and refreshed by its heartbeat; `stopped_at` is set when it shuts
    down cleanly. The launch form and the queue page read it; a launch that no advertised worker could
    ever take is refused.
    """

    name = models.CharField(max_length=200, unique=True, help_text="Celery node name, e.g. training-gpu0@host")
    hostname = models.CharField(max_length=200)
    pid = models.PositiveIntegerField(null=True, blank=True)
    device_type = models.CharField(max_length=10)
    devices = models.PositiveSmallIntegerField(default=1)
    memory_mb = models.PositiveIntegerField(default=0, help_text="Per CUDA device; the host's for CPU")
    methods = models.JSONField(default=list)
    device_names = models.JSONField(default=list, blank=True)
    queues = models.JSONField(default=list)
    started_at = models.DateTimeField()
    heartbeat_at = models.DateTimeField()
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["device_type", "name"]

    def __str__(self) -> str:
        return self.name


class TrainingMetric(models.Model):
    """One logging step of a job: a row per step (append-only, indexed), read incrementally by the chart."""

    job = models.ForeignKey(TrainingJob, on_delete=models.CASCADE, related_name="metrics")
    step = models.PositiveIntegerField()
    epoch = models.FloatField(default=0)
    loss = models.FloatField(null=True, blank=True)
    eval_loss = models.FloatField(null=True, blank=True)
    learning_rate = models.FloatField(null=True, blank=True)
    grad_norm = models.FloatField(null=True, blank=True)
    tokens_per_second = models.FloatField(null=True, blank=True)
    attempt = models.PositiveSmallIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["job_id", "step"]
        constraints = [models.UniqueConstraint(fields=["job", "step"], name="one_metric_per_job_step")]

    def __str__(self) -> str:
        return f"Job {self.job_id} step {self.step}"
