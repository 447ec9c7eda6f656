"""Deterministic labelled corpus: clean conversations (with hard negatives) and planted defects.

Each item is ``{"example": {...}, "labels": [codes], "part": "general" | "schema" | "facts"}``.
Run ``python -m tests.validators.corpus > corpus.jsonl`` to look at it.
"""

from __future__ import annotations

import json
import random
import string
from collections.abc import Callable
from typing import Any

from validators import KnowledgeBase, ProjectSpec

PROMPTS = [
    "How do I reset my password?",
    "Can I change the delivery address after ordering?",
    "Why was my card declined?",
    "How do I export my reading history?",
    "What happens when my trial ends?",
    "How can I invite a colleague to my workspace?",
    "Is there a way to pause my subscription?",
    "How do I turn on two-factor authentication?",
    "Where can I find my invoices?",
    "How do I delete my account?",
    "Can I share a library with my family?",
    "How do I report a damaged book?",
]
SENTENCES = [
    "Open the account settings page and choose the security tab.",
    "The change takes effect immediately and you will see a confirmation.",
    "You can undo this from the same page within a few minutes.",
    "If the option is greyed out, your workspace administrator has disabled it.",
    "We keep a copy of your data for thirty days so nothing is lost by mistake.",
    "Most requests are handled by the support team within one working day.",
    "The billing page lists every invoice with its date and amount.",
    "Family libraries can hold up to five members.",
    "Your reading history downloads as a spreadsheet file.",
    "Two-factor authentication protects your account even if your password leaks.",
    "Sign in again on each device after the change.",
    "Send us an email with a photo of the damage and we will replace the book.",
]
HARD_NEGATIVES = [
    "Version 2.4.1.3 fixed the sync issue.",
    "The update shipped on 2024-03-15.",
    "Your order 1234567890 is on its way.",
    "You can write to support@example.com for help.",
    "The local server listens on 127.0.0.1 by default.",
    "Thanks for your patience :)",
    "Pick one: 1) monthly or 2) yearly billing.",
    "The method returns List<String> in Java.",
    "Great work \U0001f469\u200d\U0001f4bb team.",
    "The test card 4111 1111 1111 1112 is always rejected.",
    "A task-based workflow keeps things simple.",
    "Opening hours are 9:00-17:00 on weekdays.",
    "The caf\u00e9 serves cr\u00e8me br\u00fbl\u00e9e on Fridays.",
    "The range is [0, 10] inclusive.",
    "Call the sales desk at extension 4421.",
    "Set timeout=30 in the config file.",
    "Enter password: <your password> in the dialog.",
    "Temperature rose to 21.5 degrees.",
    "The demo line is 555-0100.",
    "An IBAN such as GB00 WEST 1234 5698 7654 32 with a wrong checksum is refused.",
    "Use the subnet mask 255.255.255.0 for the office network.",
    "The meeting runs from 10.30 to 11.45.",
    "Documentation uses addresses like 192.0.2.10.",
    "He said \u201cthanks\u201d and left.",
    "The result (as shown above) is final.",
]
CODE_BLOCK = "```python\nx  =  1  # aligned\nprint(x)\n```"

SPEC_DICT: dict[str, Any] = {
    "categories": {"account": 0.4, "billing": 0.3, "general": 0.3},
    "general_category": "general",
    "style_tags": ["concise", "friendly"],
    "glossary": {"sign in": ["login", "log in", "logon"], "email": ["e-mail"], "GitHub": ["Github"]},
    "max_tokens": 512,
    "list_marker": "-",
    "heading_style": "atx",
}
SCHEMA = {
    "type": "object",
    "required": ["answer", "confidence"],
    "properties": {"answer": {"type": "string"}, "confidence": {"type": "number", "minimum": 0, "maximum": 1}},
    "additionalProperties": False,
}
KB_DOCUMENTS = {
    "policies": "Refunds are accepted within 30 days of purchase. Standard shipping takes 5 business days. "
    "Orders above 50 dollars ship for free. Gift cards never expire.",
    "company": "Nimbus Books was founded in Lisbon in 2011. Customer support is available Monday to Friday. "
    "The mobile app supports offline reading.",
}
KB_FACTS = ["The Premium plan costs 12 dollars per month.", "A family library holds up to 5 members."]
SUPPORTED = [
    "You can get a refund within 30 days of purchase.",
    "Standard shipping usually takes 5 business days.",
    "Orders above 50 dollars ship for free.",
    "Gift cards never expire.",
    "Nimbus Books was founded in Lisbon in 2011.",
    "Customer support is available from Monday to Friday.",
    "The mobile app supports offline reading.",
    "The Premium plan costs 12 dollars per month.",
    "A family library holds up to 5 members.",
]
CONTRADICTED = [
    "You can get a refund within 14 days of purchase.",
    "Standard shipping takes 9 business days.",
    "Orders above 80 dollars ship for free.",
    "Gift cards expire after a year.",
    "Nimbus Books was founded in Porto in 2011.",
    "Customer support is available Saturday to Sunday.",
    "The mobile app does not support offline reading.",
    "The Premium plan costs 25 dollars per month.",
    "A family library holds up to 9 members.",
]
UNSUPPORTED = [
    "Our warehouse robots are painted bright orange.",
    "The founder enjoys sailing on quiet weekends.",
    "Every parcel includes a handwritten poem.",
    "The company plans to open a cinema downtown.",
    "Reading streaks unlock animated badges.",
    "Audiobooks are narrated by professional actors.",
]


