from django.apps import AppConfig


class CuratedDataConfig(AppConfig):
    """Imports, exports and immutable dataset versions.

    The Python package was called `datasets` until it was renamed, because a top-level `datasets` in
    the project root shadowed Hugging Face's `datasets` (so `from trl import SFTTrainer` and
    transformers' Trainer broke when run from the project). `curated_data` is no PyPI package's
    top-level module.

    The app *label* stays "datasets" on purpose: the label, not the package, names the tables
    (`datasets_datasetversion`, `datasets_importjob`), the rows in `django_migrations`
    (app="datasets"), the content types and permissions, and the lazy references other apps' models
    and migrations use ("datasets.DatasetVersion", ("datasets", "0001_initial")). Keeping it means a
    database created before the rename migrates with nothing to do and no data moves
    (tests/curated_data/test_rename_upgrade.py builds one at the old code and checks that).
    For the same reason the pages' template folder (templates/datasets/), the URL prefix
    (/projects/<id>/datasets/), the storage folder of version files and the Celery task name
    ("datasets.tasks.run_import", which queued messages carry) are unchanged.
    """

    name = "curated_data"
    label = "datasets"
    verbose_name = "Datasets"
