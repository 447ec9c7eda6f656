"""Credentials with a known shape (vendor API keys, webhook URLs, JWTs) and high-entropy values assigned to a
key, token, secret or password.

`find_credentials(text)` returns spans; `validators.pii` turns them into `pii.api_key` and `pii.secret`
findings. Three things keep false positives low:

- every vendor pattern has a literal prefix (`sk_live_`, `AKIA`, `hooks.slack.com`...), checked first
  with a cheap substring test;
- the random part of a match must look random (Shannon entropy and no long runs of one character), so
  `sk_live_xxxxxxxxxxxxxxxxxxxxxxxx` and `AKIAXXXXXXXXXXXXXXXX` stay quiet;
- values marked as examples in the documentation style (`AKIAIOSFODNN7EXAMPLE`, `..._EXAMPLE_KEY`,
  `your_api_key`, `<token>`, `sk_test_...REDACTED`) and `data:` URIs (base64 images) are skipped, and the
  generic rule ignores UUIDs and plain hexadecimal hashes.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Vendor:
    kind: str  # evidence "kind": stripe, aws, github...
    label: str  # for the message: "Stripe secret key"
    pattern: re.Pattern[str]
    hints: tuple[str, ...]  # literal substrings one of which must occur (cheap pre-filter)
    body: str = "body"  # the group that must look random
    min_entropy: float = 3.0


def _v(kind: str, label: str, regex: str, hints: tuple[str, ...], min_entropy: float = 3.0) -> Vendor:
    return Vendor(kind, label, re.compile(regex), hints, "body", min_entropy)


B = r"(?![A-Za-z0-9_])"  # end of a token (no \b: keys may end in - or _)
A = r"(?<![A-Za-z0-9_])"  # start of a token
VENDORS: tuple[Vendor, ...] = (
    # payment
    _v("stripe", "Stripe secret key", A + r"(?:sk|rk)_(?:live|test)_(?P<body>[0-9A-Za-z]{24,99})" + B,
       ("sk_live_", "sk_test_", "rk_live_", "rk_test_")),
    _v("stripe_webhook", "Stripe webhook signing secret", A + r"whsec_(?P<body>[0-9A-Za-z]{32,64})" + B, ("whsec_",)),
    _v("square", "Square access token", A + r"(?:sq0atp|sq0csp)-(?P<body>[0-9A-Za-z_-]{22,43})" + B,
       ("sq0atp-", "sq0csp-")),
    _v("braintree", "Braintree / PayPal access token",
       r"access_token\$production\$[0-9a-z]{16}\$(?P<body>[0-9a-f]{32})" + B, ("access_token$production$",)),
    _v("shopify", "Shopify access token", A + r"shp(?:at|ca|pa|ss)_(?P<body>[a-fA-F0-9]{32})" + B,
       ("shpat_", "shpca_", "shppa_", "shpss_")),
    # cloud
    _v("aws", "AWS access key id", A + r"(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)(?P<body>[0-9A-Z]{16})" + B,
       ("AKIA", "ASIA", "AGPA", "AIDA", "AROA", "ANPA", "ANVA", "AIPA"), 2.8),
    _v("google", "Google API key", A + r"AIza(?P<body>[0-9A-Za-z_-]{35})" + B, ("AIza",)),
    _v("azure_storage", "Azure storage account key", r"AccountKey=(?P<body>[A-Za-z0-9+/]{86}==)", ("AccountKey=",)),
    _v("digitalocean", "DigitalOcean token", A + r"do[opr]_v1_(?P<body>[a-f0-9]{64})" + B,
       ("dop_v1_", "doo_v1_", "dor_v1_")),
    _v("huggingface", "Hugging Face token", A + r"hf_(?P<body>[A-Za-z0-9]{34,40})" + B, ("hf_",)),
    # source hosting and package registries
    _v("github", "GitHub token", A + r"(?:gh[pousr]_(?P<body>[A-Za-z0-9]{36,255}))" + B,
       ("ghp_", "gho_", "ghu_", "ghs_", "ghr_")),
    _v("github_pat", "GitHub fine-grained token", A + r"github_pat_(?P<body>[A-Za-z0-9_]{60,255})" + B,
       ("github_pat_",)),
    _v("gitlab", "GitLab token", A + r"gl(?:pat|dt|ptt|rt)-(?P<body>[A-Za-z0-9_-]{20,64})" + B,
       ("glpat-", "gldt-", "glptt-", "glrt-")),
    _v("npm", "npm token", A + r"npm_(?P<body>[A-Za-z0-9]{36})" + B, ("npm_",)),
    _v("pypi", "PyPI token", A + r"pypi-AgEIcHlwaS5vcmc(?P<body>[A-Za-z0-9_-]{50,})", ("pypi-AgEIcHlwaS5vcmc",)),
    # chat and webhooks
    _v("slack", "Slack token", A + r"xox[abposre]-(?P<body>[A-Za-z0-9-]{10,})" + B, ("xox",)),
    _v("slack_webhook", "Slack webhook URL",
       r"https://hooks\.slack\.com/(?:services|workflows)/(?P<body>T[A-Z0-9]{8,12}/[A-Z0-9]{8,12}/[A-Za-z0-9]{20,})",
       ("hooks.slack.com",)),
    _v("discord_webhook", "Discord webhook URL",
       r"https://(?:canary\.|ptb\.)?discord(?:app)?\.com/api/webhooks/\d{17,20}/(?P<body>[A-Za-z0-9_-]{60,68})",
       ("/api/webhooks/",)),
    _v("teams_webhook", "Microsoft Teams webhook URL",
       r"https://[a-z0-9-]+\.webhook\.office\.com/webhookb2/(?P<body>[0-9a-f-]{36}@[0-9a-f-]{36}/IncomingWebhook/"
       r"[0-9a-f]{32}/[0-9a-f-]{36})", ("webhook.office.com",)),
    _v("telegram", "Telegram bot token", A + r"\d{8,10}:(?P<body>AA[0-9A-Za-z_-]{33})" + B, (":AA",)),
    _v("twilio", "Twilio API key", A + r"SK(?P<body>[0-9a-f]{32})" + B, ("SK",)),
    _v("sendgrid", "SendGrid API key", A + r"SG\.(?P<body>[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43})" + B, ("SG.",)),
    _v("mailgun", "Mailgun API key", A + r"key-(?P<body>[0-9a-f]{32})" + B, ("key-",)),
    # AI providers
    _v("anthropic", "Anthropic API key", A + r"sk-ant-(?:api|admin)\d\d-(?P<body>[A-Za-z0-9_-]{40,})", ("sk-ant-",)),
    _v("openai", "OpenAI-style API key",
       r"(?<![\w-])sk-(?:proj-|svcacct-|admin-|live-|test-)?(?P<body>[A-Za-z0-9_-]{20,})", ("sk-",)),
    # tokens
    _v("jwt", "JSON Web Token",
       A + r"eyJ[A-Za-z0-9_-]{8,}\.eyJ(?P<body>[A-Za-z0-9_-]{8,})\.[A-Za-z0-9_-]{16,}" + B, ("eyJ",), 3.5),
)  # fmt: skip

# Values marked as examples in the documentation style, or placeholders.
EXAMPLE_MARKERS = ("example", "xxxx", "your", "placeholder", "changeme", "redacted", "dummy", "sample",
                   "fake", "*****", "<", ">", "...", "\u2026", "0000000", "1234567890abcdef")  # fmt: skip
DATA_URI_RE = re.compile(r"data:[\w.+-]+/[\w.+-]+(?:;[\w-]+=[\w.-]+)*;base64,[A-Za-z0-9+/=\s]+")
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
HEX_HASH_LENGTHS = frozenset({32, 40, 56, 64, 96, 128})
GENERIC_RE = re.compile(
    r"(?i)(?<![A-Za-z0-9])(?:[A-Za-z0-9]+[_-])*(?:api[_-]?key|apikey|secret(?:[_-]?key)?|access[_-]?key|"
    r"auth[_-]?token|access[_-]?token|refresh[_-]?token|token|password|passwd|pwd|client[_-]?secret|"
    r"private[_-]?key|credentials?)(?![A-Za-z0-9])[\"']?\s*(?::=|=>|[:=])\s*[\"'`]?"
    r"(?P<value>[A-Za-z0-9_\-+/=.~!@#$%^&*]{12,})"
)
BEARER_RE = re.compile(r"(?i)\b(?:authorization\s*:\s*)?bearer\s+(?P<value>[A-Za-z0-9_\-.~+/]{20,}=*)")
GENERIC_HINTS = ("key", "token", "secret", "password", "passwd", "pwd", "credential", "bearer", "KEY", "TOKEN",
                 "SECRET", "PASSWORD", "Key", "Token", "Secret", "Password", "Bearer")  # fmt: skip


def _trie_pattern(words: list[str]) -> str:
    """A regex matching any of `words`, as a trie (s(?:k_|q0)...): the regex engine then compares a few
    characters per position instead of trying every word in turn."""
    trie: dict[str, dict] = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict[str, dict]) -> str:
        if "" in node:
            return ""  # a shorter word ends here: finding it is enough
        branches = [re.escape(ch) + build(child) for ch, child in sorted(node.items())]
        return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"

    return build(trie)


# Every hint of every rule in one search: most texts hold none, and then no rule can match (each needs
# one of its hints), so the per-rule loop is skipped. Same findings, a fraction of the time.
ANY_HINT_RE = re.compile(_trie_pattern(sorted({h for v in VENDORS for h in v.hints} | set(GENERIC_HINTS))))


def entropy(value: str) -> float:
    """Shannon entropy in bits per character."""
    counts = Counter(value)
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in counts.values()) if n else 0.0


def _longest_run(value: str) -> int:
    best = run = 0
    previous = ""
    for ch in value:
        run = run + 1 if ch == previous else 1
        previous = ch
        best = max(best, run)
    return best


def is_marked_example(value: str) -> bool:
    """Documentation-style example or placeholder: AKIAIOSFODNN7EXAMPLE, your_api_key, <token>, sk_live_xxxx..."""
    lowered = value.lower()
    return any(marker in lowered for marker in EXAMPLE_MARKERS)


def looks_random(value: str, min_entropy: float = 3.0) -> bool:
    """High entropy and no long run of one character: not a word, not a placeholder."""
    return len(value) >= 8 and entropy(value) >= min_entropy and _longest_run(value) < 6


def looks_like_secret_value(value: str) -> bool:
    """For the generic rule: long, random, mixed character classes, and not a UUID, hash or placeholder."""
    if len(value) < 12 or not looks_random(value, 3.3) or is_marked_example(value):
        return False
    if UUID_RE.match(value):
        return False
    if len(value) in HEX_HASH_LENGTHS and all(c in "0123456789abcdefABCDEF" for c in value):
        return False  # a digest (md5, sha1, sha256...) is no credential
    if re.fullmatch(r"[\d.:/_-]+", value) or "/" in value.strip("/") and value.count("/") >= 2:
        return False  # numbers, versions, paths and URLs
    classes = sum((any(c.islower() for c in value), any(c.isupper() for c in value), any(c.isdigit() for c in value)))
    return classes >= 2


@dataclass(frozen=True, slots=True)
class Credential:
    start: int
    end: int
    code: str  # pii.api_key (vendor shape) or pii.secret (assigned value)
    kind: str
    label: str


def _skipped_spans(text: str) -> list[tuple[int, int]]:
    if "base64," not in text:
        return []
    return [m.span() for m in DATA_URI_RE.finditer(text)]


def find_credentials(text: str) -> list[Credential]:
    """Every credential in `text`, vendor shapes first, then assigned high-entropy values; no overlaps."""
    out: list[Credential] = []
    if not ANY_HINT_RE.search(text):
        return out
    skipped = _skipped_spans(text)

    def free(start: int, end: int) -> bool:
        return not any(s < end and start < e for s, e in skipped) and not any(
            c.start < end and start < c.end for c in out
        )

    for vendor in VENDORS:
        if not any(hint in text for hint in vendor.hints):
            continue
        for m in vendor.pattern.finditer(text):
            body = m.group(vendor.body)
            if is_marked_example(m.group()) or not looks_random(body, vendor.min_entropy):
                continue
            if free(m.start(), m.end()):
                out.append(Credential(m.start(), m.end(), "pii.api_key", vendor.kind, vendor.label))
    if any(hint in text for hint in GENERIC_HINTS) and ("=" in text or ":" in text or "earer" in text):
        for regex in (GENERIC_RE, BEARER_RE):
            for m in regex.finditer(text):
                value = m.group("value").rstrip(".,;)")
                start = m.start("value")
                end = start + len(value)
                if looks_like_secret_value(value) and free(start, end):
                    out.append(Credential(start, end, "pii.secret", "assigned", "Secret value"))
    out.sort(key=lambda c: c.start)
    return out