def corpus_spec() -> ProjectSpec:
    return ProjectSpec.from_dict(SPEC_DICT)


def schema_spec() -> ProjectSpec:
    return ProjectSpec.from_dict({**SPEC_DICT, "response_schema": SCHEMA, "max_tokens": 4096})


def facts_spec() -> ProjectSpec:
    return ProjectSpec.from_dict(SPEC_DICT, knowledge_base=KnowledgeBase.build(KB_DOCUMENTS, facts=KB_FACTS))


def _luhn_complete(prefix: str) -> str:
    for last in "0123456789":
        digits = prefix + last
        total = 0
        for i, ch in enumerate(reversed(digits)):
            d = int(ch) * (2 if i % 2 else 1)
            total += d - 9 if d > 9 else d
        if total % 10 == 0:
            return digits
    raise AssertionError


def _iban(rng: random.Random) -> str:
    bban = "".join(rng.choice(string.digits) for _ in range(18))
    number = int("".join(str(int(c, 36)) for c in bban + "DE00"))
    iban = f"DE{98 - number % 97:02d}{bban}"
    return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))


def _assistant(rng: random.Random, hard_negative: bool) -> str:
    parts = []
    if rng.random() < 0.2:
        parts.append("# Steps")
    sentences = rng.sample(SENTENCES, rng.randint(2, 4))
    parts.append(" ".join(sentences))
    if rng.random() < 0.3:
        parts.append("\n".join(f"- {s}" for s in rng.sample(SENTENCES, 2)))
    if rng.random() < 0.15:
        parts.append(CODE_BLOCK + "\n\nThat is the whole script.")
    if hard_negative:
        parts.append(" ".join(rng.sample(HARD_NEGATIVES, 2)))
    return "\n\n".join(parts)


Mutator = Callable[[list[dict[str, str]], random.Random], None]


def _append(text: str) -> Mutator:
    def mutate(messages: list[dict[str, str]], rng: random.Random) -> None:
        messages[-1]["content"] += "\n\n" + text

    return mutate


def _insert_in_word(char: str) -> Mutator:
    def mutate(messages: list[dict[str, str]], rng: random.Random) -> None:
        text = messages[-1]["content"]
        pos = text.index("e", 5)
        messages[-1]["content"] = text[:pos] + char + text[pos:]

    return mutate


def _random_key(rng: random.Random) -> str:
    alnum = string.ascii_letters + string.digits
    return rng.choice(
        [
            "AKIA" + "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(16)),
            "ghp_" + "".join(rng.choice(alnum) for _ in range(36)),
            "sk-" + "".join(rng.choice(alnum) for _ in range(40)),
            "xoxb-"
            + "".join(rng.choice(string.digits) for _ in range(12))
            + "-"
            + "".join(rng.choice(alnum) for _ in range(24)),
        ]
    )


