"""Response schema: with a JSON Schema set, assistant replies must parse and validate."""

from __future__ import annotations

import json
import re
from typing import Any

from validators.base import MAX_PER_CODE, Check
from validators.findings import Finding, Location
from validators.inputs import ExampleInput, ProjectSpec
from validators.registry import make_finding

FENCED_JSON_RE = re.compile(r"\A\s*```[ \t]*(?:json|JSON)?[ \t]*\n(.*?)\n[ \t]*```\s*\Z", re.DOTALL)


def extract_json_text(content: str) -> tuple[str, int]:
    """The JSON text of a reply (the inside of a ```json fence if the reply is one) and its offset."""
    m = FENCED_JSON_RE.match(content)
    if m:
        return m.group(1), m.start(1)
    return content, 0


def json_path(path: Any) -> str:
    out = "$"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


class ResponseSchemaCheck(Check):
    name = "schema"
    codes = ("schema.invalid_json", "schema.mismatch")

    def check(self, example: ExampleInput, spec: ProjectSpec) -> list[Finding]:
        validator = spec.schema_validator
        if validator is None:
            return []
        out: list[Finding] = []
        for index, message in enumerate(example.messages):
            if message.role != "assistant" or not message.content.strip():
                continue
            text, offset = extract_json_text(message.content)
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                pos = offset + exc.pos
                out.append(
                    make_finding(
                        "schema.invalid_json",
                        f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).",
                        Location(index, pos, min(pos + 1, len(message.content))),
                        evidence={"error": exc.msg},
                    )
                )
                continue
            errors = sorted(validator.iter_errors(value), key=lambda e: (list(e.absolute_path), e.message))
            for error in errors[:MAX_PER_CODE]:
                path = json_path(error.absolute_path)
                out.append(
                    make_finding(
                        "schema.mismatch",
                        f"{path}: {error.message}",
                        Location(index),
                        evidence={"path": path, "validator": str(error.validator)},
                    )
                )
        return out
