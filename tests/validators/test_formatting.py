from __future__ import annotations

import pytest

from tests.validators.helpers import codes, conv, only, run
from validators import ExampleInput, Location, ProjectSpec, style_profile

FMT = ["formatting"]


@pytest.mark.parametrize(
    ("text", "code", "location"),
    [
        ("  Hello there.", "fmt.leading_whitespace", Location(1, 0, 2)),
        ("Hello there. \n", "fmt.trailing_whitespace", Location(1, 12, 14)),
        ("Hello  there.", "fmt.double_space", Location(1, 5, 7)),
        ("Line one\r\nLine two", "fmt.line_endings", Location(1, 8, 9)),
        ("Bell\x07 here.", "fmt.control_char", Location(1, 4, 5)),
        ("Zero\u200bwidth.", "fmt.zero_width", Location(1, 4, 5)),
        ("The caf\u00c3\u00a9 is open.", "fmt.mojibake", Location(1, 4, 9)),
        ("Use <b>bold text.", "fmt.unbalanced_tag", Location(1, 4, 7)),
        ("Done.</div>", "fmt.unbalanced_tag", Location(1, 5, 11)),
        ("Run:\n```python\nprint(1)", "fmt.unclosed_code_fence", Location(1, 5, 14)),
        ("Open the menu (top right.", "fmt.unbalanced_brackets", Location(1, 14, 15)),
        ("Values] are here.", "fmt.unbalanced_brackets", Location(1, 6, 7)),
        ('Type "hello in the box.', "fmt.unbalanced_quotes", Location(1, 5, 6)),
        ("Sure.<|im_end|>", "fmt.template_token", Location(1, 5, 15)),
        ("[INST] do it [/INST]", "fmt.template_token", Location(1, 0, 6)),
        ("Answer\n### Response: yes", "fmt.template_token", Location(1, 7, 20)),
        ("Bye</s>", "fmt.template_token", Location(1, 3, 7)),
        ("", "fmt.empty_turn", Location(1, 0, 0)),
        ("- one\n* two", "fmt.list_style", Location(1, 6, 7)),
    ],
)
def test_formatting_positive(text: str, code: str, location: Location) -> None:
    found = only(run(conv(text), checks=FMT), code)
    assert found, run(conv(text), checks=FMT)
    assert found[0].location == location


@pytest.mark.parametrize(
    "text",
    [
        "Plain clean answer.",
        "Code keeps its spacing:\n```\nx  =  1\n```\nDone.",
        "Inline `a  b` code is fine.",
        "Smile :) and pick 1) one or 2) two.",
        "Generics like List<String> are not tags.",
        "Placeholders like <your password> are not tags.",
        "Family \U0001f469\u200d\U0001f4bb emoji stay.",
        "Caf\u00e9 cr\u00e8me br\u00fbl\u00e9e is fine.",
        "Proper <b>bold</b> and <br> line.",
        'Quotes \u201clike this\u201d and "this".',
        "Tabs\tare fine.\nNew lines too.",
        "A table | a  | b |",
    ],
)
def test_formatting_negative(text: str) -> None:
    assert run(conv(text), checks=FMT) == []


def test_role_order() -> None:
    def ex(*roles: str) -> ExampleInput:
        return ExampleInput.from_dict({"messages": [{"role": r, "content": "Text."} for r in roles]})

    assert run(ex("system", "user", "assistant", "user", "assistant"), checks=FMT) == []
    late = only(run(ex("user", "system", "assistant"), checks=FMT), "fmt.role_order")
    assert [f.location for f in late] == [Location(1)]
    swapped = only(run(ex("assistant", "user"), checks=FMT), "fmt.role_order")
    assert Location(0) in [f.location for f in swapped]
    ends_user = only(run(ex("user", "assistant", "user"), checks=FMT), "fmt.role_order")
    assert [f.location for f in ends_user] == [Location(2)]
    assert codes(run(ExampleInput.from_dict({"messages": []}), checks=FMT)) == {"fmt.role_order"}
    unknown = only(run(ex("user", "bot"), checks=FMT), "fmt.role_order")
    assert unknown[0].evidence["role"] == "bot"


def test_list_and_heading_style_follow_project_majority() -> None:
    examples = [conv("# Title\n\n- a\n- b"), conv("# Other\n\n- c"), conv("**Bold**\n\n* d")]
    profile = style_profile(examples)
    assert (profile.list_marker, profile.heading_style) == ("-", "atx")
    spec = ProjectSpec(list_marker=profile.list_marker, heading_style=profile.heading_style)
    found = run(conv("**Overview**\n\n* item"), spec, FMT)
    assert codes(found) == {"fmt.list_style", "fmt.heading_style"}
    assert only(found, "fmt.list_style")[0].suggestion == "-"
    assert only(found, "fmt.heading_style")[0].location == Location(1, 0, 12)
    assert run(conv("# Overview\n\n- item"), spec, FMT) == []
    # Style applies to assistant replies only.
    assert run(conv("Fine.", user="* item"), spec, FMT) == []


def test_metadata_unknown_category_and_tag() -> None:
    spec = ProjectSpec(categories={"billing": 1.0}, style_tags=("concise",))
    found = run(conv("Fine.", category="gardening", style_tags=["concise", "loud"]), spec, ["metadata"])
    assert codes(found) == {"meta.unknown_category", "meta.unknown_style_tag"}
    assert run(conv("Fine.", category="billing", style_tags=["concise"]), spec, ["metadata"]) == []