def _mutators() -> dict[str, Mutator]:
    def leading(m: list[dict[str, str]], rng: random.Random) -> None:
        m[-1]["content"] = rng.choice(["  ", "\n", " \t"]) + m[-1]["content"]

    def trailing(m: list[dict[str, str]], rng: random.Random) -> None:
        m[-1]["content"] += rng.choice([" ", "\n\n", "  \n"])

    def double_space(m: list[dict[str, str]], rng: random.Random) -> None:
        text = m[-1]["content"]
        start = text.index("\n\n") + 2 if text.startswith("#") else 0
        pos = text.index(" ", start + 3)
        m[-1]["content"] = text[:pos] + "  " + text[pos + 1 :]

    def crlf(m: list[dict[str, str]], rng: random.Random) -> None:
        m[-1]["content"] = m[-1]["content"].replace("\n", "\r\n") + "\r\nThat is all."

    def mojibake(m: list[dict[str, str]], rng: random.Random) -> None:
        sentence = rng.choice(["The caf\u00e9 is open.", "A na\u00efve approach works.", "Send your r\u00e9sum\u00e9."])
        m[-1]["content"] += " " + sentence.encode("utf-8").decode("windows-1252")

    def template(m: list[dict[str, str]], rng: random.Random) -> None:
        token = rng.choice(["<|im_end|>", "<|im_start|>", "[INST]", "[/INST]", "</s>", "<|eot_id|>",
                            "<|start_header_id|>", "\n### Response:"])  # fmt: skip
        m[-1]["content"] += "\n\nSee below. " + token + " More text follows."

    def empty(m: list[dict[str, str]], rng: random.Random) -> None:
        m[-1]["content"] = ""

    def role_order(m: list[dict[str, str]], rng: random.Random) -> None:
        kind = rng.choice(["swap", "system_late", "ends_user"])
        if kind == "swap":
            m[0]["role"], m[1]["role"] = "assistant", "user"
            m.append({"role": "assistant", "content": "Glad to help."})
        elif kind == "system_late":
            m.insert(1, {"role": "system", "content": "Be brief."})
        else:
            m.append({"role": "user", "content": "Thanks, one more thing."})

    def list_style(m: list[dict[str, str]], rng: random.Random) -> None:
        m[-1]["content"] += "\n\n" + "\n".join(f"{rng.choice('*+')} {s}" for s in rng.sample(SENTENCES, 2))

    def heading_style(m: list[dict[str, str]], rng: random.Random) -> None:
        m[-1]["content"] = "**Overview**\n\n" + m[-1]["content"]

    def phone(m: list[dict[str, str]], rng: random.Random) -> None:
        number = rng.choice([
            f"+49 30 {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}",
            f"({rng.randint(201, 989)}) {rng.randint(200, 999)}-{rng.randint(1000, 9999)}",
            f"+1 {rng.randint(201, 989)}-{rng.randint(200, 999)}-{rng.randint(1000, 9999)}",
            f"+44 20 {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}",
        ])  # fmt: skip
        m[-1]["content"] += f" You can reach Maria on {number} today."

    def card(m: list[dict[str, str]], rng: random.Random) -> None:
        digits = _luhn_complete("4" + "".join(rng.choice(string.digits) for _ in range(14)))
        shown = " ".join(digits[i : i + 4] for i in range(0, 16, 4)) if rng.random() < 0.5 else digits
        m[0]["content"] += f" My card is {shown}."

    def ip(m: list[dict[str, str]], rng: random.Random) -> None:
        addr = rng.choice([
            f"{rng.randint(11, 99)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
            f"2a00:1450:{rng.randint(4000, 4999)}:81b::{rng.randint(100, 999)}e",
        ])  # fmt: skip
        m[-1]["content"] += f" The customer connected from {addr} yesterday."

    def secret(m: list[dict[str, str]], rng: random.Random) -> None:
        value = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(24))
        m[-1]["content"] += f"\n\nSet api_key={value} in your environment."

    def glossary(m: list[dict[str, str]], rng: random.Random) -> None:
        options = [
            "Please login again.",
            "Send an E-mail to the team.",
            "Then log in now.",
            "Link your Github account.",
        ]
        m[-1]["content"] += " " + rng.choice(options)

    def too_long(m: list[dict[str, str]], rng: random.Random) -> None:
        while len(m[-1]["content"]) < 2400:
            m[-1]["content"] += " " + rng.choice(SENTENCES)

    def near_limit(m: list[dict[str, str]], rng: random.Random) -> None:
        used = sum(len(x["content"]) for x in m) + 4 * 4 * len(m)
        target = int(512 * 4 * 0.95)
        filler = " ".join(SENTENCES * 10)
        m[-1]["content"] += " " + filler[: max(0, target - used - 1)].rstrip()
        m[-1]["content"] = m[-1]["content"].rstrip() + "."

    return {
        "fmt.leading_whitespace": leading,
        "fmt.trailing_whitespace": trailing,
        "fmt.double_space": double_space,
        "fmt.line_endings": crlf,
        "fmt.control_char": _insert_in_word("\x07"),
        "fmt.zero_width": _insert_in_word("\u200b"),
        "fmt.mojibake": mojibake,
        "fmt.unbalanced_tag": _append("Use the <b>bold option for titles."),
        "fmt.unclosed_code_fence": _append("```python\nprint('hello')"),
        "fmt.unbalanced_brackets": _append("Open the menu (top right and pick a theme."),
        "fmt.unbalanced_quotes": _append('Type "hello in the box.'),
        "fmt.template_token": template,
        "fmt.empty_turn": empty,
        "fmt.role_order": role_order,
        "fmt.list_style": list_style,
        "fmt.heading_style": heading_style,
        "pii.email": _append("Write to anna.berg@gmail.com for a copy."),
        "pii.phone": phone,
        "pii.card": card,
        "pii.iban": lambda m, rng: m[-1].__setitem__("content", m[-1]["content"] + f" Pay to {_iban(rng)} now."),
        "pii.ip": ip,
        "pii.api_key": lambda m, rng: m[-1].__setitem__("content", m[-1]["content"] + f" Key: {_random_key(rng)}"),
        "pii.secret": secret,
        "pii.private_key": _append("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\n-----END RSA PRIVATE KEY-----"),
        "glossary.forbidden_term": glossary,
        "tokens.too_long": too_long,
        "tokens.near_limit": near_limit,
        "meta.unknown_category": lambda m, rng: None,
        "meta.unknown_style_tag": lambda m, rng: None,
    }


