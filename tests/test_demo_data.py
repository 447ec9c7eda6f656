"""The demo's data (annotune/demo_data.py): sizes, shares, one house style, three planted slips, ten held-out
prompts; read without a database."""

from __future__ import annotations

import re
from collections import Counter

from annotune import demo_data
from annotune.demo import follows_house_style
from validators import KnowledgeBase, ProjectSpec, validate_example

ANSWERS_IN_STYLE = [
    (turns[0], text)
    for _, _, turns in demo_data.APPROVED
    for i, text in enumerate(turns)
    if i % 2 == 1 and turns[0] not in demo_data.DEFECT_PROMPTS
]


def words(text: str) -> int:
    return len(text.split())


def normalised(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def test_sizes_and_category_shares() -> None:
    categories = Counter(category for category, _, _ in demo_data.APPROVED)
    assert sum(categories.values()) >= 64
    total = sum(categories.values())
    targets = {c["name"]: c["target_share"] for c in demo_data.CATEGORIES}
    assert set(categories) == set(targets) == {"billing", "shipping", "account", "general"}
    for name, share in targets.items():
        assert abs(categories[name] / total - share) < 0.02, name
    two_turn = [turns for _, _, turns in demo_data.APPROVED if len(turns) == 4]
    assert 3 <= len(two_turn) <= 8  # mostly single-turn, a few two-turn
    assert all(len(turns) in (2, 4) for _, _, turns in demo_data.APPROVED)
    assert 6 <= len(demo_data.FACTS) <= 10
    assert len(demo_data.DRAFTS) == 2


def test_conversations_are_short_enough_to_train_in_minutes() -> None:
    for _, _, turns in demo_data.APPROVED:
        for i, text in enumerate(turns):
            if i % 2 == 0:
                assert words(text) < 20, text
            else:
                assert 25 <= words(text) <= 45, text
    # About 100 tokens a conversation with the system prompt (4 characters a token, as the validators estimate).
    chars = [len(demo_data.SYSTEM_PROMPT) + sum(len(t) for t in turns) for _, _, turns in demo_data.APPROVED]
    assert sum(chars) / len(chars) / 4 < 100


def test_prompts_are_varied() -> None:
    prompts = [normalised(turns[0]) for _, _, turns in demo_data.APPROVED]
    assert len(set(prompts)) == len(prompts)
    answers = [normalised(text) for _, text in ANSWERS_IN_STYLE]
    assert len(set(answers)) == len(answers)


def test_every_answer_but_the_slips_is_in_the_house_style() -> None:
    assert demo_data.STYLE_RULES == {"opening": "**In short:**", "signoff": "— Acme Support", "max_words": 60}
    for prompt, text in ANSWERS_IN_STYLE:
        assert follows_house_style(text), prompt
        first, *detail, last = text.split("\n")
        assert first.startswith("**In short:** ")
        assert first.endswith((".", "!")), prompt  # one sentence ...
        assert 1 <= len(re.findall(r"[.!?](?:\s|$)", " ".join(detail))) <= 2, prompt  # ... then one or two more
        assert last == "— Acme Support"
    # The base model's kind of answer does not pass.
    assert not follows_house_style("You can return it within 30 days. Open Orders and click Return.")
    assert not follows_house_style("**In short:** Yes.\nOpen Orders.")
    assert not follows_house_style("")


def test_three_planted_slips_listed_with_what_is_wrong() -> None:
    assert [d.kind for d in demo_data.DEFECTS] == ["off_topic", "contradicted_fact", "formatting"]
    prompts = [turns[0] for _, _, turns in demo_data.APPROVED]
    for defect in demo_data.DEFECTS:
        assert prompts.count(defect.prompt) == 1
        assert defect.what
    answers = {turns[0]: turns[1] for _, _, turns in demo_data.APPROVED}
    formatting = answers[demo_data.FORMATTING_PROMPT]
    assert not follows_house_style(formatting)
    assert "  " in formatting
    assert "**In short:" in formatting
    assert "**In short:**" not in formatting
    assert "90 days" in answers[demo_data.CONTRADICTION_PROMPT]
    assert "30 days" in demo_data.FACTS[0]
    off_topic = answers[demo_data.OFF_TOPIC_PROMPT]
    assert follows_house_style(off_topic)  # well formed, wrong content: only training finds it
    assert not {"customs", "parcel"} & set(normalised(off_topic).split())


def test_the_platform_checks_flag_the_slips_and_nothing_else() -> None:
    kb = KnowledgeBase.build([], facts=demo_data.FACTS)
    spec = ProjectSpec.from_dict(
        {
            "categories": demo_data.CATEGORIES,
            "general_category": "general",
            "glossary": {"sign in": ["login", "log in"]},
            "style_rules": demo_data.STYLE_RULES,
            "max_tokens": 512,
        },
        knowledge_base=kb,
    )
    flagged: dict[str, set[str]] = {}
    for category, tags, turns in demo_data.APPROVED:
        messages = [{"role": ("user", "assistant")[i % 2], "content": t} for i, t in enumerate(turns)]
        found = validate_example(
            {"messages": messages, "category": category, "style_tags": tags}, spec, fact_check=True
        )
        codes = {f.code for f in found} - {"fact.supported", "fact.unsupported"}
        if codes:
            flagged[turns[0]] = codes
    assert flagged == {d.prompt: set(d.codes) for d in demo_data.DEFECTS if d.codes}


def test_held_out_prompts_are_ten_support_questions_not_in_the_training_data() -> None:
    held_out = demo_data.HELD_OUT_PROMPTS
    assert len(held_out) == len(set(held_out)) == 10
    training = {normalised(t) for _, _, turns in demo_data.APPROVED for t in turns[::2]}
    for prompt in held_out:
        assert normalised(prompt) not in training, prompt
        assert words(prompt) < 20
