from django.apps import AppConfig


class EvaluationConfig(AppConfig):
    """What training produced, measured: per-example scores, the behavioural evaluation, control sets
    for forgetting, blind pairwise evaluations by reviewers.

    The models moved here from the training app and keep its tables (`training_…`); URL paths and names,
    and the Celery task name that queued messages carry (`training.tasks.generate_evaluation_answers`),
    are unchanged.
    """

    name = "evaluation"
    verbose_name = "Evaluation"
