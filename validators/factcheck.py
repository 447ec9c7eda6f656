"""Fact check against a project's knowledge base (reference documents + a fact list).

The assistant reply is split into claims (sentences). For each claim BM25 (rank-bm25) retrieves the
best passages (documents are chunked into passages of a few sentences; each fact is one passage).
Optionally sentence-embedding similarity reranks them. Each claim is reported as supported,
unsupported or contradicted (a number, unit, date, name or negation differs from the best passage),
with the passage as evidence. Claims a reviewer verified (`claim_hash` -> source) are reported as
verified.

Build the `KnowledgeBase` (validators/knowledge.py) once per project (it holds the index) and pass it in
`ProjectSpec`.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from validators.base import Check
from validators.findings import Finding, Location
from validators.formatting import MASK_CHAR, code_spans, mask
from validators.inputs import ExampleInput, ProjectSpec
from validators.knowledge import STOPWORDS, WORD_RE, KnowledgeBase, Passage, split_sentences, stem, tokenize
from validators.registry import make_finding
from validators.style import blank_house_marks

NEGATIONS = frozenset({"not", "no", "never", "none", "cannot", "without", "nor", "neither"})
CONTRACTED = frozenset({"don", "doesn", "isn", "aren", "can", "won", "didn", "wasn", "weren", "haven", "hasn"})
# Where a negation's reach ends: the end of its clause, or a word that turns to another statement.
SCOPE_TOKEN_RE = re.compile(r"[A-Za-z][A-Za-z'\-]*|\d+(?:[.,]\d+)*|[,;:()]")
SCOPE_BREAKS = frozenset({"but", "although", "though", "whereas", "while", "however", "yet", "except", "unless",
                          "because", "since", ",", ";", ":", "(", ")"})  # fmt: skip
QUANTITY_RE = re.compile(r"([$€£])?\s?(\d+(?:[.,]\d+)*)\s?(%|[A-Za-z]+)?")
MONTHS = ("january february march april may june july august september october november december").split()
MONTH_SET = frozenset(MONTHS) | frozenset(m[:3] for m in MONTHS)
WEEKDAYS = frozenset("monday tuesday wednesday thursday friday saturday sunday".split())


def _normalise_claim(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split()).rstrip(".!")


def claim_hash(text: str) -> str:
    """Stable key of a claim for `ProjectSpec.verified_claims` (case, spacing and final stop ignored)."""
    return hashlib.sha256(_normalise_claim(text).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Claim:
    message: int
    start: int
    end: int
    text: str


LIST_PREFIX_RE = re.compile(r"^(?:[-*+]|\d{1,3}[.)])\s+")
# Check-worthy: what a knowledge base can confirm or refute. Numbers and number words, money, dates,
# names (capitalised words inside the sentence), and the words policies are made of.
NUMBER_WORDS = frozenset(
    """zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen twenty thirty
    forty fifty sixty hundred thousand million billion dozen half quarter double twice once first second third
    percent""".split()
)
# Sentences that talk to the reader instead of stating facts: closings, offers, thanks, apologies.
CONVERSATIONAL_RE = re.compile(
    r"(?i)\b(?:let (?:me|us) know|feel free|(?:don't|do not) hesitate|hope (?:this|that|it|you)|i hope|"
    r"(?:happy|glad|here) to help|glad (?:i|we) could|thanks?\b|thank you|you(?:'re| are) welcome|sorry|"
    r"apologi[sz]e|good luck|have a (?:great|nice|good|lovely|wonderful)|(?:any|other|more|further) questions|"
    r"anything else|just ask|reach out|get in touch|i'm here|i am here|great question|good question|"
    r"certainly|of course|sure thing|i'd be|i would be|i can help|we're here|we are here|cheers|take care|"
    r"enjoy (?:your|the)|makes sense|if (?:anything|something|any of this|that|this) (?:is|was|isn't|doesn't|"
    r"remains|still|seems)|happy reading|all the best|best of luck|rest assured|here(?:'s| is| are) (?:what|how|the|a)|"
    r"what you need to know|in short|to sum(?:marise|marize) up|short answer|good news|that said|quick overview)"
)
FIRST_PERSON_RE = re.compile(r"^(?:I|I'm|I've|I'll|I'd|Let me|Let's)\b")


def check_worthy(sentence: str) -> bool:
    """Whether a sentence makes a claim the knowledge base can settle.

    A sentence with a number, money, a date or a name is check-worthy. Without any of them it is a claim
    unless it is conversational (a closing, an offer, thanks, the assistant speaking of itself): "Let me
    know if anything is unclear" states no fact; "Gift cards never expire" (a policy) does.
    """
    words = [w.lower().replace("'", "") for w in WORD_RE.findall(sentence)]
    if any(w[0].isdigit() for w in words) or any(ch in sentence for ch in "$€£%"):
        return True
    if any(w in NUMBER_WORDS or w in MONTH_SET or w in WEEKDAYS for w in words):
        return True
    if _entities(sentence) - MONTH_SET - WEEKDAYS:
        return True
    return not (CONVERSATIONAL_RE.search(sentence) or FIRST_PERSON_RE.match(sentence))


def extract_claims(example: ExampleInput, min_words: int = 2) -> list[Claim]:
    """Declarative sentences of assistant replies with at least `min_words` content words (code skipped)."""
    claims = []
    for index, message in enumerate(example.messages):
        if message.role != "assistant":
            continue
        text = message.content
        spans, _ = code_spans(text)
        prose = mask(text, spans) if spans else text
        for start, end in split_sentences(prose):
            if MASK_CHAR in prose[start:end]:
                continue  # code
            sentence = text[start:end]
            prefix = LIST_PREFIX_RE.match(sentence)
            if prefix:
                start += prefix.end()
                sentence = text[start:end]
            if sentence.endswith("?") or not sentence.strip():
                continue
            if len([t for t in tokenize(sentence) if not t[0].isdigit()]) < min_words:
                continue
            if not check_worthy(sentence):
                continue
            claims.append(Claim(index, start, end, sentence))
    return claims


@dataclass(frozen=True, slots=True)
class Quantity:
    value: str
    unit: str | None
    before: str | None
    text: str = ""


def quantities(text: str) -> list[Quantity]:
    out = []
    for m in QUANTITY_RE.finditer(text):
        if m.start(2) > 0 and (text[m.start(2) - 1].isalpha() or text[m.start(2) - 1] in "-_"):
            continue  # part of an identifier
        value = m.group(2).replace(",", "")
        unit = m.group(3)
        if m.group(1):
            unit = m.group(1)
        elif unit:
            unit = unit.lower()
            if unit == "percent":
                unit = "%"
            unit = stem(unit) if unit != "%" else unit
            if unit in STOPWORDS:
                unit = None
        before_words = [w for w in tokenize(text[max(0, m.start() - 40) : m.start()])][-1:]
        out.append(Quantity(value, unit, before_words[0] if before_words else None, m.group().strip()))
    return out


def _entities(text: str) -> set[str]:
    """Capitalised words that are not sentence-initial, plus month and weekday names."""
    found = set()
    for m in re.finditer(r"(?<![.!?]\s)(?<!^)(?<!\n)\b([A-Z][a-zA-Z]+)", text):
        word = m.group(1).lower()
        if word not in STOPWORDS:
            found.add(word)
    for word in re.findall(r"[A-Za-z]+", text):
        low = word.lower()
        if low in MONTH_SET or low in WEEKDAYS:
            found.add(low)
    return found


def is_negation(word: str) -> bool:
    """`word` lower-cased without apostrophes: not, never, cannot... and n't contractions (dont, isnt)."""
    return word in NEGATIONS or (word.endswith("nt") and word[:-1] in CONTRACTED)


