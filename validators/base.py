"""The shape every per-example check has: a small class with one method returning findings."""

from __future__ import annotations

from typing import ClassVar

from validators.findings import Finding
from validators.inputs import ExampleInput, ProjectSpec

MAX_PER_CODE = 10
"""At most this many findings of one code per message (the editor highlights; it need not list 500)."""


class Check:
    """Subclasses set `name` and `codes` and implement `check`. Instances are stateless and shared."""

    name: ClassVar[str] = ""
    codes: ClassVar[tuple[str, ...]] = ()

    def check(self, example: ExampleInput, spec: ProjectSpec) -> list[Finding]:  # pragma: no cover
        raise NotImplementedError
