"""Dataset-level checks over a list of examples: balance, length outliers, annotators, style tags,
exact and near duplicates (MinHash LSH), train/validation leakage, diversity. Pure functions returning
findings and the statistics the data-health page charts, gathered in a `DatasetReport`."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from validators.findings import Finding, Severity
from validators.inputs import ExampleInput, ProjectSpec
from validators.registry import make_finding

WORD_RE = re.compile(r"\w+")


# -- hashing ---------------------------------------------------------------------------------------------
def normalised_text(messages: Iterable[Mapping[str, str]]) -> str:
    """Role-tagged text with unicode (NFKC), case and whitespace folded."""
    parts = []
    for message in messages:
        text = unicodedata.normalize("NFKC", message["content"]).casefold()
        parts.append(message["role"] + ":" + " ".join(text.split()))
    return "\n".join(parts)


def content_hash(messages: Iterable[Mapping[str, str]]) -> str:
    """sha256 hex of `normalised_text`: equal for conversations that train the same. Store it per example.

    Same algorithm as `annotation.services.conversations.content_hash`, so stored hashes agree.
    """
    return hashlib.sha256(normalised_text(messages).encode()).hexdigest()


def _messages(example: ExampleInput) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in example.messages]


def prompt_hash(example: ExampleInput) -> str:
    return content_hash(m for m in _messages(example) if m["role"] != "assistant")


def example_key(example: ExampleInput, index: int) -> str:
    return example.id if example.id is not None else f"#{index}"


# -- near duplicates ----------------------------------------------------------------------------------
@lru_cache(maxsize=1 << 18)
def _word_hash(word: str) -> int:
    return zlib.crc32(word.encode())


_GRAM_MULT = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F), np.uint64(0x165667B19E3779F9))


def shingles(text: str, n: int = 3) -> np.ndarray:
    """Sorted unique 32-bit hashes of word n-grams of the case-folded text (of all words if fewer).

    Words are hashed once (crc32, cached) and n-gram hashes combined with numpy.
    """
    words = WORD_RE.findall((text if text.isascii() else unicodedata.normalize("NFKC", text)).casefold())
    if not words:
        return np.zeros(0, dtype=np.uint32)
    ids = np.array(list(map(_word_hash, words)), dtype=np.uint64)
    n = max(1, min(n, len(words)))
    count = len(words) - n + 1
    h = np.zeros(count, dtype=np.uint64)
    for k in range(n):
        h = h * _GRAM_MULT[k % 3] + ids[k : k + count]
    h ^= h >> np.uint64(29)
    return np.unique((h & np.uint64(0xFFFFFFFF)).astype(np.uint32))


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, x: int) -> int:
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def groups(self) -> list[list[int]]:
        out: dict[int, list[int]] = defaultdict(list)
        for i in range(len(self.parent)):
            out[self.find(i)].append(i)
        return [g for g in out.values() if len(g) > 1]


_MAX32 = np.uint64((1 << 32) - 1)


@dataclass
class MinHasher:
    """Vectorised MinHash signatures of shingle sets.

    Permutations are multiply-shift hashes ((a*x + b) mod 2^64) >> 32 with odd 64-bit `a`: universal, and
    free of the costly modulo a prime. Signatures are only compared with each other, inside one index.
    """

    num_perm: int = 128
    seed: int = 1

    def __post_init__(self) -> None:
        rng = np.random.RandomState(self.seed)
        self.a = rng.randint(0, 1 << 63, size=self.num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
        self.b = rng.randint(0, 1 << 63, size=self.num_perm, dtype=np.uint64)

    def signatures(self, sets: Sequence[np.ndarray], chunk: int = 8_000) -> np.ndarray:
        """Signatures of many sets at once, shape (len(sets), num_perm): one numpy pass per chunk of shingles.

        The hashed shingles are laid out one permutation per row, so the minimum of each set runs along
        contiguous memory (six times faster than reducing down the columns), and computed in place."""
        out = np.full((len(sets), self.num_perm), _MAX32, dtype=np.uint64)
        a, b = self.a[:, None], self.b[:, None]
        start = 0
        while start < len(sets):
            stop, total = start, 0
            while stop < len(sets) and (total == 0 or total + len(sets[stop]) <= chunk):
                total += len(sets[stop])
                stop += 1
            group = sets[start:stop]
            sizes = np.array([len(s) for s in group])
            nonempty = np.flatnonzero(sizes)
            if len(nonempty):
                hv = np.concatenate([group[i] for i in nonempty.tolist()]).astype(np.uint64)
                phv = np.multiply(a, hv[None, :])  # (num_perm, shingles)
                phv += b
                phv >>= np.uint64(32)
                offsets = np.concatenate(([0], np.cumsum(sizes[nonempty])[:-1]))
                out[start + nonempty] = np.minimum.reduceat(phv, offsets, axis=1).T
            start = stop
        return out

    def signature(self, shingle_hashes: np.ndarray) -> np.ndarray:
        if not len(shingle_hashes):
            return np.full(self.num_perm, _MAX32, dtype=np.uint64)
        hv = shingle_hashes.astype(np.uint64)[:, None]
        return ((hv * self.a + self.b) >> np.uint64(32)).min(axis=0)


def lsh_bands(threshold: float, num_perm: int, target: float = 0.995) -> tuple[int, int]:
    """(bands, rows) with the most rows per band such that a pair exactly at `threshold` still becomes a
    candidate with probability >= `target`: recall first, the exact Jaccard check removes false candidates."""
    best = (num_perm, 1)
    for rows in range(1, num_perm + 1):
        bands = num_perm // rows
        if bands < 1:
            break
        if 1 - (1 - threshold**rows) ** bands >= target:
            best = (bands, rows)
    return best


class _ShingleSets:
    """The shingle sets of the texts as frozensets, made when first asked for: only texts that share a
    bucket with another are ever compared, and most never are."""

    def __init__(self, arrays: list[np.ndarray]) -> None:
        self.arrays = arrays
        self.made: dict[int, frozenset] = {}

    def __len__(self) -> int:
        return len(self.arrays)

    def __getitem__(self, i: int) -> frozenset:
        found = self.made.get(i)
        if found is None:
            # Python sets intersect small shingle sets several times faster than numpy's intersect1d.
            found = self.made[i] = frozenset(self.arrays[i].tolist())
        return found


def _lsh_index(
    texts: Sequence[str], *, threshold: float, num_perm: int, ngram: int, seed: int
) -> tuple[_ShingleSets, list[list[int]]]:
    """The texts' shingle sets and every MinHash LSH bucket with two or more members (ids in order).

    The banding is done with numpy, all texts at once: per band, texts whose signatures agree on the
    band's rows share a key, and sorting the keys lines each bucket up. A key is a hash of the band's
    values; two bands that differ but hash alike only add a candidate, which the exact Jaccard removes.
    """
    hasher = MinHasher(num_perm=num_perm, seed=seed)
    arrays = [shingles(t, ngram) for t in texts]
    signatures = hasher.signatures(arrays)
    bands, rows = lsh_bands(threshold, num_perm)
    mix = np.random.RandomState(seed + 1).randint(1, 1 << 63, size=rows, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    buckets: list[list[int]] = []
    for band in range(bands):
        keys = (signatures[:, band * rows : (band + 1) * rows] * mix).sum(axis=1, dtype=np.uint64)
        order = np.argsort(keys, kind="stable")
        ordered = keys[order]
        starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
        ends = np.concatenate((starts[1:], [len(ordered)]))
        for start, stop in zip(starts[ends - starts > 1].tolist(), ends[ends - starts > 1].tolist(), strict=True):
            buckets.append(order[start:stop].tolist())  # stable sort: ids already in order
    return _ShingleSets(arrays), buckets


def _similarity(a: frozenset, b: frozenset, threshold: float) -> float | None:
    """Exact Jaccard of two shingle sets when it reaches `threshold`, else None."""
    if not a and not b:
        return 1.0
    if not a or not b or min(len(a), len(b)) < threshold * max(len(a), len(b)):
        return None  # sizes alone rule it out
    inter = len(a & b)
    score = inter / (len(a) + len(b) - inter)
    return score if score >= threshold else None


def near_duplicate_pairs(
    texts: Sequence[str], *, threshold: float = 0.8, num_perm: int = 128, ngram: int = 3, seed: int = 1
) -> list[tuple[int, int, float]]:
    """Pairs (i, j, jaccard) with word-shingle Jaccard >= threshold: MinHash LSH proposes,
    exact Jaccard on the shingle sets confirms. Exact duplicates should be collapsed before calling."""
    sets, buckets = _lsh_index(texts, threshold=threshold, num_perm=num_perm, ngram=ngram, seed=seed)
    candidates: set[tuple[int, int]] = set()
    for ordered in buckets:
        candidates.update((a, b) for k, a in enumerate(ordered) for b in ordered[k + 1 :])
    pairs = []
    for i, j in sorted(candidates):
        score = _similarity(sets[i], sets[j], threshold)
        if score is not None and len(sets[i]) and len(sets[j]):
            pairs.append((i, j, score))
    return pairs


# Buckets this large (templated texts) are checked with one sparse matrix product per block of rows
# instead of a Python loop over their k * (k - 1) / 2 pairs.
BIG_BUCKET = 64


def _similar_pairs_in_bucket(members: list[int], sets: _ShingleSets, threshold: float) -> Iterator[tuple[int, int]]:
    """Pairs (a, b), a < b, of `members` whose shingle sets have Jaccard >= threshold (both non-empty)."""
    from scipy import sparse

    members = [m for m in members if sets[m]]
    if len(members) < 2:
        return
    vocabulary: dict[int, int] = {}
    rows, cols = [], []
    for r, m in enumerate(members):
        for h in sets[m]:
            rows.append(r)
            cols.append(vocabulary.setdefault(h, len(vocabulary)))
    matrix = sparse.csr_matrix(
        (np.ones(len(rows), dtype=np.int32), (rows, cols)), shape=(len(members), len(vocabulary))
    )
    sizes = np.asarray(matrix.sum(axis=1)).ravel()
    transposed = matrix.T.tocsc()
    for start in range(0, len(members), 1024):
        block = (matrix[start : start + 1024] @ transposed).tocoo()
        i, j = block.row + start, block.col
        keep = i < j
        i, j, inter = i[keep], j[keep], block.data[keep]
        similar = inter >= threshold * (sizes[i] + sizes[j] - inter)
        for a, b in zip(i[similar].tolist(), j[similar].tolist(), strict=True):
            yield members[a], members[b]


def near_duplicate_groups(
    texts: Sequence[str], *, threshold: float = 0.8, num_perm: int = 128, ngram: int = 3, seed: int = 1
) -> list[list[int]]:
    """The connected components (two or more texts) of the near-duplicate pairs of `near_duplicate_pairs`.

    The same groups, without listing every pair: a candidate pair already in one group needs no Jaccard,
    and a bucket whose members are all in one group is skipped whole. On templated data, where most
    texts are near-duplicates of many others, this is what keeps the check from going quadratic.
    """
    sets, buckets = _lsh_index(texts, threshold=threshold, num_perm=num_perm, ngram=ngram, seed=seed)
    uf = _UnionFind(len(texts))
    for ordered in buckets:
        if len({uf.find(m) for m in ordered}) == 1:
            continue
        if len(ordered) >= BIG_BUCKET:
            for a, b in _similar_pairs_in_bucket(ordered, sets, threshold):
                uf.union(a, b)
            continue
        for k, a in enumerate(ordered):
            joined = False
            for b in ordered[k + 1 :]:
                if uf.find(a) != uf.find(b) and len(sets[a]) and len(sets[b]):
                    if _similarity(sets[a], sets[b], threshold) is not None:
                        uf.union(a, b)
                        joined = True
            if joined and len({uf.find(m) for m in ordered}) == 1:
                break
    return uf.groups()


def duplicate_clusters(
    examples: Sequence[ExampleInput], *, threshold: float = 0.8, num_perm: int = 128, ngram: int = 3,
    near: bool = True,
) -> tuple[list[list[int]], list[list[int]], list[str]]:  # fmt: skip
    """(exact clusters, near clusters, content hashes). Clusters are lists of example indices; a near
    cluster groups examples linked by near-duplicate pairs (exact copies join their representative)."""
    hashes = [content_hash(_messages(e)) for e in examples]
    by_hash: dict[str, list[int]] = defaultdict(list)
    for i, h in enumerate(hashes):
        by_hash[h].append(i)
    exact = [idx for idx in by_hash.values() if len(idx) > 1]
    near_clusters: list[list[int]] = []
    if near:
        reps = [idx[0] for idx in by_hash.values()]
        texts = [normalised_text(_messages(examples[i])) for i in reps]
        for group in near_duplicate_groups(texts, threshold=threshold, num_perm=num_perm, ngram=ngram):
            members = sorted(i for g in group for i in by_hash[hashes[reps[g]]])
            near_clusters.append(members)
    return exact, near_clusters, hashes


# -- statistics helpers ----------------------------------------------------------------------------------
def robust_z(values: Sequence[float]) -> np.ndarray:
    """Modified z-score 0.6745 * (x - median) / MAD (Iglewicz-Hoaglin); when MAD is 0 (most values equal)
    the mean absolute deviation scaled by 1.2533 stands in; zeros when every value is the median."""
    x = np.asarray(values, dtype=float)
    if not len(x):
        return x
    median = np.median(x)
    deviation = np.abs(x - median)
    mad = np.median(deviation)
    if mad > 0:
        return 0.6745 * (x - median) / mad
    mean_ad = deviation.mean()
    if mean_ad == 0:
        return np.zeros_like(x)
    return (x - median) / (1.253314 * mean_ad)


def histogram(values: Sequence[float], bins: int = 20) -> dict[str, list[float]]:
    if not len(values):
        return {"edges": [], "counts": []}
    counts, edges = np.histogram(np.asarray(values, dtype=float), bins=bins)
    return {"edges": [round(float(e), 2) for e in edges], "counts": [int(c) for c in counts]}


def distinct_n(texts: Iterable[str], n: int) -> tuple[float, int]:
    """Share of distinct word n-grams among all n-grams, and the total."""
    seen: set[tuple[str, ...] | str] = set()
    total = 0
    for text in texts:
        words = WORD_RE.findall(text.casefold())
        if n == 1:
            seen.update(words)
            total += len(words)
        else:
            grams = list(zip(*(words[i:] for i in range(n)), strict=False))
            seen.update(grams)
            total += len(grams)
    return (len(seen) / total if total else 0.0), total


@dataclass(frozen=True)
class DatasetThresholds:
    balance_tolerance: float = 0.10
    dominance: float = 0.5
    min_examples: int = 20
    outlier_z: float = 3.5
    outlier_min_ratio: float = 2.0
    annotator_dominance: float = 0.5
    style_tag_min_share: float = 0.05
    near_threshold: float = 0.8
    num_perm: int = 128
    shingle: int = 3
    distinct2_min: float = 0.25
    prompt_cluster_similarity: float = 0.9
    prompt_cluster_share: float = 0.2


@dataclass
class DatasetReport:
    """Findings plus the statistics the data-health page charts. `to_dict()` is JSON-serialisable.

    `stats` keys: n_examples, categories ({name: {count, share, target}}), general_share, lengths
    ({prompt|response: {median, p95, histogram}}), annotators ({author: {count, share}}), style_tags,
    duplicates ({exact: [[ids]], near: [[ids]]}), leakage ([[ids]]), diversity, prompt_clusters.
    `example_findings`: per-example findings by example id when per-example checks ran too.
    """

    findings: list[Finding] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    example_findings: dict[str, list[Finding]] = field(default_factory=dict)

    @property
    def blocking(self) -> bool:
        return any(f.severity is Severity.ERROR for f in self.findings) or any(
            f.severity is Severity.ERROR for fs in self.example_findings.values() for f in fs
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "findings": [f.to_dict() for f in self.findings],
            "stats": self.stats,
            "example_findings": {k: [f.to_dict() for f in v] for k, v in self.example_findings.items()},
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DatasetReport:
        return cls(
            findings=[Finding.from_dict(f) for f in data.get("findings") or ()],
            stats=dict(data.get("stats") or {}),
            example_findings={
                k: [Finding.from_dict(f) for f in v] for k, v in (data.get("example_findings") or {}).items()
            },
        )


# -- the checks -----------------------------------------------------------------------------------------
def check_balance(examples: Sequence[ExampleInput], spec: ProjectSpec, t: DatasetThresholds
                  ) -> tuple[list[Finding], dict[str, Any]]:  # fmt: skip
    n = len(examples)
    counts = Counter(e.category or "(none)" for e in examples)
    targets = spec.category_targets
    names = sorted(set(counts) | set(targets))
    stats = {
        name: {"count": counts.get(name, 0), "share": round(counts.get(name, 0) / n, 4) if n else 0.0,
               "target": round(targets[name], 4) if name in targets else None}
        for name in names
    }  # fmt: skip
    findings: list[Finding] = []
    if n < t.min_examples:
        return findings, {"categories": stats, "general": None}
    for name, target in targets.items():
        share = counts.get(name, 0) / n
        if abs(share - target) > t.balance_tolerance and name != spec.general_category:
            findings.append(make_finding("ds.category_imbalance", f"{name!r} is {share:.0%} of the examples; "
                                         f"target {target:.0%}.", evidence={"category": name, "share": share,
                                         "target": target, "count": counts.get(name, 0)}))  # fmt: skip
    if len(names) > 1:
        top, top_count = counts.most_common(1)[0]
        share = top_count / n
        if share > max(t.dominance, targets.get(top, 0) + t.balance_tolerance):
            findings.append(make_finding("ds.category_dominant", f"{top!r} holds {share:.0%} of the examples.",
                                         evidence={"category": top, "share": share}))  # fmt: skip
    general_stats: dict[str, Any] | None = None
    if spec.general_category:
        g = spec.general_category
        share = counts.get(g, 0) / n
        general_target = targets.get(g)
        general_stats = {"category": g, "share": round(share, 4), "target": general_target}
        if general_target is not None and abs(share - general_target) > t.balance_tolerance:
            findings.append(make_finding("ds.general_share", f"General data ({g!r}) is {share:.0%}; target "
                                         f"{general_target:.0%}.", evidence=general_stats))  # fmt: skip
        elif general_target is None and (share > 0.5 or share == 0):
            what = "outweighs the domain data" if share > 0.5 else "is missing (risk of forgetting general skills)"
            findings.append(make_finding("ds.general_share", f"General data ({g!r}, {share:.0%}) {what}.",
                                         evidence=general_stats))  # fmt: skip
    return findings, {"categories": stats, "general": general_stats}


def check_lengths(examples: Sequence[ExampleInput], keys: Sequence[str], t: DatasetThresholds
                  ) -> tuple[list[Finding], dict[str, Any]]:  # fmt: skip
    findings: list[Finding] = []
    stats: dict[str, Any] = {}
    for part in ("prompt", "response"):
        lengths = [len(e.prompt_text() if part == "prompt" else e.response_text()) for e in examples]
        stats[part] = {
            "median": float(np.median(lengths)) if lengths else 0.0,
            "p95": float(np.percentile(lengths, 95)) if lengths else 0.0,
            "histogram": histogram(lengths),
        }
        if len(lengths) < t.min_examples:
            continue
        z = robust_z(lengths)
        median = stats[part]["median"]
        for i in (int(j) for j in np.flatnonzero(np.abs(z) > t.outlier_z)):
            if median and 1 / t.outlier_min_ratio < lengths[i] / median < t.outlier_min_ratio:
                continue  # statistically unusual but not far from typical: not worth a finding
            kind = "long" if z[i] > 0 else "short"
            findings.append(make_finding("ds.length_outlier", f"Unusually {kind} {part} ({lengths[i]} characters, "
                                         f"median {stats[part]['median']:.0f}).", evidence={"example_id": keys[i],
                                         "part": part, "length": lengths[i], "z": round(float(z[i]), 2)}))  # fmt: skip
    return findings, stats


def check_annotators(examples: Sequence[ExampleInput], t: DatasetThresholds) -> tuple[list[Finding], dict[str, Any]]:
    counts = Counter(e.author for e in examples if e.author)
    total = sum(counts.values())
    stats = {a: {"count": c, "share": round(c / total, 4)} for a, c in counts.most_common()}
    findings: list[Finding] = []
    if total >= t.min_examples and len(counts) >= 2:
        author, count = counts.most_common(1)[0]
        if count / total > t.annotator_dominance:
            findings.append(make_finding("ds.annotator_dominance", f"{author} wrote {count / total:.0%} of the "
                                         "examples.", evidence={"author": author, "share": count / total}))  # fmt: skip
    return findings, stats


def check_style_tags(examples: Sequence[ExampleInput], spec: ProjectSpec, t: DatasetThresholds
                     ) -> tuple[list[Finding], dict[str, Any]]:  # fmt: skip
    n = len(examples)
    counts = Counter(tag for e in examples for tag in set(e.style_tags))
    stats = {tag: {"count": counts.get(tag, 0), "share": round(counts.get(tag, 0) / n, 4) if n else 0.0}
             for tag in sorted(set(spec.style_tags) | set(counts))}  # fmt: skip
    findings: list[Finding] = []
    if n >= t.min_examples:
        for tag in spec.style_tags:
            share = counts.get(tag, 0) / n
            if share < t.style_tag_min_share:
                findings.append(make_finding("ds.style_tag_coverage", f"Style tag {tag!r} is on {share:.0%} of the "
                                             "examples.", evidence={"tag": tag, "share": share}))  # fmt: skip
    return findings, stats


def check_duplicates(examples: Sequence[ExampleInput], keys: Sequence[str], split: Mapping[str, str] | None,
                     t: DatasetThresholds, near: bool = True) -> tuple[list[Finding], dict[str, Any]]:  # fmt: skip
    exact, near_clusters, _ = duplicate_clusters(examples, threshold=t.near_threshold, num_perm=t.num_perm,
                                                 ngram=t.shingle, near=near)  # fmt: skip
    findings: list[Finding] = []
    exact_sets = {frozenset(c) for c in exact}
    for cluster in exact:
        ids = [keys[i] for i in cluster]
        findings.append(make_finding("ds.exact_duplicate", f"{len(ids)} examples have the same content.",
                                     evidence={"example_ids": ids}))  # fmt: skip
    reported_near = []
    for cluster in near_clusters:
        if frozenset(cluster) in exact_sets:
            continue  # only exact copies: already reported
        ids = [keys[i] for i in cluster]
        reported_near.append(ids)
        findings.append(make_finding("ds.near_duplicate", f"{len(ids)} examples are near duplicates.",
                                     evidence={"example_ids": ids, "threshold": t.near_threshold}))  # fmt: skip
    leakage: list[list[str]] = []
    if split:
        groups: list[tuple[str, list[int]]] = [("exact", c) for c in exact] + [("near", c) for c in near_clusters]
        by_prompt: dict[str, list[int]] = defaultdict(list)
        for i, e in enumerate(examples):
            by_prompt[prompt_hash(e)].append(i)
        groups += [("prompt", c) for c in by_prompt.values() if len(c) > 1]
        seen: set[frozenset[str]] = set()
        for kind, cluster in groups:
            ids = [keys[i] for i in cluster]
            sides = {split.get(k) for k in ids} - {None}
            if len(sides) < 2 or frozenset(ids) in seen:
                continue
            seen.add(frozenset(ids))
            leakage.append(ids)
            findings.append(make_finding("ds.leakage", f"{len(ids)} examples ({kind} match) are split across "
                                         f"{' and '.join(sorted(str(s) for s in sides))}.",
                                         evidence={"example_ids": ids, "match": kind,
                                                   "splits": {k: split.get(k) for k in ids}}))  # fmt: skip
    stats = {"exact": [[keys[i] for i in c] for c in exact], "near": reported_near}
    return findings, {"duplicates": stats, "leakage": leakage}


def check_diversity(examples: Sequence[ExampleInput], keys: Sequence[str], t: DatasetThresholds,
                    embedder: Any = None) -> tuple[list[Finding], dict[str, Any]]:  # fmt: skip
    responses = [e.response_text() for e in examples]
    prompts = [e.prompt_text() for e in examples]
    d1, total1 = distinct_n(responses, 1)
    d2, total2 = distinct_n(responses, 2)
    p1, _ = distinct_n(prompts, 1)
    p2, ptotal2 = distinct_n(prompts, 2)
    stats: dict[str, Any] = {"response_distinct_1": round(d1, 4), "response_distinct_2": round(d2, 4),
                             "prompt_distinct_1": round(p1, 4), "prompt_distinct_2": round(p2, 4),
                             "response_words": total1}  # fmt: skip
    findings: list[Finding] = []
    if len(examples) >= t.min_examples and total2 >= 500 and d2 < t.distinct2_min:
        findings.append(make_finding("ds.low_diversity", f"Only {d2:.0%} of response word pairs are distinct.",
                                     evidence={"distinct_2": d2, "part": "response"}))  # fmt: skip
    if len(examples) >= t.min_examples and ptotal2 >= 500 and p2 < t.distinct2_min:
        findings.append(make_finding("ds.low_diversity", f"Only {p2:.0%} of prompt word pairs are distinct.",
                                     evidence={"distinct_2": p2, "part": "prompt"}))  # fmt: skip
    if embedder is not None and examples:
        clusters = prompt_clusters(prompts, embedder, t.prompt_cluster_similarity)
        stats["prompt_clusters"] = [[keys[i] for i in c] for c in clusters[:20]]
        if clusters and len(examples) >= t.min_examples and len(clusters[0]) / len(examples) > t.prompt_cluster_share:
            share = len(clusters[0]) / len(examples)
            findings.append(make_finding("ds.low_diversity", f"One group of similar prompts holds {share:.0%} of the "
                                         "examples.", evidence={"example_ids": [keys[i] for i in clusters[0]],
                                         "share": share, "part": "prompt_cluster"}))  # fmt: skip
    return findings, stats


def prompt_clusters(prompts: Sequence[str], embedder: Any, similarity: float = 0.9) -> list[list[int]]:
    """Greedy clusters of prompts whose embeddings have cosine >= `similarity`, largest first (size > 1)."""
    vectors = embedder.encode(list(prompts))
    assigned = np.full(len(prompts), -1)
    clusters: list[list[int]] = []
    for i in range(len(prompts)):
        if assigned[i] >= 0:
            continue
        sims = vectors[i + 1 :] @ vectors[i]
        members = [i] + [int(j) + i + 1 for j in np.flatnonzero(sims >= similarity) if assigned[int(j) + i + 1] < 0]
        assigned[members] = len(clusters)
        clusters.append(members)
    return sorted((c for c in clusters if len(c) > 1), key=len, reverse=True)
