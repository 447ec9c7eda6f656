"""Where an import spends its time: the phases it announces to an optional timer.

The import calls `timer.switch(phase)` whenever it moves from one kind of work to another (per row
between parsing and validating). Nothing is timed unless a caller passes a timer: the benchmark does,
with one that reads this process's CPU and the database server's. Passed in, never global, so two
imports in one process never mix their figures.
"""

from __future__ import annotations

from typing import Protocol

PARSE = "parse"  # reading the file, decoding and parsing each record into a conversation
VALIDATE = "validate"  # shape and label checks, content hashes, duplicates, every per-example check
WRITE = "write"  # inserting examples, revisions and transitions (with the index upkeep that comes with it)
OTHER = "other"  # claiming the job, progress and the report
PHASES = (PARSE, VALIDATE, WRITE, OTHER)


class PhaseTimer(Protocol):
    def switch(self, phase: str) -> None:
        """The import now does `phase` work (until the next switch)."""


class NoTimer:
    """What an import uses when nobody measures it."""

    def switch(self, phase: str) -> None:
        return None


NO_TIMER = NoTimer()
