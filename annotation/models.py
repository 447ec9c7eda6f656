"""Projects, memberships, conversations (examples), their revisions and status transitions."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from annotune.work import WorkRow

DEFAULT_REJECT_REASONS = ["factual_error", "style", "formatting", "off_topic", "duplicate", "other"]


def default_reject_reasons() -> list[str]:
    return list(DEFAULT_REJECT_REASONS)


class Project(models.Model):
    name = models.CharField(max_length=200)
    description = models.CharField(max_length=500, blank=True)
    guidelines = models.TextField(blank=True, help_text="Markdown; rendered sanitised.")
    base_model = models.ForeignKey(
        "training.BaseModel", null=True, blank=True, on_delete=models.SET_NULL, related_name="projects"
    )
    # Format spec: what a good example of this project looks like.
    default_system_prompt = models.TextField(blank=True)
    categories = models.JSONField(default=list, blank=True, help_text='[{"name": "billing", "target_share": 0.3}, ...]')
    general_category = models.CharField(max_length=100, blank=True)
    style_tags = models.JSONField(default=list, blank=True)
    glossary = models.JSONField(default=dict, blank=True, help_text='{"preferred": ["forbidden", ...]}')
    response_schema = models.JSONField(null=True, blank=True)
    max_tokens = models.PositiveIntegerField(default=2048)
    validation_policy = models.JSONField(default=dict, blank=True)
    # House style every assistant answer keeps (validators/style.py): {"opening", "signoff", "max_words"}.
    style_rules = models.JSONField(default=dict, blank=True)
    reviews_required = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(3)]
    )
    reject_reasons = models.JSONField(default=default_reject_reasons, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def category_names(self) -> list[str]:
        return [c["name"] for c in self.categories if isinstance(c, dict) and c.get("name")]


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    REVIEWER = "reviewer", "Reviewer"
    ANNOTATOR = "annotator", "Annotator"


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.ANNOTATOR)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="one_membership_per_user")]
        ordering = ["project_id", "user__username"]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} ({self.role})"


class ExampleStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    CHANGES_REQUESTED = "changes_requested", "Changes requested"


class Example(models.Model):
    """One conversation: system / user / assistant turns that become a training example."""

    # No index of its own: every (project, ...) index below leads with it. Each index costs every insert.
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="examples", db_index=False)
    messages = models.JSONField()
    category = models.CharField(max_length=100, blank=True)
    style_tags = models.JSONField(default=list, blank=True)
    context = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=ExampleStatus.choices, default=ExampleStatus.DRAFT)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="examples")
    version = models.PositiveIntegerField(default=1)
    content_hash = models.CharField(max_length=64)  # indexed with the project (duplicates are per project)
    # Lower-cased text of all turns, for search (a trigram index backs it on PostgreSQL).
    search_text = models.TextField(blank=True, editable=False)
    # Latest per-example validation findings (list of Finding dicts) and their error count.
    findings = models.JSONField(default=list, blank=True)
    error_count = models.PositiveIntegerField(default=0)
    # Review queue claim: who holds it and until when.
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )  # indexed below, claimed rows only
    claim_expires_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    # Submission round: +1 on every submit and reopen; a reviewer reviews each round at most once.
    review_round = models.PositiveIntegerField(default=0, db_default=0)
    # Sent back by training (a ReviewFlag): the review round it opened. While that round is the
    # current one and the example is submitted, the queue offers it before the others.
    flagged_round = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            # Flagged by training and waiting in the queue: taken first (only those rows indexed).
            models.Index(
                fields=["project", "id"],
                condition=models.Q(status="submitted", flagged_round__isnull=False),
                name="example_review_queue_flagged",
            ),
            # Keyset pagination newest first, per project and per common filter.
            models.Index(fields=["project", "-id"], name="example_project_id"),
            models.Index(fields=["project", "content_hash"], name="example_project_hash"),
            models.Index(
                fields=["claimed_by"], condition=models.Q(claimed_by__isnull=False), name="example_claimed_by"
            ),
            models.Index(fields=["project", "status", "-id"], name="example_project_status_id"),
            models.Index(fields=["project", "author", "-id"], name="example_project_author_id"),
            models.Index(fields=["project", "category", "-id"], name="example_project_category_id"),
            # The review queue: oldest submitted first, only the submitted rows indexed.
            models.Index(fields=["project", "id"], condition=models.Q(status="submitted"), name="example_review_queue"),
            models.Index(
                fields=["project", "category", "id"],
                condition=models.Q(status="submitted"),
                name="example_review_queue_category",
            ),
            models.Index(
                fields=["project", "author", "id"],
                condition=models.Q(status="submitted"),
                name="example_review_queue_author",
            ),
        ]

    def __str__(self) -> str:
        return f"Example {self.pk} ({self.status})"

    @property
    def prompt_preview(self) -> str:
        for message in self.messages:
            if message.get("role") == "user":
                return message.get("content", "")[:160]
        return ""

    @property
    def awaits_answer(self) -> bool:
        """A prompt without its answer yet (imported so, or written so): "Draft all" answers it."""
        return bool(self.messages) and self.messages[-1].get("role") == "user"

    @property
    def turn_count(self) -> int:
        return sum(1 for m in self.messages if m.get("role") != "system")


class Revision(models.Model):
    """A snapshot written by every edit of an example: who, when and what changed."""

    # Indexed by the (example, version) constraint below, which leads with it.
    example = models.ForeignKey(Example, on_delete=models.CASCADE, related_name="revisions", db_index=False)
    version = models.PositiveIntegerField()
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    messages = models.JSONField()
    category = models.CharField(max_length=100, blank=True)
    style_tags = models.JSONField(default=list, blank=True)
    context = models.TextField(blank=True)
    changed_fields = models.JSONField(default=list)
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-version"]
        constraints = [models.UniqueConstraint(fields=["example", "version"], name="one_revision_per_version")]

    def __str__(self) -> str:
        return f"Example {self.example_id} v{self.version}"


class Transition(models.Model):
    """Audit: every status change of an example (who, when, from, to, reason)."""

    example = models.ForeignKey(Example, on_delete=models.CASCADE, related_name="transitions")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    from_status = models.CharField(max_length=20, choices=ExampleStatus.choices)
    to_status = models.CharField(max_length=20, choices=ExampleStatus.choices)
    reason = models.CharField(max_length=100, blank=True)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"Example {self.example_id}: {self.from_status} → {self.to_status}"


class DraftOutcome(models.TextChoices):
    UNCHANGED = "unchanged", "Approved unchanged"
    EDITED = "edited", "Approved after corrections"
    QUESTION_CHANGED = "question_changed", "Question changed"


class ExampleDraft(models.Model):
    """An answer the project's model drafted for one assistant turn of an example, as the worker wrote it.

    One row per draft, not fields on Example: a conversation has several assistant turns, an annotator may
    draft a turn again, and the example keeps changing after the draft. Each row keeps the conversation it
    answered (`prompt`, the turns before `turn_index`) beside the text, so a later export can pair them
    with the approved example: where `example.messages[:turn_index] == prompt` and the approved answer at
    `turn_index` differs from `text`, (prompt, chosen=approved answer, rejected=text) is a preference pair;
    an answer kept unchanged counts towards the adapter's accepted share (the adapter is kept by name too,
    for when it is deleted).

    Written only by `annotation.services.drafts.draft_keep`, from the GenerationRequest row the inference
    worker answered (never from text the browser sends), when the editor saves the example.
    """

    example = models.ForeignKey(Example, on_delete=models.CASCADE, related_name="drafts")
    turn_index = models.PositiveIntegerField(help_text="Index in the example's messages of the answered turn")
    prompt = models.JSONField(help_text="The turns the draft answered (the messages before turn_index)")
    text = models.TextField()
    adapter = models.ForeignKey("serving.Adapter", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    adapter_name = models.CharField(max_length=200, help_text="Who answered: the adapter's name, or “Base model”")
    base_model_name = models.CharField(max_length=200)
    params = models.JSONField(default=dict, help_text="Decoding: max_new_tokens, temperature, top_p, seed")
    finish_reason = models.CharField(max_length=20, blank=True)
    # One draft row per answer; SET_NULL so that pruning generation requests keeps the drafts.
    generation = models.OneToOneField(
        "serving.GenerationRequest", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    requested_at = models.DateTimeField(help_text="When the draft was asked for")
    created_at = models.DateTimeField(auto_now_add=True, help_text="When it was kept with the example")
    # Drafted by "Draft all" (no generation request: the batch's worker asked the serving backend itself).
    batch = models.ForeignKey("DraftBatch", null=True, blank=True, on_delete=models.SET_NULL, related_name="drafts")
    # What the latest approval of the example made of this draft (the latest draft of its turn only), written
    # with the approval by `annotation.services.preferences`: the drafting flywheel reads these, not texts.
    approved_outcome = models.CharField(max_length=20, choices=DraftOutcome.choices, blank=True)
    approved_distance = models.FloatField(
        null=True, blank=True, help_text="Edit distance to the approved answer (characters, over the longer length)"
    )

    class Meta:
        ordering = ["example_id", "turn_index", "-id"]

    def __str__(self) -> str:
        return f"Draft of example {self.example_id} turn {self.turn_index} by {self.adapter_name}"


class DraftBatchStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Drafting"
    SUCCEEDED = "succeeded", "Done"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class DraftBatch(WorkRow):
    """ "Draft all": the project's model answers every example that waits for an answer (a draft whose
    conversation ends with the user's turn), one by one on the inference worker. A work row
    (annotune/work.py): claimed, beating, re-queued by its reaper when its worker dies.

    The examples are those waiting, by id up to `last_example_id` (the newest when it started); `cursor` is
    the last one handled, so an attempt after a re-queue goes on where the dead one stopped."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="draft_batches")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # Who answers, fixed when it starts: the active adapter then (null: the base model), kept by name too.
    adapter = models.ForeignKey("serving.Adapter", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    adapter_name = models.CharField(max_length=200)
    base_model = models.ForeignKey(
        "training.BaseModel", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Indexed: the reaper looks for queued / running rows every minute (tests/test_reaper_indexes.py).
    status = models.CharField(
        max_length=20, choices=DraftBatchStatus.choices, default=DraftBatchStatus.QUEUED, db_index=True
    )
    phase = models.CharField(max_length=200, blank=True)
    total = models.PositiveIntegerField(default=0, help_text="Examples waiting for an answer when it started")
    done = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    # The first few examples that could not be drafted, and why: [{"example": id, "reason": text}].
    failures = models.JSONField(default=list, blank=True)
    cancel_requested = models.BooleanField(default=False)
    last_example_id = models.PositiveBigIntegerField(default=0)
    cursor = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["project", "-id"], name="draftbatch_project_id")]

    def __str__(self) -> str:
        return f"Draft batch {self.pk} ({self.status})"

    @property
    def handled(self) -> int:
        return self.done + self.failed

    @property
    def progress_percent(self) -> int:
        return round(100 * self.handled / self.total) if self.total else 0


