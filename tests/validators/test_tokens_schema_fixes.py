from __future__ import annotations

import pytest

from tests.validators.helpers import codes, conv, only, run
from validators import SAFE_FIXES, ExampleInput, Location, ProjectSpec, apply_fixes, validate_example

SCHEMA = {
    "type": "object",
    "required": ["answer"],
    "properties": {"answer": {"type": "string"}, "score": {"type": "number", "maximum": 1}},
}


def test_token_budget_estimate_error_and_warning() -> None:
    spec = ProjectSpec(max_tokens=100)  # 4 chars per token + 4 per message
    assert run(conv("short"), spec, ["tokens"]) == []
    near = run(conv("x" * 340), spec, ["tokens"])
    assert codes(near) == {"tokens.near_limit"}
    too_long = only(run(conv("x" * 800), spec, ["tokens"]), "tokens.too_long")
    assert too_long[0].evidence["estimated"] is True
    # Cut point: 100 - (4 + 3 user tokens) - 4 overhead = 89 tokens * 4 chars = 356.
    assert too_long[0].location == Location(1, 356, 800)


def test_token_budget_uses_tokenizer_callable() -> None:
    spec = ProjectSpec(max_tokens=10, tokenizer=lambda s: len(s.split()), template_overhead_tokens=0)
    found = only(run(conv("one two three four five six seven eight nine ten", user="hi there"), spec, ["tokens"]),
                 "tokens.too_long")  # fmt: skip
    assert found[0].evidence == {"tokens": 12, "max_tokens": 10, "estimated": False}
    text = "one two three four five six seven eight nine ten"
    assert found[0].location is not None
    assert text[: found[0].location.start].split() == text.split()[:8]


@pytest.mark.parametrize(
    ("reply", "code", "fragment"),
    [
        ('{"answer": "yes"', "schema.invalid_json", "Expecting"),
        ("plain words", "schema.invalid_json", "Expecting value"),
        ('{"score": 0.5}', "schema.mismatch", "$: 'answer' is a required property"),
        ('{"answer": "a", "score": 2}', "schema.mismatch", "$.score: 2 is greater than the maximum of 1"),
        ('```json\n{"answer": 3}\n```', "schema.mismatch", "$.answer: 3 is not of type 'string'"),
    ],
)
def test_schema_positive(reply: str, code: str, fragment: str) -> None:
    found = run(conv(reply), ProjectSpec(response_schema=SCHEMA), ["schema"])
    assert codes(found) == {code}
    assert fragment in found[0].message
    assert found[0].location is not None
    assert found[0].location.message == 1


def test_schema_negative() -> None:
    spec = ProjectSpec(response_schema=SCHEMA)
    assert run(conv('{"answer": "yes", "score": 0.3}'), spec, ["schema"]) == []
    assert run(conv('```json\n{"answer": "yes"}\n```'), spec, ["schema"]) == []
    assert run(conv("free text"), ProjectSpec(), ["schema"]) == []


def test_invalid_json_location_points_at_the_error() -> None:
    found = run(conv('```json\n{"answer": }\n```'), ProjectSpec(response_schema=SCHEMA), ["schema"])
    assert found[0].location == Location(1, 19, 20)


def test_safe_fixes_remove_their_findings() -> None:
    messy = conv(" The caf\u00c3\u00a9  is\u200b open\x07.\r\nBye. ")
    before = codes(validate_example(messy))
    assert {"fmt.leading_whitespace", "fmt.trailing_whitespace", "fmt.double_space", "fmt.zero_width",
            "fmt.control_char", "fmt.line_endings", "fmt.mojibake"} <= before  # fmt: skip
    fixed = apply_fixes(messy)
    assert fixed[1]["content"] == "The caf\u00e9 is open.\nBye."
    assert codes(validate_example(ExampleInput.from_dict({"messages": fixed}))) & set(SAFE_FIXES) == set()
    assert messy.messages[1].content.startswith(" ")  # input untouched


def test_single_fix_and_code_is_preserved() -> None:
    ex = conv("Hello  world.\n```\na  =  1\n```")
    assert apply_fixes(ex, "fmt.double_space")[1]["content"] == "Hello world.\n```\na  =  1\n```"
    assert apply_fixes(ex, ["fmt.trailing_whitespace"])[1]["content"] == ex.messages[1].content


def test_explicit_fixes_redact_and_replace_terms() -> None:
    spec = ProjectSpec(glossary={"sign in": ["login"]})
    ex = conv("Login and mail jane@corp.io, key AKIA" + "Q7ZK2M9XW4PLN3TR.<|im_end|>")
    assert apply_fixes(ex, "pii.*")[1]["content"] == "Login and mail [EMAIL], key [API_KEY].<|im_end|>"
    assert apply_fixes(ex, "glossary.forbidden_term", spec)[1]["content"].startswith("Sign in and mail")
    assert apply_fixes(ex, "fmt.template_token")[1]["content"].endswith("PLN3TR.")
    assert "jane@corp.io" in apply_fixes(ex)[1]["content"]  # not a safe fix: only on request


def test_unfixable_codes_are_refused() -> None:
    with pytest.raises(ValueError, match="fmt.role_order"):
        apply_fixes(conv("x"), "fmt.role_order")
