"""Evaluation of what training produced: per-example scores of a job, blind pairwise evaluations
(prompts, answers, items shown to reviewers, their judgments).

The tables were created by the training app and keep its names (`db_table`): the models moved here
by state only (migrations/0001_initial.py), so existing rows, permissions and admin history stay.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from annotune.work import WorkRow


class ExampleScore(models.Model):
    """One example's loss after a successful job, under the adapter and under the base model.

    Written by the worker in one bulk insert (engine schema: `training.engine.results.ExampleScore`);
    `loss_drop` is base − adapter (positive: the adapter fits the example better). The worst examples
    (highest adapter loss) go back to review with this evidence.
    """

    job = models.ForeignKey("training.TrainingJob", on_delete=models.CASCADE, related_name="example_scores")
    example = models.ForeignKey(
        "annotation.Example", null=True, blank=True, on_delete=models.SET_NULL, related_name="training_scores"
    )
    split = models.CharField(max_length=20, help_text="Where the engine used it: train | validation")
    adapter_loss = models.FloatField(null=True, blank=True)
    base_loss = models.FloatField(null=True, blank=True)
    loss_drop = models.FloatField(null=True, blank=True, help_text="base_loss − adapter_loss")
    tokens = models.PositiveIntegerField(default=0, help_text="Assistant tokens scored")
    truncated_tokens = models.PositiveIntegerField(default=0, help_text="Tokens cut by max_seq_length")
    category = models.CharField(max_length=100, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The project's checks that warned about the example (distinct codes at warning or error) when the job
    # finished: evidence beside the loss for "Needs a look" (a contradicted fact barely moves the loss).
    check_warnings = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "training_examplescore"
        ordering = ["job_id", "-adapter_loss"]
        constraints = [models.UniqueConstraint(fields=["job", "example"], name="one_score_per_job_example")]
        indexes = [models.Index(fields=["job", "-adapter_loss"], name="examplescore_job_loss")]

    def __str__(self) -> str:
        return f"Job {self.job_id} example {self.example_id}"


class EvaluationStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Generating answers"
    # After the work: open, then closed by an owner (or failed).
    OPEN = "open", "Open for judging"
    CLOSED = "closed", "Closed"
    FAILED = "failed", "Failed"


class Evaluation(WorkRow):
    """A blind pairwise evaluation: fixed prompts, two or more systems (base model, adapters).

    `systems` lists `{"key": "s0", "adapter_id": null | id, "label": "Base model" | adapter name}`; the
    inference worker answers every prompt with every system once (`params`: greedy, max_new_tokens),
    then one item per prompt and pair of systems is judged blind by reviewers.

    Generating the answers is a work row's work (annotune/work.py): claimed (queued -> running), beating,
    written through the row fenced to its attempt; it ends "open" (`finished_at`: when the answers were
    in) or "failed". The reaper fails an evaluation whose worker died (evaluation/services/reaper.py).
    """

    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="evaluations")
    name = models.CharField(max_length=200)
    base_model = models.ForeignKey("training.BaseModel", on_delete=models.PROTECT, related_name="+")
    dataset_version = models.ForeignKey(
        "datasets.DatasetVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="evaluations"
    )
    prompt_source = models.CharField(max_length=20, help_text="validation | train | pasted")
    systems = models.JSONField(default=list)
    params = models.JSONField(default=dict, help_text="Decoding: greedy, max_new_tokens")
    status = models.CharField(
        max_length=20, choices=EvaluationStatus.choices, default=EvaluationStatus.QUEUED, db_index=True
    )
    error_code = models.CharField(max_length=50, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "training_evaluation"
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_done(self) -> bool:
        """The answers' work ended: open for judging (then closed), or failed."""
        return self.status in (EvaluationStatus.OPEN, EvaluationStatus.CLOSED, EvaluationStatus.FAILED)

    @property
    def is_closed(self) -> bool:
        return self.status == EvaluationStatus.CLOSED

    def labels(self) -> dict[str, str]:
        return {s["key"]: s["label"] for s in self.systems}


class EvaluationPrompt(models.Model):
    evaluation = models.ForeignKey(Evaluation, on_delete=models.CASCADE, related_name="prompts")
    position = models.PositiveIntegerField()
    messages = models.JSONField(help_text="The conversation to answer, ending with a user turn")
    category = models.CharField(max_length=100, blank=True)

    class Meta:
        db_table = "training_evaluationprompt"
        ordering = ["evaluation_id", "position"]
        constraints = [models.UniqueConstraint(fields=["evaluation", "position"], name="one_prompt_per_position")]

    def __str__(self) -> str:
        return f"Evaluation {self.evaluation_id} prompt {self.position}"


class EvaluationAnswer(models.Model):
    prompt = models.ForeignKey(EvaluationPrompt, on_delete=models.CASCADE, related_name="answers")
    system = models.CharField(max_length=20, help_text="Key of the system in the evaluation's `systems`")
    text = models.TextField()
    new_tokens = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "training_evaluationanswer"
        constraints = [models.UniqueConstraint(fields=["prompt", "system"], name="one_answer_per_prompt_system")]

    def __str__(self) -> str:
        return f"Answer {self.pk}"


class EvaluationItem(models.Model):
    """One prompt and two systems' answers, in the order shown (`first` is answer 1; drawn at random)."""

    evaluation = models.ForeignKey(Evaluation, on_delete=models.CASCADE, related_name="items")
    prompt = models.ForeignKey(EvaluationPrompt, on_delete=models.CASCADE, related_name="items")
    first = models.ForeignKey(EvaluationAnswer, on_delete=models.CASCADE, related_name="+")
    second = models.ForeignKey(EvaluationAnswer, on_delete=models.CASCADE, related_name="+")

    class Meta:
        db_table = "training_evaluationitem"
        ordering = ["evaluation_id", "id"]

    def __str__(self) -> str:
        return f"Evaluation {self.evaluation_id} item {self.pk}"


class Verdict(models.TextChoices):
    FIRST = "1", "Answer 1 is better"
    SECOND = "2", "Answer 2 is better"
    TIE = "t", "Tie"
    BOTH_BAD = "b", "Both bad"


class Judgment(models.Model):
    item = models.ForeignKey(EvaluationItem, on_delete=models.CASCADE, related_name="judgments")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    verdict = models.CharField(max_length=1, choices=Verdict.choices)
    comment = models.TextField(blank=True)
    # The better answer, promoted (edited if need be) into a new example of the project.
    promoted_example = models.ForeignKey(
        "annotation.Example", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "training_judgment"
        ordering = ["item_id", "id"]
        constraints = [models.UniqueConstraint(fields=["item", "reviewer"], name="one_judgment_per_item_reviewer")]

    def __str__(self) -> str:
        return f"Judgment {self.pk} ({self.verdict})"
