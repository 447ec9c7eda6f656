from __future__ import annotations

from validators import ExampleInput, Finding, ProjectSpec, validate_example


def conv(assistant: str, user: str = "Question?", **extra: object) -> ExampleInput:
    return ExampleInput.from_dict(
        {"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}], **extra}
    )


def run(example: ExampleInput, spec: ProjectSpec | None = None, checks: list[str] | None = None) -> list[Finding]:
    return validate_example(example, spec or ProjectSpec(), checks=checks)


def codes(findings: list[Finding]) -> set[str]:
    return {f.code for f in findings}


def only(findings: list[Finding], code: str) -> list[Finding]:
    return [f for f in findings if f.code == code]