class PreferenceOrigin(models.TextChoices):
    DRAFT_CORRECTION = "draft_correction", "Draft correction"


class PreferencePair(models.Model):
    """A preference for DPO: the answer approved for a drafted turn (`chosen`) over the model's draft
    (`rejected`), for the conversation before that turn (`prompt`).

    Written only by `annotation.services.preferences.preference_pairs_record`, in the approval's transaction,
    when the approved answer differs from the kept draft (compared as `plain` text). One row per draft
    (`draft` is one-to-one): a later approval of the same example (reopened, edited, approved again)
    updates the pair to what was approved last, and removes it when that approval kept the draft unchanged,
    so the export never holds two answers "chosen" over the same draft.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    example = models.ForeignKey(Example, on_delete=models.CASCADE, related_name="preference_pairs")
    draft = models.OneToOneField(ExampleDraft, on_delete=models.CASCADE, related_name="preference_pair")
    turn_index = models.PositiveIntegerField(help_text="Index in the example's messages of the corrected turn")
    prompt = models.JSONField(help_text="The conversation up to the user turn answered (role and content)")
    chosen = models.TextField(help_text="The approved answer")
    rejected = models.TextField(help_text="The model's draft")
    origin = models.CharField(
        max_length=30, choices=PreferenceOrigin.choices, default=PreferenceOrigin.DRAFT_CORRECTION
    )
    edit_distance = models.FloatField(help_text="Levenshtein distance on characters over the longer length")
    adapter = models.ForeignKey("serving.Adapter", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    adapter_name = models.CharField(max_length=200, help_text="Who drafted: the adapter's name, or “Base model”")
    corrected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+", help_text="Last editor"
    )
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    approved_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["project", "id"], name="preference_pair_project_id")]

    def __str__(self) -> str:
        return f"Preference pair of example {self.example_id} turn {self.turn_index}"


class ReviewDecision(models.TextChoices):
    APPROVE = "approve", "Approve"
    REJECT = "reject", "Reject"
    REQUEST_CHANGES = "request_changes", "Request changes"


class Review(models.Model):
    """One reviewer's decision on one submission round of an example."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")  # for per-project stats
    example = models.ForeignKey(Example, on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    round = models.PositiveIntegerField()
    decision = models.CharField(max_length=20, choices=ReviewDecision.choices)
    reason = models.CharField(max_length=100, blank=True)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["example", "round", "reviewer"], name="one_review_per_round"),
        ]
        indexes = [models.Index(fields=["project", "reviewer"], name="review_project_reviewer")]

    def __str__(self) -> str:
        return f"{self.decision} of example {self.example_id} (round {self.round}) by {self.reviewer_id}"


