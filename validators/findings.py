"""The one result type every check returns, and the project policy applied to it."""

from __future__ import annotations

import fnmatch
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    """`error` blocks approval and dataset versions; `warning` and `info` only inform."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"error": 2, "warning": 1, "info": 0}[self.value]


@dataclass(frozen=True, slots=True)
class Location:
    """Where a finding points: message index and a character span [start, end) in its content.

    `start`/`end` are None when the finding concerns the whole message (e.g. wrong role order).
    Dataset-level findings have no location at all (`Finding.location is None`).
    """

    message: int
    start: int | None = None
    end: int | None = None

    def to_dict(self) -> dict[str, int | None]:
        return {"message": self.message, "start": self.start, "end": self.end}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Location:
        return cls(message=int(data["message"]), start=data.get("start"), end=data.get("end"))


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem (or note) found by a check.

    - `code`: stable identifier, a key of `validators.REGISTRY` (e.g. ``"pii.email"``).
    - `severity`: after the project's policy has been applied.
    - `message`: one sentence for the annotator.
    - `location`: message index + character span, or None for dataset-level findings.
    - `suggestion`: replacement text or advice (e.g. ``"[EMAIL]"``, ``"sign in"``), or None.
    - `evidence`: JSON-serialisable details (matched text, source passage, example ids, figures).
    """

    code: str
    severity: Severity
    message: str
    location: Location | None = None
    suggestion: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def blocking(self) -> bool:
        return self.severity is Severity.ERROR

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
            "location": self.location.to_dict() if self.location else None,
            "suggestion": self.suggestion,
            "evidence": dict(self.evidence),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Finding:
        location = data.get("location")
        return cls(
            code=str(data["code"]),
            severity=Severity(data["severity"]),
            message=str(data.get("message", "")),
            location=Location.from_dict(location) if location else None,
            suggestion=data.get("suggestion"),
            evidence=dict(data.get("evidence") or {}),
        )


def has_blocking(findings: Iterable[Finding]) -> bool:
    """True when any finding is an error (approval and dataset versions are refused)."""
    return any(f.severity is Severity.ERROR for f in findings)


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Errors first, then by message index and position."""

    def key(f: Finding) -> tuple[int, int, int, str]:
        loc = f.location
        return (-f.severity.rank, loc.message if loc else -1, (loc.start or 0) if loc else 0, f.code)

    return sorted(findings, key=key)


@dataclass(frozen=True)
class Policy:
    """A project's validation policy: severity overrides and disabled codes.

    Patterns may end with ``*`` to cover a family (``"pii.*"``). Exact codes win over patterns.
    Build it from what the project stores with `Policy.from_dict`::

        {"overrides": {"fmt.double_space": "warning", "pii.*": "error"}, "disabled": ["fmt.list_style"]}
    """

    overrides: Mapping[str, Severity] = field(default_factory=dict)
    disabled: frozenset[str] = frozenset()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, *, known_codes: Collection[str] | None = None) -> Policy:
        """Parse a stored policy. Given the codes that exist (``validators.registry.parse_policy`` passes them),
        unknown codes and severities raise ValueError; without them a stored policy is read leniently."""
        data = data or {}
        raw_overrides = data.get("overrides") or data.get("severity") or {}
        overrides: dict[str, Severity] = {}
        problems: list[str] = []
        for code, severity in dict(raw_overrides).items():
            try:
                overrides[str(code)] = Severity(str(severity))
            except ValueError:
                problems.append(f"{code}: unknown severity {severity!r}")
        disabled = frozenset(str(c) for c in (data.get("disabled") or ()))
        if known_codes is not None:
            for code in [*overrides, *disabled]:
                if not any(fnmatch.fnmatchcase(known, code) for known in known_codes):
                    problems.append(f"{code}: no check has this code")
            if problems:
                raise ValueError("; ".join(problems))
        return cls(overrides=overrides, disabled=disabled)

    def to_dict(self) -> dict[str, Any]:
        return {
            "overrides": {code: sev.value for code, sev in sorted(self.overrides.items())},
            "disabled": sorted(self.disabled),
        }

    def is_disabled(self, code: str) -> bool:
        return code in self.disabled or any(
            "*" in pattern and fnmatch.fnmatchcase(code, pattern) for pattern in self.disabled
        )

    def severity_for(self, code: str, default: Severity) -> Severity:
        if code in self.overrides:
            return self.overrides[code]
        best: tuple[int, Severity] | None = None
        for pattern, severity in self.overrides.items():
            if "*" in pattern and fnmatch.fnmatchcase(code, pattern):
                if best is None or len(pattern) > best[0]:  # the most specific pattern wins
                    best = (len(pattern), severity)
        return best[1] if best else default

    def apply(self, findings: Iterable[Finding]) -> list[Finding]:
        """Drop disabled codes and re-grade the rest."""
        if not self.overrides and not self.disabled:
            return list(findings)
        out = []
        for f in findings:
            if self.is_disabled(f.code):
                continue
            severity = self.severity_for(f.code, f.severity)
            out.append(f if severity is f.severity else replace(f, severity=severity))
        return out
