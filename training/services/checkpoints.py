"""Trainer checkpoints copied to artifact storage, so that a job the reaper re-queues resumes on any worker.

The engine saves checkpoints in the worker's own folder (`output/checkpoints/checkpoint-<step>`). Trainer
writes `trainer_state.json` last, so a folder holding it is complete. While the job runs, the newest
complete checkpoint is copied to `checkpoints/job-<id>/checkpoint-<step>/` in a background thread (the
heartbeat goes on meanwhile), then `manifest.json` is written next to it: a stored checkpoint without a
manifest is partial and never read. Older stored checkpoints are deleted once a newer one is whole.
An attempt that finds no checkpoint on its machine fetches the newest stored one first; the job's
stored checkpoints are deleted when it ends. On by default with object storage
(settings.TRAINING_SHARE_CHECKPOINTS); one machine with a local folder resumes from its own disk.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
from pathlib import Path

from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from annotune.storage import ArtifactWriter, StorageError, copy_to_local, storage_failures

from . import folders

log = logging.getLogger(__name__)

STATE_FILE = "trainer_state.json"  # Trainer's last write into a checkpoint folder
MANIFEST = "manifest.json"  # ours, the last write into a stored checkpoint


def complete_checkpoints(folder: Path) -> list[tuple[int, Path]]:
    """(step, path) of the local checkpoints that Trainer finished writing, oldest first."""
    found = []
    for path in Path(folder).glob("checkpoint-*"):
        step = path.name.rsplit("-", 1)[-1]
        if step.isdigit() and (path / STATE_FILE).is_file():
            found.append((int(step), path))
    return sorted(found)


class CheckpointMirror:
    def __init__(self, job_id: int, folder: Path) -> None:
        self.prefix = f"checkpoints/job-{job_id}"
        self.folder = Path(folder)  # the engine's output/checkpoints
        self.stored_step: int | None = None
        self._thread: threading.Thread | None = None
        self._failed: set[int] = set()  # steps whose copy failed (not tried again; a newer one comes)
        self._outcome: tuple[int, str | None] | None = None  # (step, error) of the last finished copy

    # -- reading ------------------------------------------------------------------------------------
    def stored(self) -> list[tuple[int, list[str]]]:
        """(step, files) of the whole stored checkpoints, oldest first."""
        try:
            subfolders, _files = default_storage.listdir(self.prefix)
        except FileNotFoundError:
            return []
        whole = []
        for name in subfolders:
            step = name.rsplit("-", 1)[-1]
            text = folders.read_text(f"{self.prefix}/{name}", MANIFEST) if step.isdigit() else None
            if text:
                whole.append((int(step), json.loads(text)["files"]))
        return sorted(whole)

    def restore(self) -> int | None:
        """Before an attempt: with no local checkpoint, fetch the newest stored one. Its step, or None."""
        stored = self.stored()
        self.stored_step = stored[-1][0] if stored else None  # not copied again
        if complete_checkpoints(self.folder) or not stored:
            return None
        step, files = stored[-1]
        target = self.folder / f"checkpoint-{step}"
        staging = self.folder / f".checkpoint-{step}.part"  # Trainer only looks at checkpoint-<n>
        shutil.rmtree(staging, ignore_errors=True)
        try:
            for relative in files:
                copy_to_local(f"{self.prefix}/checkpoint-{step}/{relative}", staging / relative)
            shutil.rmtree(target, ignore_errors=True)
            staging.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        self.stored_step = step
        return step

    # -- writing ------------------------------------------------------------------------------------
    def poll(self) -> tuple[int, str | None] | None:
        """Start copying the newest complete checkpoint not stored yet (in a thread).

        Returns (step, error or None) of a copy that finished since the last call, for the job's log.
        """
        finished = None
        if self._thread is not None:
            if self._thread.is_alive():
                return None
            self._thread, finished, self._outcome = None, self._outcome, None
        local = complete_checkpoints(self.folder)
        if local and local[-1][0] != self.stored_step and local[-1][0] not in self._failed:
            step, path = local[-1]
            self._thread = threading.Thread(target=self._run, args=(step, path), name=f"store-{path.name}")
            self._thread.start()
        return finished

    def finish(self) -> tuple[int, str | None] | None:
        """Wait for a copy in progress, then store the newest checkpoint if it is not yet (the child died).

        Returns (step, error or None) of the last copy.
        """
        outcome = None
        while True:
            if self._thread is not None:
                self._thread.join()
            outcome = self.poll() or outcome
            if self._thread is None:
                return outcome

    def _run(self, step: int, path: Path) -> None:
        try:
            self.store(step, path)
            self._outcome = (step, None)
        except (StorageError, *storage_failures()) as exc:  # Trainer may rotate the folder away meanwhile
            log.warning("checkpoint %s of %s not stored: %s", step, self.prefix, exc)
            self._failed.add(step)
            self._outcome = (step, getattr(exc, "message", None) or str(exc))

    def store(self, step: int, path: Path) -> None:
        base = f"{self.prefix}/checkpoint-{step}"
        files = sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file())
        with ArtifactWriter(f"checkpoint {step}") as writer:
            for relative in files:
                with open(path / relative, "rb") as handle:
                    writer.save(f"{base}/{relative}", File(handle))
            writer.save(f"{base}/{MANIFEST}", ContentFile(json.dumps({"step": step, "files": files}).encode()))
        self.stored_step = step
        for older, _files in self.stored():
            if older != step:
                self._delete(older)

    def _delete(self, step: int) -> None:
        base = f"{self.prefix}/checkpoint-{step}"
        default_storage.delete(f"{base}/{MANIFEST}")  # first: what is left is never read as whole
        folders.delete_folder(base)

    def discard(self) -> None:
        """The job ended: its stored checkpoints are of no further use."""
        if self._thread is not None:
            self._thread.join()
        try:
            folders.delete_folder(self.prefix)
        except storage_failures():
            log.exception("could not delete the stored checkpoints of %s", self.prefix)