# Defects that must not be combined in one example (one hides or changes the other).
EXCLUSIVE = {"fmt.empty_turn", "tokens.too_long", "tokens.near_limit", "fmt.role_order", "fmt.line_endings"}


def general_corpus(n: int = 420, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    mutators = _mutators()
    codes = sorted(mutators)
    items = []
    for i in range(n):
        messages = [
            {"role": "user", "content": rng.choice(PROMPTS)},
            {"role": "assistant", "content": _assistant(rng, hard_negative=rng.random() < 0.5)},
        ]
        if rng.random() < 0.3:
            messages.insert(0, {"role": "system", "content": "You are a helpful support assistant."})
        labels: list[str] = []
        if i % 5 != 0:  # every fifth example stays clean
            first = codes[i % len(codes)]
            labels.append(first)
            if rng.random() < 0.35 and first not in EXCLUSIVE:
                second = rng.choice([c for c in codes if c not in EXCLUSIVE and c != first])
                labels.append(second)
        for code in sorted(labels, key=lambda c: c in ("fmt.heading_style", "fmt.leading_whitespace",
                                                       "fmt.trailing_whitespace", "fmt.line_endings")):  # fmt: skip
            mutators[code](messages, rng)
        example = {
            "id": f"g{i}",
            "messages": messages,
            "category": "gardening" if "meta.unknown_category" in labels else rng.choice(["account", "billing"]),
            "style_tags": ["concise", "shouting"] if "meta.unknown_style_tag" in labels else ["friendly"],
        }
        items.append({"example": example, "labels": sorted(labels), "part": "general"})
    return items


def schema_corpus(n: int = 60, seed: int = 11) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    items = []
    for i in range(n):
        value: Any = {"answer": rng.choice(SENTENCES), "confidence": round(rng.random(), 2)}
        labels: list[str] = []
        kind = i % 3
        if kind == 1:
            labels = ["schema.invalid_json"]
            text = rng.choice([json.dumps(value)[:-1], json.dumps(value)[:-1] + ",}", value["answer"]])
        else:
            if kind == 2:
                labels = ["schema.mismatch"]
                broken = rng.choice(["missing", "range", "extra", "type"])
                if broken == "missing":
                    del value["confidence"]
                elif broken == "range":
                    value["confidence"] = 1.5
                elif broken == "extra":
                    value["mood"] = "happy"
                else:
                    value["answer"] = 42
            text = json.dumps(value, indent=rng.choice([None, 2]))
            if rng.random() < 0.4:
                text = f"```json\n{text}\n```"
        example = {"id": f"s{i}", "messages": [{"role": "user", "content": rng.choice(PROMPTS)},
                                               {"role": "assistant", "content": text}]}  # fmt: skip
        items.append({"example": example, "labels": labels, "part": "schema"})
    return items


def facts_corpus(n: int = 90, seed: int = 13) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    pools = {"fact.supported": SUPPORTED, "fact.contradicted": CONTRADICTED, "fact.unsupported": UNSUPPORTED}
    kinds = sorted(pools)
    items = []
    for i in range(n):
        chosen = [kinds[i % 3]]
        if rng.random() < 0.4:
            chosen.append(rng.choice(kinds))
        claims = [rng.choice(pools[k]) for k in chosen]
        text = "Thanks for asking! " + " ".join(claims)
        example = {"id": f"f{i}", "messages": [{"role": "user", "content": "Tell me about Nimbus Books."},
                                               {"role": "assistant", "content": text}]}  # fmt: skip
        items.append({"example": example, "labels": sorted(set(chosen)), "part": "facts"})
    return items


def build_corpus() -> list[dict[str, Any]]:
    return general_corpus() + schema_corpus() + facts_corpus()


if __name__ == "__main__":
    for item in build_corpus():
        print(json.dumps(item, ensure_ascii=False))
