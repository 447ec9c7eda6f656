"""A second labelled corpus, written apart from the checks and from `corpus.py`: another product (a city
bike-sharing service), other templates and phrasing. Three parts:

- `secrets_corpus()`: credentials of 20+ vendor formats in varied sentences (positives, built in code from a
  seeded RNG: obviously fake, never real keys) and look-alikes that must stay quiet (UUIDs, hashes, base64
  images, documentation examples, placeholders, low-entropy dummies);
- `claims_corpus()`: clean responses supported by the knowledge base, with the greetings, hedges and closings
  real answers have, plus contradicted and unsupported claims in new wording;
- `general_corpus_b()`: PII and formatting defects planted in the new texts.

Each item is ``{"example": {...}, "labels": [codes], "part": ...}`` as in corpus.py.
"""

from __future__ import annotations

import base64
import hashlib
import random
import string
import uuid
from collections.abc import Callable
from typing import Any

from validators import KnowledgeBase, ProjectSpec

ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
UPPER_DIGITS = string.ascii_uppercase + string.digits


def _rand(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _b64url(rng: random.Random, n: int) -> str:
    return _rand(rng, ALNUM + "-_", n)


# name -> builder of a fake credential of that vendor's shape
VENDOR_BUILDERS: dict[str, Callable[[random.Random], str]] = {
    "stripe_live": lambda r: "sk_" + "live_" + _rand(r, ALNUM, 24),
    "stripe_restricted": lambda r: "rk_" + "live_" + _rand(r, ALNUM, 32),
    "stripe_test": lambda r: "sk_" + "test_" + _rand(r, ALNUM, 24),
    "stripe_webhook": lambda r: "whsec_" + _rand(r, ALNUM, 32),
    "square": lambda r: "sq0atp-" + _b64url(r, 22),
    "shopify": lambda r: "shpat_" + _rand(r, HEX, 32),
    "aws": lambda r: "AKIA" + _rand(r, UPPER_DIGITS, 16),
    "google": lambda r: "AIza" + _b64url(r, 35),
    "digitalocean": lambda r: "dop_v1_" + _rand(r, HEX, 64),
    "huggingface": lambda r: "hf_" + _rand(r, ALNUM, 34),
    "github": lambda r: "ghp_" + _rand(r, ALNUM, 36),
    "github_pat": lambda r: "github_pat_" + _rand(r, ALNUM, 22) + "_" + _rand(r, ALNUM, 59),
    "gitlab": lambda r: "glpat-" + _b64url(r, 20),
    "npm": lambda r: "npm_" + _rand(r, ALNUM, 36),
    "slack_token": lambda r: "xoxb-" + _rand(r, string.digits, 12) + "-" + _rand(r, ALNUM, 24),
    "slack_webhook": lambda r: "https://hooks.slack.com/services/T" + _rand(r, UPPER_DIGITS, 8) + "/B"
    + _rand(r, UPPER_DIGITS, 8) + "/" + _rand(r, ALNUM, 24),
    "discord_webhook": lambda r: "https://discord.com/api/webhooks/" + _rand(r, string.digits, 18) + "/"
    + _b64url(r, 68),
    "telegram": lambda r: _rand(r, string.digits, 9) + ":AA" + _b64url(r, 33),
    "twilio": lambda r: "SK" + _rand(r, HEX, 32),
    "sendgrid": lambda r: "SG." + _b64url(r, 22) + "." + _b64url(r, 43),
    "mailgun": lambda r: "key-" + _rand(r, HEX, 32),
    "openai": lambda r: "sk-" + "proj-" + _b64url(r, 48),
    "anthropic": lambda r: "sk-" + "ant-api03-" + _b64url(r, 90),
    "jwt": lambda r: "eyJ" + _b64url(r, 30) + ".eyJ" + _b64url(r, 60) + "." + _b64url(r, 43),
}  # fmt: skip
GENERIC_BUILDERS: dict[str, Callable[[random.Random], str]] = {
    "env_secret": lambda r: f"PAYMENTS_SECRET={_rand(r, ALNUM, 32)}",
    "json_client_secret": lambda r: f'"client_secret": "{_rand(r, ALNUM + "-_", 40)}"',
    "yaml_token": lambda r: f"auth_token: {_rand(r, ALNUM, 28)}",
    "bearer": lambda r: f"Authorization: Bearer {_rand(r, ALNUM + '-_.', 40)}",
    "password_assignment": lambda r: f"db_password = '{_rand(r, ALNUM + '!@#', 18)}'",
}
SECRET_TEMPLATES = [
    "To connect the dock sensors, paste {key} into the integration settings.",
    "Here is the config we use in staging:\n\n```\n{key}\n```",
    "The webhook failed because {key} was revoked last night.",
    "Export it first: `export TOKEN_VALUE={key}` and then restart the worker.",
    "Your colleague shared {key} in the ticket; rotate it soon.",
    "- step 1: open the admin panel\n- step 2: enter {key}\n- step 3: save",
]
GENERIC_TEMPLATES = [
    "Put this in the .env file:\n{key}",
    "Our config.json contains {key} for the partner API.",
    "Send the request with the header {key} and it works.",
    "In settings.py we still have {key} from the old setup.",
]


def _png_data_uri(rng: random.Random) -> str:
    payload = b"\x89PNG\r\n\x1a\n" + bytes(rng.randrange(256) for _ in range(120))
    return "data:image/png;base64," + base64.b64encode(payload).decode()


NEGATIVE_BUILDERS: dict[str, Callable[[random.Random], str]] = {
    "uuid": lambda r: f"Your ride id is {uuid.UUID(int=r.getrandbits(128))}.",
    "uuid_token": lambda r: f"request_token: {uuid.UUID(int=r.getrandbits(128))}",
    "sha256": lambda r: f"The firmware checksum is sha256:{hashlib.sha256(r.randbytes(16)).hexdigest()}.",
    "md5_token_word": lambda r: f"token_hash = {hashlib.md5(r.randbytes(8)).hexdigest()}",  # noqa: S324
    "git_commit": lambda r: f"Fixed in commit {hashlib.sha1(r.randbytes(8)).hexdigest()}.",  # noqa: S324
    "png": lambda r: f"The station icon: ![icon]({_png_data_uri(r)})",
    "aws_doc": lambda r: "AWS documentation uses AKIAIOSFODNN7EXAMPLE as its sample access key id.",
    "aws_doc_secret": lambda r: "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "stripe_placeholder": lambda r: "Set STRIPE_KEY=sk_" + "live_" + "x" * 24 + " in production.",
    "stripe_your": lambda r: "Use sk_" + "live_your_key_here in the dashboard form.",
    "angle_placeholder": lambda r: "api_key=<your-api-key> goes in the header.",
    "redacted": lambda r: "The log shows token=ghp_REDACTEDREDACTEDREDACTEDREDACTED12 only.",
    "dummy_low_entropy": lambda r: "For tests we use AKIA" + "A" * 16 + " as a dummy.",
    "version": lambda r: f"Upgrade the app to version {r.randint(1, 9)}.{r.randint(0, 20)}.{r.randint(0, 99)}.",
    "skill_word": lambda r: "Riders ask about sk-style and sk-8 scooters sometimes.",
    "order_number": lambda r: f"Order reference RB-{r.randint(100000, 999999)} was refunded.",
    "phone_like_key": lambda r: "The key- holder must return the fob within 24 hours.",
    "password_prose": lambda r: "Choose a password that is at least 12 characters long.",
    "token_prose": lambda r: "The token: it expires after 30 days, then sign in again.",
    "base64_plain": lambda r: "Attachment (base64): " + base64.b64encode(b"Station A-12 is closed today.").decode(),
    "css_hex": lambda r: "The brand colours are #1F6FEB and #0B1F33.",
    "hash_in_url": lambda r: f"See https://bikes.example.org/stations/{r.randint(1, 400)}?ref=app for details.",
}


def secrets_corpus(seed: int = 23) -> list[dict[str, Any]]:
    """Positives for every vendor builder (3 each) and every generic shape (3 each); negatives (4 each)."""
    rng = random.Random(seed)
    items: list[dict[str, Any]] = []

    def add(text: str, labels: list[str], name: str, i: int) -> None:
        messages = [{"role": "user", "content": "How do I set up the station integration?"},
                    {"role": "assistant", "content": text}]  # fmt: skip
        items.append({"example": {"id": f"sec-{name}-{i}", "messages": messages}, "labels": labels,
                      "part": "secrets", "name": name})  # fmt: skip

    for name, build in VENDOR_BUILDERS.items():
        for i in range(3):
            add(rng.choice(SECRET_TEMPLATES).format(key=build(rng)), ["pii.api_key"], name, i)
    for name, build in GENERIC_BUILDERS.items():
        for i in range(3):
            add(rng.choice(GENERIC_TEMPLATES).format(key=build(rng)), ["pii.secret"], name, i)
    for name, build in NEGATIVE_BUILDERS.items():
        for i in range(4):
            add(build(rng), [], name, i)
    return items


# --- claims -------------------------------------------------------------------------------------------

KB_DOCUMENTS_B = {
    "pricing": "A single ride costs 2 euros for the first 30 minutes. Each extra 15 minutes costs 1 euro. "
    "The annual pass costs 60 euros and includes unlimited rides of up to 45 minutes. "
    "Students get a 50 percent discount on the annual pass.",
    "rules": "Bikes must be returned to a docking station within 24 hours. A bike kept longer than 24 hours "
    "is charged a 150 euro fee. Riders must be at least 16 years old. Helmets are recommended but not required.",
    "service": "Velora operates in Ghent and Leuven. The help desk answers calls from 8:00 to 20:00 every day. "
    "E-bikes have a range of about 60 kilometres. The app shows free docks in real time.",
}
KB_FACTS_B = ["Velora was founded in 2016.", "Lost cards are replaced for 5 euros."]
SUPPORTED_B = [
    "A single ride costs 2 euros for the first 30 minutes.",
    "Every extra 15 minutes costs 1 euro.",
    "The annual pass costs 60 euros.",
    "The annual pass includes unlimited rides of up to 45 minutes.",
    "Students get a 50 percent discount on the annual pass.",
    "Bikes must be returned to a docking station within 24 hours.",
    "If you keep a bike longer than 24 hours, a 150 euro fee is charged.",
    "Riders must be at least 16 years old.",
    "Helmets are recommended but not required.",
    "Velora operates in Ghent and Leuven.",
    "The help desk answers calls from 8:00 to 20:00 every day.",
    "E-bikes have a range of about 60 kilometres.",
    "The app shows free docks in real time.",
    "Velora was founded in 2016.",
    "Lost cards are replaced for 5 euros.",
]
CONTRADICTED_B = [
    "A single ride costs 3 euros for the first 30 minutes.",
    "The annual pass costs 90 euros.",
    "Students get a 25 percent discount on the annual pass.",
    "Bikes must be returned to a docking station within 48 hours.",
    "Riders must be at least 18 years old.",
    "Velora operates in Ghent and Antwerp.",
    "E-bikes have a range of about 90 kilometres.",
    "Velora was founded in 2019.",
    "Lost cards are replaced for 12 euros.",
    "Helmets are not recommended.",
]
UNSUPPORTED_B = [
    "Velora bikes are assembled by hand in a small workshop.",
    "The docking stations play a short tune when a bike locks.",
    "Our mechanics repaint the frames every winter.",
    "Tourists can rent tandem bikes at the central station.",
    "The company sponsors a cycling team in the spring classics.",
]
OPENERS = ["", "Good question! ", "Sure. ", "Happy to help with that. ", "Thanks for reaching out. ",
           "Here's what you need to know. ", "Hi there! ", "Of course. "]  # fmt: skip
CLOSERS = [
    "", "Let me know if anything is unclear.", "Hope this helps!", "Enjoy your ride!",
    "Feel free to ask if you have any other questions.", "I hope that answers your question.",
    "If anything is still unclear, just ask.", "Have a great day!", "Happy cycling, and take care.",
    "Don't hesitate to reach out again.", "I'm here if you need anything else.",
    "Thanks for your patience.", "Let us know how it goes.", "Sorry for the confusion earlier.",
]  # fmt: skip
USER_QUESTIONS = ["How much does Velora cost?", "What are the rules for renting a bike?",
                  "Tell me about the service.", "Can my son ride?", "What if I lose my card?"]  # fmt: skip


def claims_spec() -> ProjectSpec:
    return ProjectSpec(knowledge_base=KnowledgeBase.build(KB_DOCUMENTS_B, facts=KB_FACTS_B))


def claims_corpus(n_clean: int = 150, n_defect: int = 60, seed: int = 29) -> list[dict[str, Any]]:
    """Clean responses (1-3 supported claims, an opener and closers; label fact.supported) and responses with a
    contradicted or unsupported claim among supported ones."""
    rng = random.Random(seed)
    items: list[dict[str, Any]] = []

    def response(claims: list[str]) -> str:
        body = " ".join(claims)
        if rng.random() < 0.3 and len(claims) > 1:
            body = "\n".join(f"- {c}" for c in claims)
        closing = " ".join(rng.sample(CLOSERS, rng.choice([1, 1, 2])))
        return (rng.choice(OPENERS) + ("\n\n" if body.startswith("-") else "") + body + "\n\n" + closing).strip()

    for i in range(n_clean):
        claims = rng.sample(SUPPORTED_B, rng.randint(1, 3))
        messages = [{"role": "user", "content": rng.choice(USER_QUESTIONS)},
                    {"role": "assistant", "content": response(claims)}]  # fmt: skip
        items.append({"example": {"id": f"cb{i}", "messages": messages}, "labels": ["fact.supported"],
                      "part": "claims-clean"})  # fmt: skip
    for i in range(n_defect):
        code = "fact.contradicted" if i % 2 == 0 else "fact.unsupported"
        bad = rng.choice(CONTRADICTED_B if code == "fact.contradicted" else UNSUPPORTED_B)
        claims = rng.sample(SUPPORTED_B, rng.randint(0, 2)) + [bad]
        rng.shuffle(claims)
        labels = sorted({code} | ({"fact.supported"} if len(claims) > 1 else set()))
        messages = [{"role": "user", "content": rng.choice(USER_QUESTIONS)},
                    {"role": "assistant", "content": response(claims)}]  # fmt: skip
        items.append({"example": {"id": f"cd{i}", "messages": messages}, "labels": labels, "part": "claims-defect"})
    return items


# --- general defects in new wording -------------------------------------------------------------------

ANSWERS_B = [
    "You can end a ride at any docking station that shows a green light.",
    "The app lists nearby stations on the map, sorted by distance.",
    "When a dock is full, the app suggests the closest station with space.",
    "Your ride history lives under Profile, then Trips.",
    "E-bikes charge while they are docked, so pick one with a full battery icon.",
    "A flat tyre can be reported with the wrench button next to the dock.",
    "Group rides need one account per rider.",
    "Receipts arrive by mail a few minutes after each ride.",
]
PLANTS_B: dict[str, Callable[[random.Random], str]] = {
    "pii.email": lambda r: f"My colleague {r.choice(['jonas', 'lieve', 'omar'])}.{r.choice(['peeters', 'claes'])}"
    f"@{r.choice(['telenet.be', 'proton.me', 'outlook.com'])} handled it.",
    "pii.phone": lambda r: f"Ring the depot on +32 9 {r.randint(200, 999)} {r.randint(10, 99)} {r.randint(10, 99)}.",
    "pii.ip": lambda r: f"Their router was at {r.randint(81, 94)}.{r.randint(1, 254)}.{r.randint(1, 254)}."
    f"{r.randint(2, 250)} during the outage.",
    "pii.api_key": lambda r: "The old integration still sends " + VENDOR_BUILDERS[
        r.choice(sorted(VENDOR_BUILDERS))](r) + " with each call.",
    "fmt.double_space": lambda r: "Tap the bike  icon to unlock it.",
    "fmt.unbalanced_brackets": lambda r: "Tap Unlock (bottom of the screen to start.",
    "fmt.template_token": lambda r: "Done. <|eot_id|> Anything else?",
    "fmt.zero_width": lambda r: "Scan the QR\u200bcode on the frame.",
}  # fmt: skip
HARD_NEGATIVES_B = [
    "Station 12 reopened on 2024-06-01 after repairs.",
    "Call 112 in an emergency.",
    "The app version 3.14.2 fixed the map.",
    "Ride ids look like 7f3c2a10-5b6e-4d2f-9a8b-1c2d3e4f5a6b.",
    "Write to help@example.org for invoices.",
    "Docks accept cards from 09:00-21:00.",
]


def general_corpus_b(n: int = 160, seed: int = 31) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    codes = sorted(PLANTS_B)
    items = []
    for i in range(n):
        text = " ".join(rng.sample(ANSWERS_B, rng.randint(2, 3)))
        if rng.random() < 0.4:
            text += " " + rng.choice(HARD_NEGATIVES_B)
        labels: list[str] = []
        if i % 3 != 0:
            code = codes[i % len(codes)]
            labels.append(code)
            text += " " + PLANTS_B[code](rng)
        messages = [{"role": "user", "content": "Where can I leave the bike?"}, {"role": "assistant", "content": text}]
        items.append({"example": {"id": f"gb{i}", "messages": messages}, "labels": labels, "part": "general-b"})
    return items
