from __future__ import annotations

import pytest

from tests.validators.helpers import conv, only, run
from validators import Location, ProjectSpec

PII = ["pii"]


@pytest.mark.parametrize(
    ("text", "code", "match"),
    [
        ("Mail jane.doe@gmail.com now", "pii.email", "jane.doe@gmail.com"),
        ("Call +44 20 7946 0958 today", "pii.phone", "+44 20 7946 0958"),
        ("Call (555) 234-5678 today", "pii.phone", "(555) 234-5678"),
        ("Card 4111 1111 1111 1111 ok", "pii.card", "4111 1111 1111 1111"),
        ("Card 5500005555555559.", "pii.card", "5500005555555559"),
        ("IBAN GB82 WEST 1234 5698 7654 32.", "pii.iban", "GB82 WEST 1234 5698 7654 32"),
        ("IBAN DE89370400440532013000.", "pii.iban", "DE89370400440532013000"),
        ("From 84.23.101.7 yesterday", "pii.ip", "84.23.101.7"),
        ("From 2a00:1450:4001:81b::200e yesterday", "pii.ip", "2a00:1450:4001:81b::200e"),
        ("Key AKIA" + "Q7ZK2M9XW4PLN3TR", "pii.api_key", "AKIA" + "Q7ZK2M9XW4PLN3TR"),
        ("Token ghp_abcdefghijklmnopqrstuvwxyz0123456789", "pii.api_key", "ghp_abcdefghijklmnopqrstuvwxyz0123456789"),
        ("Use sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8t now", "pii.api_key", "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8t"),
        ("Slack xoxb-123456789012-AbCdEfGhIjKl", "pii.api_key", "xoxb-123456789012-AbCdEfGhIjKl"),
        ("Set api_key=Zx8Kq2Lm9Pw4Rt7Yv3Nb here", "pii.secret", "Zx8Kq2Lm9Pw4Rt7Yv3Nb"),
        ("-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----", "pii.private_key", None),
    ],
)
def test_pii_positive(text: str, code: str, match: str | None) -> None:
    found = only(run(conv(text), checks=PII), code)
    assert len(found) == 1, run(conv(text), checks=PII)
    loc = found[0].location
    assert loc is not None
    assert loc.message == 1
    assert loc.start is not None
    assert loc.end is not None
    if match:
        assert text[loc.start : loc.end] == match
    assert (found[0].suggestion or "").startswith("[")


@pytest.mark.parametrize(
    "text",
    [
        "Write to support@example.com or test@foo.test.",
        "Released on 2024-03-15 and 15.03.2024 and 03/15/2024.",
        "Version 2.4.1.3 and v1.2.3.4 are out.",
        "Your order 1234567890 ships today.",
        "Order no. 123 456 7890 ships today.",
        "The server runs on 127.0.0.1 and ::1 locally.",
        "Docs use 192.0.2.10 and 2001:db8::1.",
        "Mask 255.255.255.0 please.",
        "Card 4111 1111 1111 1112 fails Luhn.",
        "IBAN GB00 WEST 1234 5698 7654 32 fails mod-97.",
        "A task-based flow, with risk-averse teams.",
        "Meet at 12:30:45 on 9:00-17:00 days.",
        "Set password: <your password> and token=your_token_here.",
        "Set timeout=30000000000000 seconds.",
        "Extension 4421 or 555-0100.",
        "Temperature 21.5 and 3.14159.",
    ],
)
def test_pii_negative(text: str) -> None:
    assert run(conv(text), checks=PII) == []


GLOSSARY = ProjectSpec(glossary={"sign in": ["login", "log in"], "GitHub": ["Github"], "email": ["e-mail"]})


def test_glossary_whole_word_case_insensitive_with_suggestion() -> None:
    text = "Please Login, then log in again; send an E-mail via Github."
    found = run(conv(text), GLOSSARY, ["glossary"])
    got = [(text[f.location.start : f.location.end], f.suggestion) for f in found if f.location and f.location.start
           is not None and f.location.end is not None]  # fmt: skip
    assert sorted(got) == sorted(
        [("Login", "Sign in"), ("log in", "sign in"), ("E-mail", "Email"), ("Github", "GitHub")]
    )
    assert found[0].location == Location(1, 7, 12)


def test_glossary_negative() -> None:
    assert run(conv("Sign in with GitHub; logins and blogin are other words."), GLOSSARY, ["glossary"]) == []
    assert run(conv("Fine.", user="How do I login?"), GLOSSARY, ["glossary"]) == []
    assert run(conv("Please login."), ProjectSpec(), ["glossary"]) == []
