"""PII and secrets: e-mail, phone, payment card (Luhn), IBAN (mod-97), IP, API keys, secrets, private keys.

Credentials (vendor key shapes, webhook URLs, JWTs, assigned high-entropy values) come from
`validators.secrets`.

Each candidate regex is guarded by a cheap substring test, and numeric candidates are validated
(checksums, ranges, date and version shapes) to keep false positives low.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

from validators.base import MAX_PER_CODE, Check
from validators.findings import Finding, Location
from validators.inputs import ExampleInput, ProjectSpec
from validators.registry import make_finding
from validators.secrets import entropy, find_credentials

EMAIL_RE = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})\b"
)
PLACEHOLDER_DOMAINS = ("example.com", "example.org", "example.net", "example", "test", "invalid", "localhost")
# A run of digits with separators: phone and card candidates.
NUMBER_RUN_RE = re.compile(r"(?<![\w.+/-])(\+?\(?\d[\d \-.()/]{5,24}\d)(?![\w/]|[.-]\d)")
DATE_RE = re.compile(r"^(?:\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4})$")
TIME_RANGE_RE = re.compile(r"^\d{1,2}[.:]\d{2}\s*-\s*\d{1,2}[.:]\d{2}$")
DIGIT_RE = re.compile(r"\d")
NON_DIGIT_RE = re.compile(r"\D")
NON_DIGIT_BYTES = bytes(b for b in range(256) if not 48 <= b <= 57)
IBAN_HINT_RE = re.compile(r"[A-Z]{2}\d{2}")
IBAN_RE = re.compile(r"\b([A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?)\b")
IPV4_RE = re.compile(r"(?<![\w.])(\d{1,3}(?:\.\d{1,3}){3})(?![\w]|\.\d)")
IPV6_RE = re.compile(r"(?<![\w:.])((?:[0-9A-Fa-f]{1,4}|:)?:(?:[0-9A-Fa-f]{0,4}:){1,7}[0-9A-Fa-f]{0,4})(?![\w:])")
VERSION_PREFIX_RE = re.compile(r"\b(?:v|version|release|build|ver\.?)\s*$", re.IGNORECASE)
PRIVATE_KEY_RE = re.compile(
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----(?:.*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----)?",
    re.DOTALL,
)
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "EE": 20,
    "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GR": 27, "HR": 21, "HU": 28, "IE": 22, "IS": 26, "IT": 27, "LI": 21,
    "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MT": 31, "NL": 18, "NO": 15, "PL": 28, "PT": 25, "RO": 24, "SA": 24,
    "SE": 24, "SI": 19, "SK": 24, "TR": 26,
}  # fmt: skip
DOC_NETWORKS = tuple(
    ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
)
REDACT = {
    "pii.email": "[EMAIL]", "pii.phone": "[PHONE]", "pii.card": "[CARD]", "pii.iban": "[IBAN]", "pii.ip": "[IP]",
    "pii.api_key": "[API_KEY]", "pii.secret": "[SECRET]", "pii.private_key": "[PRIVATE_KEY]",
}  # fmt: skip


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def iban_ok(iban: str) -> bool:
    iban = iban.replace(" ", "")
    expected = IBAN_LENGTHS.get(iban[:2])
    if expected is not None and len(iban) != expected:
        return False
    if not 15 <= len(iban) <= 34:
        return False
    rearranged = iban[4:] + iban[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


__all__ = ["PiiCheck", "entropy", "iban_ok", "luhn_ok"]


class PiiCheck(Check):
    name = "pii"
    codes = tuple(REDACT)

    def check(self, example: ExampleInput, spec: ProjectSpec) -> list[Finding]:
        out: list[Finding] = []
        for index, message in enumerate(example.messages):
            text = message.content
            if text:
                self.scan(index, text, out)
        return out

    def scan(self, index: int, text: str, out: list[Finding]) -> None:
        taken: list[tuple[int, int]] = []
        counts: dict[str, int] = {}  # a plain dict: a Counter per message costs more than the scan of most

        def add(code: str, start: int, end: int, what: str, **evidence: object) -> None:
            if counts.get(code, 0) >= MAX_PER_CODE or any(s < end and start < e for s, e in taken):
                return
            counts[code] = counts.get(code, 0) + 1
            taken.append((start, end))
            location = Location(index, start, end)
            found = {"text": text[start:end], **evidence}
            out.append(make_finding(code, f"{what}: redact it.", location, REDACT[code], found))

        if "PRIVATE KEY" in text:
            for m in PRIVATE_KEY_RE.finditer(text):
                add("pii.private_key", m.start(), m.end(), "Private key block")
        for found in find_credentials(text):
            if found.code == "pii.api_key":
                add(found.code, found.start, found.end, f"API key ({found.label})", kind=found.kind)
            else:
                add(found.code, found.start, found.end, "Secret value")
        if "@" in text:
            for m in EMAIL_RE.finditer(text):
                domain = m.group(1).lower()
                if domain in PLACEHOLDER_DOMAINS or domain.endswith(tuple("." + d for d in PLACEHOLDER_DOMAINS)):
                    continue
                add("pii.email", m.start(), m.end(), "E-mail address")
        # ASCII text (most): its digits counted in one pass, which also settles the checks that need 7 or more.
        digits = len(text.encode("ascii").translate(None, NON_DIGIT_BYTES)) if text.isascii() else None
        if digits == 0 or (digits is None and not DIGIT_RE.search(text)):
            return
        if IBAN_HINT_RE.search(text):
            for m in IBAN_RE.finditer(text):
                if iban_ok(m.group(1)):
                    add("pii.iban", m.start(1), m.end(1), "IBAN")
                else:
                    taken.append(m.span(1))  # IBAN-shaped: its digit groups are not a phone number
        if text.count(".") >= 3:
            for m in IPV4_RE.finditer(text):
                self._ipv4(text, m, add)
        if text.count(":") >= 2:
            for m in IPV6_RE.finditer(text):
                candidate = m.group(1)
                if candidate.count(":") < 2 or not any(c.isalnum() for c in candidate):
                    continue
                try:
                    addr = ipaddress.IPv6Address(candidate)
                except ValueError:
                    continue
                if addr.is_loopback or addr.is_unspecified or any(addr in net for net in DOC_NETWORKS):
                    continue
                add("pii.ip", m.start(1), m.end(1), "IPv6 address", version=6)
        if digits is not None and digits < 7:
            return  # phone and card numbers need 7 digits or more (`_number`): no run here can be one
        for m in NUMBER_RUN_RE.finditer(text):
            self._number(text, m, add)

    @staticmethod
    def _ipv4(text: str, m: re.Match[str], add: Callable[..., None]) -> None:
        candidate = m.group(1)
        parts = candidate.split(".")
        if any(len(p) > 1 and p[0] == "0" for p in parts) or any(int(p) > 255 for p in parts):
            return
        if VERSION_PREFIX_RE.search(text[max(0, m.start() - 12) : m.start()]):
            return
        addr = ipaddress.IPv4Address(candidate)
        if addr.is_loopback or addr.is_unspecified or addr.is_multicast or any(addr in n for n in DOC_NETWORKS):
            return
        if candidate.startswith("255.") or candidate.endswith(".255"):
            return  # netmasks and broadcast addresses
        add("pii.ip", m.start(1), m.end(1), "IP address", version=4)

    @staticmethod
    def _number(text: str, m: re.Match[str], add: Callable[..., None]) -> None:
        raw = m.group(1)
        start, end = m.start(1), m.end(1)
        # Trim a lone trailing ")" or leading "(" that belongs to the prose.
        if raw.count("(") != raw.count(")"):
            if raw.startswith("(") and ")" not in raw:
                raw, start = raw[1:], start + 1
            elif raw.endswith(")") and "(" not in raw:
                raw, end = raw[:-1], end - 1
        digits = NON_DIGIT_RE.sub("", raw)
        n = len(digits)
        if not 7 <= n <= 19 or (n <= 12 and raw.isdigit()):
            return  # too short for a phone number, too long for a card; a bare run of digits is a card or nothing
        stripped = raw.strip()
        if DATE_RE.match(stripped) or TIME_RANGE_RE.match(stripped):
            return
        if (
            "." in stripped
            and "+" not in stripped
            and stripped.count(".") >= 2
            and " " not in stripped
            and "-" not in stripped
        ):
            return  # dotted runs are versions or IPs, handled elsewhere  # fmt: skip
        if 13 <= n <= 19 and digits[0] in "23456" and luhn_ok(digits):
            groups = re.split(r"[ -]", stripped)
            if len(groups) == 1 or all(len(g) >= 4 for g in groups[:-1]):
                add("pii.card", start, end, "Payment card number")
                return
        if not 7 <= n <= 15:
            return
        separators = sum(1 for ch in stripped if ch in " -.()/")
        if stripped.startswith("+"):
            if n >= 8:
                add("pii.phone", start, end, "Phone number")
            return
        if "/" in stripped or separators == 0 or n < 10:
            return  # plain digit runs are order numbers; short ones are too ambiguous
        groups = [g for g in re.split(r"[ \-.()]+", stripped) if g]
        if len(groups) < 2 or any(len(g) > 5 for g in groups) or len(groups) > 6:
            return
        context = text[max(0, start - 30) : start].lower()
        if re.search(r"\b(?:order|invoice|ticket|case|ref|reference|tracking|account|id|no\.?|#)\s*:?\s*$", context):
            return
        add("pii.phone", start, end, "Phone number")
