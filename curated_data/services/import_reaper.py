"""The imports' reaper (Celery beat): imports whose worker died, and queued imports whose message was lost.

A running import whose heartbeat stopped is queued again (its attempt's rows were never committed:
the write is one transaction, and a late commit of the old attempt is refused by `_finish`), or
failed with the reason once it used its attempts. A queued import with no message on the broker
(a broker restart drops what it held) is sent again; the claim makes a duplicate a no-op.
"""

from __future__ import annotations

from django.conf import settings

from annotune import work

from ..models import ImportJob, ImportPhase


def reap_imports() -> dict[str, list[int]]:
    """Returns the ids re-queued, failed and sent again."""
    from ..tasks import run_import

    return work.reap_stale(
        ImportJob,
        task=run_import,
        stale_after=settings.ANNOTUNE_IMPORT_STALE_SECONDS,
        what="import",
        requeued=lambda reason: {
            "phase": ImportPhase.WAITING,
            "report": {"notes": [f"{reason}; nothing was written; queued again."]},
        },
        failed=lambda reason, limit: {
            "phase": ImportPhase.DONE,
            "error": f"{reason}; nothing was written. That was the last of {limit} attempts: retry the import.",
        },
    )
