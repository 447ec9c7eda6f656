"""A project's knowledge base for the fact check: passages and their BM25 index (optional embeddings).

Kept apart from `factcheck.py` so `inputs.py` (whose `ProjectSpec` carries a knowledge base) and
`factcheck.py` (which reads `ExampleInput` and `ProjectSpec`) both import it without importing each other.
Also the text helpers the index and the claim extraction share: `tokenize` and `split_sentences`.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
from rank_bm25 import BM25Okapi

from validators.embeddings import SentenceEmbedder

STOPWORDS = frozenset(
    """a an the and or but if then than so of to in on at by for with from into onto over under about as is are
    was were be been being am do does did done have has had having it its it's this that these those there here
    we you your yours our ours they them their he she his her i me my mine us can could will would shall should
    may might must which who whom whose what when where why how all any each every some such also just only very
    more most less least not no nor never none up down out off again further once both few other own same too s t
    please thanks thank yes okay ok let's let get got""".split()
)
WORD_RE = re.compile(r"[A-Za-z][A-Za-z'\-]*|\d+(?:[.,]\d+)*")
SENTENCE_SPLIT_RE = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])|\n+")


def stem(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def tokenize(text: str) -> list[str]:
    """Lower-cased, stop-word-free, lightly stemmed tokens (numbers kept, separators dropped)."""
    out = []
    for raw in WORD_RE.findall(text):
        word = raw.lower().replace("'", "")
        if word in STOPWORDS or (len(word) < 2 and not word.isdigit()):
            continue
        if word[0].isdigit():
            out.append(word.replace(",", ""))
        else:
            out.append(stem(word.strip("-")))
    return out


@dataclass(frozen=True, slots=True)
class Passage:
    id: str
    text: str
    source: str
    kind: str  # "document" or "fact"


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Spans of sentences (and list items / lines)."""
    spans = []
    start = 0
    for m in SENTENCE_SPLIT_RE.finditer(text):
        spans.append((start, m.start()))
        start = m.end()
    spans.append((start, len(text)))
    out = []
    for s, e in spans:
        chunk = text[s:e]
        stripped = chunk.strip()
        if not stripped:
            continue
        lead = len(chunk) - len(chunk.lstrip())
        out.append((s + lead, s + lead + len(stripped)))
    return out


def _chunk_document(text: str, max_words: int) -> list[str]:
    sentences = [text[s:e] for s, e in split_sentences(text)]
    chunks: list[str] = []
    current: list[str] = []
    words = 0
    for sentence in sentences:
        n = len(sentence.split())
        if current and words + n > max_words:
            chunks.append(" ".join(current))
            current = current[-1:]  # one sentence overlap so claims at a boundary still match
            words = len(current[0].split())
        current.append(sentence)
        words += n
    if current and (not chunks or len(current) > 1):
        chunks.append(" ".join(current))
    return chunks


@dataclass
class KnowledgeBase:
    """Passages plus their BM25 index (and optional embeddings). Build with `KnowledgeBase.build`."""

    passages: list[Passage]
    tokens: list[list[str]]
    bm25: BM25Okapi | None
    postings: dict[str, tuple[np.ndarray, np.ndarray]]
    embedder: SentenceEmbedder | None = None
    vectors: np.ndarray | None = None
    fingerprint: str = ""
    _token_sets: list[frozenset[str]] = field(default_factory=list)

    @classmethod
    def build(
        cls,
        documents: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        facts: Iterable[str] = (),
        *,
        passage_words: int = 60,
        embedder: SentenceEmbedder | None = None,
    ) -> KnowledgeBase:
        """Index `documents` ({source name: text}) chunked into passages, and `facts` (one passage each).

        `embedder`: a `SentenceEmbedder` to add embedding similarity (slower; off by default).
        """
        items = documents.items() if isinstance(documents, Mapping) else documents
        passages: list[Passage] = []
        digest = hashlib.sha256()
        for source, text in items:
            digest.update(f"{source}\0{text}\0".encode())
            for i, chunk in enumerate(_chunk_document(text, passage_words)):
                passages.append(Passage(f"{source}#{i}", chunk, source, "document"))
        for i, fact in enumerate(facts):
            if fact.strip():
                digest.update(f"fact\0{fact}\0".encode())
                passages.append(Passage(f"fact#{i}", fact.strip(), "fact list", "fact"))
        tokens = [tokenize(p.text) for p in passages]
        bm25 = BM25Okapi([t or ["\0"] for t in tokens]) if passages else None
        postings = _bm25_postings(bm25) if bm25 is not None else {}
        vectors = embedder.encode([p.text for p in passages]) if embedder is not None and passages else None
        return cls(passages, tokens, bm25, postings, embedder, vectors, digest.hexdigest(),
                   [frozenset(t) for t in tokens])  # fmt: skip

    def __len__(self) -> int:
        return len(self.passages)

    def search(self, query: str, k: int = 5) -> list[tuple[int, float]]:
        """Indices of the best passages with their BM25 (Okapi) scores, best first.

        Scores are Okapi BM25 with rank-bm25's k1, b and document lengths and a never-negative idf (see
        `bm25_idf`), summed from per-term posting weights precomputed at build time, so a query costs
        O(postings of its terms) instead of O(passages x terms).
        """
        if self.bm25 is None:
            return []
        scores = np.zeros(len(self.passages))
        hit = False
        for tok in tokenize(query):
            entry = self.postings.get(tok)
            if entry is not None:
                scores[entry[0]] += entry[1]
                hit = True
        if not hit:
            return []
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.lexsort((top, -scores[top]))]
        return [(int(i), float(scores[i])) for i in top if scores[i] > 0]


def bm25_idf(passages: int, containing: int) -> float:
    """ln(1 + (N - n + 0.5) / (n + 0.5)): Lucene's BM25 idf, above zero for every term.

    Okapi's ln((N - n + 0.5) / (n + 0.5)) is negative for a term in more than half the passages, and
    rank-bm25 then gives it a small epsilon weight: in a one-fact knowledge base every term is such a
    term, so the only fact on a claim's topic scored nothing and was never retrieved (the claim came
    out "unsupported" until unrelated facts were added). With this idf the passage that shares the
    claim's words is found whatever else the knowledge base holds.
    """
    return math.log(1 + (passages - containing + 0.5) / (containing + 0.5))


def _bm25_postings(bm25: BM25Okapi) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """term -> (passage indices, BM25 weight of the term in each), with rank-bm25's k1, b and avgdl and
    `bm25_idf`."""
    raw: dict[str, tuple[list[int], list[float]]] = {}
    for i, freqs in enumerate(bm25.doc_freqs):
        norm = bm25.k1 * (1 - bm25.b + bm25.b * bm25.doc_len[i] / bm25.avgdl)
        for term, tf in freqs.items():
            ids, weights = raw.setdefault(term, ([], []))
            ids.append(i)
            weights.append(tf * (bm25.k1 + 1) / (tf + norm))
    return {
        t: (np.array(ids, dtype=np.int64), np.array(w) * bm25_idf(bm25.corpus_size, len(ids)))
        for t, (ids, w) in raw.items()
    }