def negated_words(sentence: str) -> set[str]:
    """Stems of the content words a negation governs: from the negation to the end of its clause.
    "Helmets are not recommended" -> {recommended}; "Helmets are recommended but not required" -> {required}."""
    out: set[str] = set()
    active = False
    for token in SCOPE_TOKEN_RE.findall(sentence):
        word = token.lower().replace("'", "")
        if word in SCOPE_BREAKS:
            active = False
        elif is_negation(word):
            active = True
        elif active and word not in STOPWORDS:
            out.add(stem(word))
    return out


def best_sentence(claim: str, passage: str) -> str:
    """The passage sentence sharing the most words with the claim."""
    words = set(tokenize(claim))
    sentences = [passage[s:e] for s, e in split_sentences(passage)]
    if len(sentences) <= 1:
        return passage
    return max(sentences, key=lambda sent: len(words & set(tokenize(sent))))


def conflicts(claim: str, passage: str) -> list[str]:
    """Ways the claim disagrees with the closest sentence of a passage (numbers, units, dates, names, negation)."""
    problems = []
    passage = best_sentence(claim, passage)
    passage_q = quantities(passage)
    passage_values = {q.value for q in passage_q}
    for q in quantities(claim):
        if q.value in passage_values:
            continue
        keys = [k for k in (q.unit, q.before) if k]
        rivals = [p for p in passage_q if (q.unit and p.unit == q.unit) or (q.before and p.before == q.before)]
        if keys and rivals:
            said, source = (q.text, rivals[0].text) if q.unit else (q.value, rivals[0].value)
            problems.append(f"says {said!r} where the source says {source!r}")
    claim_entities, passage_entities = _entities(claim), _entities(passage)
    passage_tokens = set(tokenize(passage))
    missing = {e for e in claim_entities - passage_entities if stem(e) not in passage_tokens}
    if missing:
        calendar = MONTH_SET | WEEKDAYS
        rival_names = passage_entities - claim_entities
        missing_dates = missing & calendar
        if missing_dates and rival_names & calendar:
            problems.append(f"says {', '.join(sorted(missing_dates))} where the source says "
                            f"{', '.join(sorted(rival_names & calendar))}")  # fmt: skip
        missing_names = missing - calendar
        rival_other = rival_names - calendar
        if missing_names and rival_other:
            problems.append(f"names {', '.join(sorted(missing_names))} where the source names "
                            f"{', '.join(sorted(rival_other))}")  # fmt: skip
    claim_words = {w.lower().replace("'", "") for w in WORD_RE.findall(claim)}
    passage_words = {w.lower().replace("'", "") for w in WORD_RE.findall(passage)}

    claim_negated, passage_negated = any(map(is_negation, claim_words)), any(map(is_negation, passage_words))
    if claim_negated != passage_negated:
        problems.append("negation differs from the source")
    elif claim_negated:
        # Both negate something: a conflict when a word they share is negated on one side only ("Helmets are
        # not recommended" against "Helmets are recommended but not required").
        shared = set(tokenize(claim)) & set(tokenize(passage))
        if (negated_words(claim) ^ negated_words(passage)) & shared:
            problems.append("negation differs from the source")
    return problems


