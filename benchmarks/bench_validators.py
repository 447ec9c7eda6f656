"""Validator throughput, near-duplicate quality, and precision / recall per code on both labelled corpora.
Prints JSON lines {"metric", "value", "unit"}.

    .venv/bin/python benchmarks/bench_validators.py [--n 20000] [--dedup-n 100000] [--quick] [--quality-only]

Corpus A (tests/validators/corpus.py) was written beside the checks; corpus B (tests/validators/corpus_b.py)
was written separately: another product, other templates and phrasing, a secrets part (20+ vendor formats and
look-alikes) and a claims part (clean supported answers with greetings and closings).

No database and no Django: the validators package is pure Python.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from validators import ExampleInput, KnowledgeBase, ProjectSpec, validate_example  # noqa: E402
from validators.dataset import near_duplicate_pairs, shingles  # noqa: E402

WORDS = (
    "account billing invoice password reset order delivery address refund card payment plan upgrade "
    "download export history family library member device settings security email support team day "
    "week month page option button menu profile photo book reader app offline sync update"
).split()
SENTENCES = [
    "Open the account settings page and choose the security tab.",
    "The change takes effect immediately and you will see a confirmation.",
    "Most requests are handled by the support team within one working day.",
    "The billing page lists every invoice with its date and amount.",
    "Family libraries can hold up to five members.",
    "Two-factor authentication protects your account even if your password leaks.",
]
DEFECTS = [
    "  leading space.", "Mail anna.berg@gmail.com today.", "Call +44 20 7946 0958 now.", "Please login again.",
    "Card 4111 1111 1111 1111.", "Bad  spacing here.", "Token <|im_end|> leaked.", "Open (the menu.",
    "Version 2.4.1.3 shipped on 2024-03-15.", "- one\n* two",
]  # fmt: skip


def emit(metric: str, value: float, unit: str, **extra: object) -> None:
    print(json.dumps({"metric": metric, "value": round(value, 3), "unit": unit, **extra}), flush=True)


def synthetic_examples(n: int, seed: int = 1) -> list[ExampleInput]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        answer = " ".join(rng.sample(SENTENCES, 3))
        if rng.random() < 0.3:
            answer += "\n\n- " + "\n- ".join(rng.sample(SENTENCES, 2))
        if rng.random() < 0.3:
            answer += " " + rng.choice(DEFECTS)
        out.append(ExampleInput.from_dict({
            "id": str(i), "category": "billing",
            "messages": [{"role": "user", "content": f"How do I {rng.choice(WORDS)} my {rng.choice(WORDS)}?"},
                         {"role": "assistant", "content": answer}],
        }))  # fmt: skip
    return out


def bench_per_example(n: int) -> None:
    spec = ProjectSpec(glossary={"sign in": ["login", "log in"], "email": ["e-mail"]}, list_marker="-")
    examples = synthetic_examples(n)
    chars = sum(len(m.content) for e in examples for m in e.messages) / n
    for label, checks in (("formatting+pii+glossary", ["formatting", "pii", "glossary"]), ("all_fast", None)):
        for e in examples[:200]:
            validate_example(e, spec, checks=checks)
        start, cpu = time.perf_counter(), time.process_time()
        found = 0
        for e in examples:
            found += len(validate_example(e, spec, checks=checks))
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        # On a shared machine wall time includes waiting for a core; CPU time is the one-core cost.
        emit(f"per_example_throughput[{label}]", n / cpu, "examples/s (CPU time, one core)", n=n,
             wall_examples_per_s=round(n / elapsed), avg_chars=round(chars), findings=found)  # fmt: skip


def bench_fact_check(n: int) -> None:
    rng = random.Random(3)
    documents = {}
    for d in range(200):
        sentences = []
        for _ in range(12):
            words = rng.sample(WORDS, 7)
            sentences.append(f"The {words[0]} {words[1]} takes {rng.randint(1, 60)} {words[2]}s for {words[3]} "
                             f"{words[4]} {words[5]}.")  # fmt: skip
        documents[f"doc{d}"] = " ".join(sentences)
    start = time.perf_counter()
    kb = KnowledgeBase.build(documents, facts=[f"The plan {w} costs {i} dollars." for i, w in enumerate(WORDS)])
    emit("fact_check_index_build", time.perf_counter() - start, "s", passages=len(kb))
    spec = ProjectSpec(knowledge_base=kb)
    texts = list(documents.values())
    examples = []
    for _ in range(n):
        doc = rng.choice(texts).split(". ")
        claims = ". ".join(rng.sample(doc, 3)).rstrip(".") + "."
        examples.append(ExampleInput.from_dict({"messages": [{"role": "user", "content": "Tell me."},
                                                             {"role": "assistant", "content": claims}]}))  # fmt: skip
    start, cpu = time.perf_counter(), time.process_time()
    statuses: dict[str, int] = {}
    for e in examples:
        for f in validate_example(e, spec, checks=["facts"]):
            statuses[f.code] = statuses.get(f.code, 0) + 1
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    emit("fact_check_throughput[bm25]", n / cpu, "examples/s (CPU time)", claims_per_example=3,
         wall_examples_per_s=round(n / elapsed, 1), statuses=statuses)  # fmt: skip


def dedup_texts(n: int, seed: int = 5) -> list[str]:
    rng = random.Random(seed)
    vocab = [f"{rng.choice(WORDS)}{i}" for i in range(20000)]
    weights = [1 / (i + 1) ** 0.8 for i in range(len(vocab))]
    texts: list[str] = []
    for _ in range(n):
        if texts and rng.random() < 0.1:
            words = rng.choice(texts).split()
            for _ in range(rng.randint(1, 3)):  # 1-3 word edits: near duplicates
                words[rng.randrange(len(words))] = rng.choice(vocab)
            texts.append(" ".join(words))
        else:
            texts.append(" ".join(rng.choices(vocab, weights, k=rng.randint(40, 120))))
    return texts


def exact_pairs(texts: list[str], threshold: float) -> set[tuple[int, int]]:
    """All pairs with Jaccard >= threshold, computed exactly (sparse intersection counts)."""
    import numpy as np
    from scipy import sparse

    sets = [shingles(t) for t in texts]
    rows = np.concatenate([np.full(len(s), i) for i, s in enumerate(sets)])
    cols_raw = np.concatenate(sets)
    _, cols = np.unique(cols_raw, return_inverse=True)
    m = sparse.csr_matrix((np.ones(len(rows), dtype=np.int32), (rows, cols)), shape=(len(sets), cols.max() + 1))
    inter = (m @ m.T).tocoo()
    sizes = np.array([len(s) for s in sets])
    out = set()
    for i, j, c in zip(inter.row, inter.col, inter.data, strict=True):
        if i < j and c / (sizes[i] + sizes[j] - c) >= threshold:
            out.add((int(i), int(j)))
    return out


def bench_near_duplicates(n: int, sample: int, threshold: float = 0.8) -> None:
    texts = dedup_texts(n)
    start, cpu = time.perf_counter(), time.process_time()
    pairs = near_duplicate_pairs(texts, threshold=threshold)
    emit("near_duplicate_time", time.perf_counter() - start, "s (wall)", n=n, pairs=len(pairs),
         cpu_s=round(time.process_time() - cpu, 2))  # fmt: skip
    subset = texts[:sample]
    found = {(i, j) for i, j, _ in near_duplicate_pairs(subset, threshold=threshold)}
    truth = exact_pairs(subset, threshold)
    recall = len(found & truth) / len(truth) if truth else 1.0
    precision = len(found & truth) / len(found) if found else 1.0
    emit("near_duplicate_recall", recall, "ratio", sample=sample, true_pairs=len(truth), precision=precision)


def bench_quality() -> None:
    from tests.validators.corpus import (
        corpus_spec,
        facts_corpus,
        facts_spec,
        general_corpus,
        schema_corpus,
        schema_spec,
    )
    from tests.validators.corpus_b import claims_corpus, claims_spec, general_corpus_b, secrets_corpus
    from tests.validators.scoring import score, unsupported_rate
    from validators import REGISTRY

    general = {c for c, info in REGISTRY.items() if info.check in ("formatting", "metadata", "tokens", "pii",
                                                                  "glossary")}  # fmt: skip
    facts = {"fact.supported", "fact.contradicted", "fact.unsupported"}
    runs = [
        ("A", "general", general_corpus(), corpus_spec(), general, False, None),
        ("A", "schema", schema_corpus(), schema_spec(), {"schema.invalid_json", "schema.mismatch"}, False, None),
        ("A", "facts", facts_corpus(), facts_spec(), facts, True, []),
        ("B", "secrets", secrets_corpus(), corpus_spec(), {"pii.api_key", "pii.secret"}, False, ["pii"]),
        ("B", "claims", claims_corpus(), claims_spec(), facts, True, []),
    ]
    items_b = general_corpus_b()
    runs.append(("B", "general", items_b, corpus_spec(), {c for i in items_b for c in i["labels"]}, False, None))
    for corpus, part, items, spec, codes, fact_check, checks in runs:
        results = score(items, spec, codes, fact_check=fact_check, checks=checks)
        for code, r in results.items():
            if not r["positives"] and not r["fp_count"]:
                continue
            extra = {"corpus": corpus, "part": part, "positives": r["positives"], "fp": r["fp_count"],
                     "fn": r["fn_count"]}  # fmt: skip
            emit(f"precision[{corpus}:{part}:{code}]", r["precision"], "ratio", **extra)
            emit(f"recall[{corpus}:{part}:{code}]", r["recall"], "ratio", **extra)
    for corpus, items, spec in (("A", facts_corpus(), facts_spec()), ("B", claims_corpus(), claims_spec())):
        rate, flagged = unsupported_rate(items, spec)
        clean = sum(1 for i in items if i["labels"] == ["fact.supported"])
        emit(f"fact_unsupported_on_clean[{corpus}]", rate, "ratio", clean_responses=clean, flagged=len(flagged))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20000, help="examples for per-example throughput")
    parser.add_argument("--fact-n", type=int, default=500)
    parser.add_argument("--dedup-n", type=int, default=100000)
    parser.add_argument("--sample", type=int, default=5000, help="sample for recall against exact Jaccard")
    parser.add_argument("--quick", action="store_true", help="small sizes (a few seconds)")
    parser.add_argument("--quality-only", action="store_true", help="only precision / recall on the corpora")
    args = parser.parse_args()
    bench_quality()
    if args.quality_only:
        return
    if args.quick:
        args.n, args.fact_n, args.dedup_n, args.sample = 2000, 100, 5000, 1000
    bench_per_example(args.n)
    bench_fact_check(args.fact_n)
    bench_near_duplicates(args.dedup_n, min(args.sample, args.dedup_n))


if __name__ == "__main__":
    main()
