"""Every check code with its default severity, a title and a description (for the help page)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from validators.findings import Finding, Location, Policy, Severity

FixKind = Literal["safe", "explicit"]


@dataclass(frozen=True, slots=True)
class CheckInfo:
    """Registry entry. `check` names the check (``validate_example(checks=...)`` takes these names).

    `fix` is ``"safe"`` when `apply_fixes` repairs it without changing meaning (offered as one click,
    applied by ``apply_fixes(example)``), ``"explicit"`` when a fix exists but must be asked for by code
    (redaction, glossary replacement, template-token removal), None when a person has to fix it.
    `scope` is ``"example"`` or ``"dataset"``.
    """

    code: str
    severity: Severity
    title: str
    description: str
    check: str
    scope: str = "example"
    fix: FixKind | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity.value,
            "title": self.title,
            "description": self.description,
            "check": self.check,
            "scope": self.scope,
            "fix": self.fix,
        }


ERR, WARN, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO

_ENTRIES: list[CheckInfo] = [
    # -- formatting -----------------------------------------------------------------------------
    CheckInfo(
        "fmt.empty_turn",
        ERR,
        "Empty turn",
        "A message has no text. Empty turns train the model to answer with nothing.",
        "formatting",
    ),
    CheckInfo(
        "fmt.role_order",
        ERR,
        "Wrong role order",
        "A system message may only come first; then user and "
        "assistant turns alternate, starting with the user and ending with the assistant.",
        "formatting",
    ),
    CheckInfo(
        "fmt.template_token",
        ERR,
        "Leaked template token",
        "Chat-template control text such as "
        "<|im_end|>, [INST] or ### Response: inside a message teaches the model to emit it.",
        "formatting",
        fix="explicit",
    ),
    CheckInfo(
        "fmt.leading_whitespace",
        WARN,
        "Leading whitespace",
        "The message starts with spaces or blank lines.",
        "formatting",
        fix="safe",
    ),
    CheckInfo(
        "fmt.trailing_whitespace",
        WARN,
        "Trailing whitespace",
        "The message ends with spaces or blank lines.",
        "formatting",
        fix="safe",
    ),
    CheckInfo(
        "fmt.double_space",
        INFO,
        "Doubled spaces",
        "Two or more spaces between words (outside code).",
        "formatting",
        fix="safe",
    ),
    CheckInfo(
        "fmt.line_endings",
        WARN,
        "Windows or mixed line endings",
        "The message uses \\r\\n or bare \\r line endings; the dataset uses \\n.",
        "formatting",
        fix="safe",
    ),
    CheckInfo(
        "fmt.control_char",
        WARN,
        "Control character",
        "An invisible control character (other than tab and newline) is in the text.",
        "formatting",
        fix="safe",
    ),
    CheckInfo(
        "fmt.zero_width",
        WARN,
        "Zero-width character",
        "A zero-width space, joiner, word joiner, soft hyphen or byte-order mark hides in the text.",
        "formatting",
        fix="safe",
    ),
    CheckInfo(
        "fmt.mojibake",
        WARN,
        "Broken encoding (mojibake)",
        "Text decoded with the wrong encoding (e.g. 'cafÃ©' for 'café'); repaired with ftfy.",
        "formatting",
        fix="safe",
    ),
    CheckInfo(
        "fmt.unbalanced_tag",
        WARN,
        "Unbalanced markup tag",
        "An HTML/XML tag is opened but not closed, or closed without being opened (code is ignored).",
        "formatting",
    ),
    CheckInfo(
        "fmt.unclosed_code_fence",
        ERR,
        "Unclosed code fence",
        "A ``` or ~~~ code fence is never closed; the rest of the answer renders as code.",
        "formatting",
    ),
    CheckInfo(
        "fmt.unbalanced_brackets",
        WARN,
        "Unbalanced brackets",
        "A (, [ or { has no partner (code, list markers like '1)' and emoticons are ignored).",
        "formatting",
    ),
    CheckInfo(
        "fmt.unbalanced_quotes",
        INFO,
        "Unbalanced quotes",
        "An odd number of double quotes, or curly quotes that do not pair up (code is ignored).",
        "formatting",
    ),
    CheckInfo(
        "fmt.list_style",
        INFO,
        "List style differs",
        "Bullet markers differ from the project's majority (or are mixed within the message).",
        "formatting",
    ),
    CheckInfo(
        "fmt.heading_style",
        INFO,
        "Heading style differs",
        "Headings use a different style (# / underline / bold line) than the project's majority.",
        "formatting",
    ),
    # -- metadata ------------------------------------------------------------------------------
    CheckInfo(
        "meta.unknown_category",
        WARN,
        "Unknown category",
        "The category is not one of the project's categories.",
        "metadata",
    ),
    CheckInfo(
        "meta.unknown_style_tag", INFO, "Unknown style tag", "A style tag is not declared by the project.", "metadata"
    ),
    # -- token budget --------------------------------------------------------------------------
    CheckInfo(
        "tokens.too_long",
        ERR,
        "Longer than the token budget",
        "The conversation is longer than the maximum training length: truncation would silently cut the answer.",
        "tokens",
    ),
    CheckInfo(
        "tokens.near_limit",
        WARN,
        "Close to the token budget",
        "The conversation uses more than 90% of the maximum training length.",
        "tokens",
    ),
    # -- response schema -----------------------------------------------------------------------
    CheckInfo(
        "schema.invalid_json",
        ERR,
        "Response is not JSON",
        "The project expects JSON answers; this assistant reply does not parse (a ```json fenced block is accepted).",
        "schema",
    ),
    CheckInfo(
        "schema.mismatch",
        ERR,
        "Response does not match the schema",
        "The JSON answer does not validate against the project's JSON Schema.",
        "schema",
    ),
    # -- PII and secrets -----------------------------------------------------------------------
    CheckInfo(
        "pii.email",
        WARN,
        "E-mail address",
        "A real-looking e-mail address (example.com and similar documentation domains are allowed).",
        "pii",
        fix="explicit",
    ),
    CheckInfo(
        "pii.phone",
        WARN,
        "Phone number",
        "A phone number (dates, versions and plain order numbers are not counted).",
        "pii",
        fix="explicit",
    ),
    CheckInfo(
        "pii.card",
        ERR,
        "Payment card number",
        "A 13-19 digit number that passes the Luhn check.",
        "pii",
        fix="explicit",
    ),
    CheckInfo(
        "pii.iban", ERR, "IBAN", "A bank account number (IBAN) with a valid mod-97 checksum.", "pii", fix="explicit"
    ),
    CheckInfo(
        "pii.ip",
        WARN,
        "IP address",
        "A valid IPv4 or IPv6 address (loopback and documentation ranges are allowed).",
        "pii",
        fix="explicit",
    ),
    CheckInfo(
        "pii.api_key",
        ERR,
        "API key",
        "A credential with a known shape (validators/secrets.py): payment (Stripe sk_live_/whsec_, Square, Shopify, "
        "Braintree), cloud (AWS AKIA..., Google AIza..., Azure, DigitalOcean, Hugging Face), source hosting and "
        "registries (GitHub, GitLab, npm, PyPI), chat webhooks (Slack, Discord, Teams, Telegram), mail (SendGrid, "
        "Mailgun, Twilio), AI providers (OpenAI, Anthropic) and JWTs. Documentation examples (...EXAMPLE) and "
        "low-entropy placeholders stay quiet.",
        "pii",
        fix="explicit",
    ),
    CheckInfo(
        "pii.secret",
        ERR,
        "Secret value",
        "A high-entropy value assigned to a key, token, secret or password, or sent as a Bearer token (UUIDs and "
        "hex digests excepted).",
        "pii",
        fix="explicit",
    ),
    CheckInfo("pii.private_key", ERR, "Private key block", "A PEM private key block.", "pii", fix="explicit"),
    # -- glossary ------------------------------------------------------------------------------
    CheckInfo(
        "glossary.forbidden_term",
        WARN,
        "Forbidden term",
        "A variant the project's glossary replaces by a preferred term.",
        "glossary",
        fix="explicit",
    ),
    # -- house style (the rules a project states) -----------------------------------------------
    CheckInfo(
        "style.opening",
        WARN,
        "Answer does not start with the house opening",
        "The project asks every assistant answer to start with the same text (its house style); this one does not.",
        "house_style",
    ),
    CheckInfo(
        "style.signoff",
        WARN,
        "Answer does not end with the house sign-off",
        "The project asks every assistant answer to end with the same sign-off; this one does not "
        "(trailing spaces are ignored).",
        "house_style",
    ),
    CheckInfo(
        "style.length",
        WARN,
        "Answer longer than the house limit",
        "The assistant answer has more words than the project's maximum per answer.",
        "house_style",
    ),
    # -- fact check ----------------------------------------------------------------------------
    CheckInfo(
        "fact.contradicted",
        ERR,
        "Claim contradicts the knowledge base",
        "A number, date, unit, name or negation in the claim differs from the best matching reference passage.",
        "facts",
    ),
    CheckInfo(
        "fact.unsupported",
        WARN,
        "Claim not found in the knowledge base",
        "No reference passage supports this claim.",
        "facts",
    ),
    CheckInfo("fact.supported", INFO, "Claim supported", "A reference passage supports this claim.", "facts"),
    CheckInfo(
        "fact.verified",
        INFO,
        "Claim verified by a reviewer",
        "A reviewer verified this claim against a source.",
        "facts",
    ),
    # -- dataset level -------------------------------------------------------------------------
    CheckInfo(
        "ds.category_imbalance",
        WARN,
        "Category share off target",
        "A category's share differs from its target share by more than the tolerance.",
        "balance",
        scope="dataset",
    ),
    CheckInfo(
        "ds.category_dominant",
        WARN,
        "One category dominates",
        "One category holds more than half of the examples (and more than its target).",
        "balance",
        scope="dataset",
    ),
    CheckInfo(
        "ds.general_share",
        WARN,
        "General vs domain share off",
        "The general category's share is off its target (or, with no target, above half or zero).",
        "balance",
        scope="dataset",
    ),
    CheckInfo(
        "ds.length_outlier",
        INFO,
        "Length outlier",
        "A prompt or response is unusually long or short (robust z-score over median and MAD).",
        "lengths",
        scope="dataset",
    ),
    CheckInfo(
        "ds.annotator_dominance",
        WARN,
        "One annotator dominates",
        "One author wrote more than half of the examples: the adapter will learn one person's style.",
        "annotators",
        scope="dataset",
    ),
    CheckInfo(
        "ds.style_tag_coverage",
        INFO,
        "Style tag rarely used",
        "A declared style tag is used by too few examples.",
        "style",
        scope="dataset",
    ),
    CheckInfo(
        "ds.exact_duplicate",
        WARN,
        "Exact duplicates",
        "Examples with the same normalised content.",
        "duplicates",
        scope="dataset",
    ),
    CheckInfo(
        "ds.near_duplicate",
        WARN,
        "Near duplicates",
        "Examples whose word shingles overlap above the Jaccard threshold (MinHash LSH, verified exactly).",
        "duplicates",
        scope="dataset",
    ),
    CheckInfo(
        "ds.leakage",
        ERR,
        "Train/validation leakage",
        "The same (or a nearly identical) conversation or prompt is in both the training and the validation split.",
        "duplicates",
        scope="dataset",
    ),
    CheckInfo(
        "ds.low_diversity",
        WARN,
        "Low diversity",
        "Few distinct words or word pairs, or one prompt cluster holds a large part of the prompts.",
        "diversity",
        scope="dataset",
    ),
]

REGISTRY: Mapping[str, CheckInfo] = MappingProxyType({entry.code: entry for entry in _ENTRIES})
"""Every code, read-only. ``REGISTRY["pii.email"].severity`` is the default severity."""


def make_finding(
    code: str,
    message: str,
    location: Location | None = None,
    suggestion: str | None = None,
    evidence: dict[str, Any] | None = None,
) -> Finding:
    """A finding with the registry's default severity (policies re-grade later)."""
    return Finding(code, REGISTRY[code].severity, message, location, suggestion, evidence or {})


def check_title(code: str) -> str:
    """What a person reads for a check code: the registry's title ("Empty turn" for ``fmt.empty_turn``);
    an unknown code in words ("style tag coverage" for ``x.style_tag_coverage``). Codes stay in the API
    and in tooltips, never as the only name on screen."""
    entry = REGISTRY.get(code)
    if entry is not None:
        return entry.title
    return code.rpartition(".")[2].replace("_", " ").strip() or code


def help_entries() -> list[dict[str, Any]]:
    """Registry as plain dicts, grouped by check then code: what a help page lists."""
    return [entry.to_dict() for entry in sorted(_ENTRIES, key=lambda e: (e.scope, e.check, e.code))]


def parse_policy(data: Mapping[str, Any] | None) -> Policy:
    """A policy typed by a user: every code must name a check (patterns such as ``pii.*`` must match one)."""
    return Policy.from_dict(data, known_codes=REGISTRY.keys())
