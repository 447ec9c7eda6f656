"""What can be wrong with a row or with a whole file, located by line and field."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    reason: str
    fatal: bool = False  # the file could not be read on from here: nothing is imported, even skipping

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "reason": self.reason}


class RowInvalid(Exception):
    def __init__(self, errors: list[tuple[str, str]]):
        super().__init__("; ".join(reason for _, reason in errors))
        self.errors = errors


class FileInvalid(Exception):
    """A problem with the file as a whole (encoding, structure): reading stops here."""

    def __init__(self, line: int, reason: str, field: str = ""):
        super().__init__(reason)
        self.error = RowError(line, field, reason, fatal=True)