class Comment(models.Model):
    """The conversation about an example between its author and its reviewers."""

    example = models.ForeignKey(Example, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    review = models.ForeignKey(Review, null=True, blank=True, on_delete=models.SET_NULL, related_name="comments")
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"Comment {self.pk} on example {self.example_id}"


class ReviewFlag(models.Model):
    """Audit and evidence: a training job's scores sent an example back to review (who, when, why).

    The flag outlives the example (`example` becomes null, `example_number` keeps its id) so the
    job's "what training found" page can still say it was removed. `example_version` and `round`
    (the review round the send-back opened) tell what happened since: fixed, confirmed, removed.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    example = models.ForeignKey(Example, null=True, blank=True, on_delete=models.SET_NULL, related_name="review_flags")
    example_number = models.PositiveBigIntegerField(help_text="The example's id (kept after it is deleted)")
    job = models.ForeignKey(
        "training.TrainingJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="review_flags"
    )
    sent_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    ranking = models.CharField(max_length=20, blank=True, help_text="The list it was sent from")
    comment = models.TextField(help_text="The system comment: job, loss, rank")
    evidence = models.JSONField(default=dict, blank=True, help_text="annotation.services.flags.FlagEvidence")
    from_status = models.CharField(max_length=20, choices=ExampleStatus.choices)
    example_version = models.PositiveIntegerField()
    round = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["job", "example_number"], name="reviewflag_job_example"),
            models.Index(fields=["example", "-id"], name="reviewflag_example_id"),
        ]

    def __str__(self) -> str:
        return f"Example {self.example_number} flagged by job {self.job_id}"


class WorkerPing(models.Model):
    """A round trip through the broker: the web side writes it, a worker answers it."""

    created_at = models.DateTimeField(auto_now_add=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return f"Ping {self.pk} ({'answered' if self.answered_at else 'waiting'})"


# -- Quality: knowledge base for the fact check, verified claims, dataset validation runs ------------------


class KnowledgeDocument(models.Model):
    """A reference document (text or markdown) the fact check retrieves passages from."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="knowledge_documents")
    title = models.CharField(max_length=200)
    text = models.TextField()
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["title", "id"]

    def __str__(self) -> str:
        return self.title


class Fact(models.Model):
    """One statement the project holds true (a passage of its own in the fact check)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="facts")
    statement = models.TextField()
    source = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.statement[:80]


class ClaimVerification(models.Model):
    """A reviewer checked a claim by hand: the fact check then reports it as verified with this source."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="claim_verifications")
    claim_hash = models.CharField(max_length=64)
    claim_text = models.TextField()
    source = models.CharField(max_length=500)
    verified_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["project", "claim_hash"], name="one_verification_per_claim")]

    def __str__(self) -> str:
        return f"Verified: {self.claim_text[:60]}"


class ValidationRunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class ValidationRun(WorkRow):
    """A dataset-level validation over the approved pool (or a dataset version), run by a worker (a work row,
    annotune/work.py: claimed, beating, re-queued by the reaper whose worker died, up to a limit)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="validation_runs")
    dataset_version = models.ForeignKey(
        "datasets.DatasetVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Indexed: the reaper looks for queued / running rows every minute (tests/test_reaper_indexes.py).
    status = models.CharField(
        max_length=20, choices=ValidationRunStatus.choices, default=ValidationRunStatus.QUEUED, db_index=True
    )
    progress = models.FloatField(default=0.0)
    phase = models.CharField(max_length=100, blank=True)
    report = models.JSONField(default=dict, blank=True)
    example_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    warning_count = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["project", "-id"], name="validationrun_project_id")]

    def __str__(self) -> str:
        return f"Validation run {self.pk} ({self.status})"