@dataclass(frozen=True, slots=True)
class ClaimResult:
    claim: Claim
    status: str  # supported, unsupported, contradicted, verified
    passage: Passage | None
    coverage: float
    similarity: float | None
    conflicts: tuple[str, ...] = ()
    source: str | None = None


class FactCheck(Check):
    """Thresholds: `support` (share of claim words found in the passage), `relevant` (share needed before
    a difference counts as a contradiction), `similarity` (embedding cosine that counts as support)."""

    name = "facts"
    codes = ("fact.contradicted", "fact.unsupported", "fact.supported", "fact.verified")

    def __init__(self, *, support: float = 0.6, relevant: float = 0.5, similarity: float = 0.75, k: int = 5,
                 use_embeddings: bool = True) -> None:  # fmt: skip
        self.support = support
        self.relevant = relevant
        self.similarity = similarity
        self.k = k
        self.use_embeddings = use_embeddings

    def check(self, example: ExampleInput, spec: ProjectSpec) -> list[Finding]:
        kb = spec.knowledge_base
        if kb is None and not spec.verified_claims:
            return []
        if spec.style_rules:  # the house opening and sign-off are not claims
            example = blank_house_marks(example, spec.style_rules)
        return [self._finding(r) for r in self.assess(example, kb, spec.verified_claims)]

    def assess(self, example: ExampleInput, kb: KnowledgeBase | None,
               verified: Mapping[str, str] | None = None) -> list[ClaimResult]:  # fmt: skip
        claims = extract_claims(example)
        if not claims:
            return []
        verified = verified or {}
        vectors = None
        if kb is not None and self.use_embeddings and kb.embedder is not None and kb.vectors is not None:
            vectors = kb.embedder.encode([c.text for c in claims])
        results = []
        for i, claim in enumerate(claims):
            source = verified.get(claim_hash(claim.text)) if verified else None
            if source is not None:
                results.append(ClaimResult(claim, "verified", None, 1.0, None, (), source))
                continue
            if kb is None or not len(kb):
                continue
            results.append(self._judge(claim, kb, None if vectors is None else vectors[i]))
        return results

    def _judge(self, claim: Claim, kb: KnowledgeBase, vector: np.ndarray | None) -> ClaimResult:
        claim_tokens = [t for t in tokenize(claim.text) if not t[0].isdigit()]
        words = set(claim_tokens)
        hits = kb.search(claim.text, self.k)
        candidates = [i for i, _ in hits]
        sims: dict[int, float] = {}
        if vector is not None and kb.vectors is not None:
            all_sims = kb.vectors @ vector
            for j in np.argsort(-all_sims)[: self.k]:
                if int(j) not in candidates:
                    candidates.append(int(j))
            sims = {i: float(all_sims[i]) for i in candidates}
        scored = []
        for i in candidates:
            coverage = len(words & kb._token_sets[i]) / len(words) if words else 0.0
            scored.append((max(coverage, sims.get(i, 0.0)), coverage, i))
        if not scored:
            return ClaimResult(claim, "unsupported", None, 0.0, None)
        scored.sort(key=lambda s: (-s[0], s[2]))
        best: tuple[float, float, int, tuple[str, ...]] | None = None
        for score, coverage, i in scored:
            sim = sims.get(i)
            relevant = coverage >= self.relevant or (sim is not None and sim >= self.similarity - 0.1)
            if not relevant:
                continue
            found = tuple(conflicts(claim.text, kb.passages[i].text))
            supports = coverage >= self.support or (sim is not None and sim >= self.similarity)
            # A passage less relevant than one that contradicts the claim does not support it: "Refunds are
            # available for every purchase." says nothing about the 90 days that "Refunds are available within
            # 30 days of purchase." refutes. The closest passage decides, whatever else the base holds.
            if supports and not found and (best is None or score >= best[0]):
                return ClaimResult(claim, "supported", kb.passages[i], coverage, sim)
            if found and best is None:
                best = (score, coverage, i, found)
        if best is not None:
            _, coverage, i, found = best
            return ClaimResult(claim, "contradicted", kb.passages[i], coverage, sims.get(i), found)
        _, coverage, i = scored[0]
        return ClaimResult(claim, "unsupported", kb.passages[i], coverage, sims.get(i))

    @staticmethod
    def _finding(result: ClaimResult) -> Finding:
        claim = result.claim
        location = Location(claim.message, claim.start, claim.end)
        evidence: dict[str, Any] = {"claim": claim.text, "claim_hash": claim_hash(claim.text),
                                    "coverage": round(result.coverage, 3)}  # fmt: skip
        if result.similarity is not None:
            evidence["similarity"] = round(result.similarity, 3)
        if result.passage is not None:
            evidence.update(passage=result.passage.text, source=result.passage.source, passage_id=result.passage.id)
        if result.status == "verified":
            evidence["source"] = result.source
            return make_finding("fact.verified", f"Verified by a reviewer ({result.source}).", location,
                                evidence=evidence)  # fmt: skip
        if result.status == "supported":
            return make_finding("fact.supported", f"Supported by {result.passage.source if result.passage else '?'}.",
                                location, evidence=evidence)  # fmt: skip
        if result.status == "contradicted":
            evidence["conflicts"] = list(result.conflicts)
            return make_finding("fact.contradicted", "The claim " + "; ".join(result.conflicts) + ".", location,
                                evidence=evidence)  # fmt: skip
        return make_finding("fact.unsupported", "No reference passage supports this claim.", location,
                            evidence=evidence)  # fmt: skip


def fact_check_many(examples: Sequence[ExampleInput], spec: ProjectSpec, checker: FactCheck | None = None
                    ) -> dict[int, list[Finding]]:  # fmt: skip
    """Fact-check a batch (e.g. the approved pool in a worker): example index -> findings."""
    checker = checker or FactCheck()
    return {i: checker.check(example, spec) for i, example in enumerate(examples)}
