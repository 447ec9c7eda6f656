from __future__ import annotations

import pytest

from tests.validators.corpus import KB_DOCUMENTS, KB_FACTS
from tests.validators.corpus_b import claims_spec
from tests.validators.helpers import codes, conv
from validators import (
    KnowledgeBase,
    ProjectSpec,
    claim_hash,
    embeddings_available,
    extract_claims,
    validate_example,
)
from validators.factcheck import negated_words


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.build(KB_DOCUMENTS, facts=KB_FACTS)


def test_claims_skip_questions_code_and_short_sentences() -> None:
    ex = conv("Hi! Refunds take 30 days to arrive.\n- Gift cards never expire.\nWant more?\n```\nx = 1 is true.\n```")
    assert [c.text for c in extract_claims(ex)] == ["Refunds take 30 days to arrive.", "Gift cards never expire."]
    assert extract_claims(ex)[1].start == ex.messages[1].content.index("Gift")


def test_supported_contradicted_unsupported_with_evidence(kb: KnowledgeBase) -> None:
    text = ("Refunds are accepted within 30 days of purchase. Nimbus Books was founded in Porto in 2011. "
            "Standard shipping takes 9 business days. Our robots are painted orange.")  # fmt: skip
    found = validate_example(conv(text), ProjectSpec(knowledge_base=kb), checks=["facts"])
    by_claim = {f.evidence["claim"]: f for f in found}
    supported = by_claim["Refunds are accepted within 30 days of purchase."]
    assert supported.code == "fact.supported"
    assert supported.evidence["source"] == "policies"
    porto = by_claim["Nimbus Books was founded in Porto in 2011."]
    assert porto.code == "fact.contradicted"
    assert "porto" in porto.message
    assert "lisbon" in porto.message
    shipping = by_claim["Standard shipping takes 9 business days."]
    assert shipping.code == "fact.contradicted"
    assert "'5 business'" in shipping.message
    assert "Standard shipping takes 5 business days." in shipping.evidence["passage"]
    assert by_claim["Our robots are painted orange."].code == "fact.unsupported"
    assert shipping.location is not None
    assert text[shipping.location.start : shipping.location.end] == "Standard shipping takes 9 business days."


def test_negation_and_dates_contradict(kb: KnowledgeBase) -> None:
    found = validate_example(conv("The mobile app does not support offline reading. Customer support is available "
                                  "Saturday to Sunday."), ProjectSpec(knowledge_base=kb), checks=["facts"])  # fmt: skip
    assert [f.code for f in found] == ["fact.contradicted", "fact.contradicted"]


@pytest.mark.parametrize(
    ("sentence", "negated"),
    [("Helmets are not recommended.", {"recommended"}),
     ("Helmets are recommended but not required.", {"required"}),
     ("You don't need a helmet, and kids can't ride alone.", {"need", "helmet", "ride", "alone"}),
     ("Gift cards never expire.", {"expire"}),
     ("Refunds are accepted within 30 days.", set())],
)  # fmt: skip
def test_negation_reaches_to_the_end_of_its_clause(sentence: str, negated: set[str]) -> None:
    assert negated_words(sentence) == negated


@pytest.mark.parametrize(
    ("claim", "code"),
    [("Helmets are not recommended.", "fact.contradicted"),  # negated claim, the source negates another word
     ("Helmets are recommended but not required.", "fact.supported"),
     ("Helmets aren't recommended.", "fact.contradicted"),  # a contraction negates too
     ("Helmets are not required.", "fact.supported")],
)  # fmt: skip
def test_negation_is_compared_word_by_word_when_both_sides_negate(claim: str, code: str) -> None:
    spec = claims_spec()  # its rules say "Helmets are recommended but not required."
    assert [f.code for f in validate_example(conv(claim), spec, checks=["facts"])] == [code]


def test_verified_claims_are_reported_as_verified(kb: KnowledgeBase) -> None:
    claim = "Our robots are painted orange."
    spec = ProjectSpec(knowledge_base=kb, verified_claims={claim_hash("our robots are  painted orange"): "photo 12"})
    found = validate_example(conv(claim), spec, checks=["facts"])
    assert codes(found) == {"fact.verified"}
    assert found[0].evidence["source"] == "photo 12"


def test_fact_check_runs_only_when_asked(kb: KnowledgeBase) -> None:
    spec = ProjectSpec(knowledge_base=kb)
    ex = conv("Our robots are painted orange.")
    assert validate_example(ex, spec) == []
    assert codes(validate_example(ex, spec, fact_check=True)) == {"fact.unsupported"}
    assert validate_example(ex, ProjectSpec(), fact_check=True) == []


@pytest.mark.skipif(not embeddings_available(), reason="embedding model not installed")
def test_embedding_similarity_supports_a_paraphrase() -> None:
    from validators import default_embedder

    embedder = default_embedder()
    kb = KnowledgeBase.build(KB_DOCUMENTS, facts=KB_FACTS, embedder=embedder)
    assert kb.vectors is not None
    assert kb.vectors.shape[1] == 384
    found = validate_example(conv("Books you buy can be returned for your money back for a month."),
                             ProjectSpec(knowledge_base=kb), checks=["facts"])  # fmt: skip
    assert found[0].evidence["similarity"] > 0.3
    assert found[0].evidence["source"] == "policies"


REFUND_FACT = "Refunds are available within 30 days of purchase."
UNRELATED_FACTS = [
    "Standard shipping takes 5 business days.",
    "Gift cards never expire.",
    "Support is available within business hours.",
    "Gift cards are available for purchase in every store.",
    "Refunds are available for every purchase.",  # on the topic, but silent on the number of days
]


def _verdict(facts: list[str], claim: str = "Refunds are available within 90 days of purchase.") -> list[tuple]:
    found = validate_example(conv(claim), ProjectSpec(knowledge_base=KnowledgeBase.build(facts=facts)),
                             checks=["facts"])  # fmt: skip
    return [(f.code, f.evidence.get("passage"), f.message) for f in found]


def test_a_claim_contradicting_the_only_fact_is_contradicted() -> None:
    # One fact: every word of it is in "all" passages, which Okapi's idf weighs at or below zero; the fact
    # must still be found and settle the claim.
    assert _verdict([REFUND_FACT]) == [
        ("fact.contradicted", REFUND_FACT, "The claim says '90 days' where the source says '30 days'.")
    ]
    assert _verdict([REFUND_FACT], "Refunds are available within 30 days of purchase.")[0][0] == "fact.supported"


@pytest.mark.parametrize("extra", [1, 2, 3, len(UNRELATED_FACTS)])
def test_unrelated_facts_do_not_change_the_verdict(extra: int) -> None:
    alone = _verdict([REFUND_FACT])
    assert _verdict([REFUND_FACT, *UNRELATED_FACTS[:extra]]) == alone
    assert _verdict([*UNRELATED_FACTS[-extra:], REFUND_FACT]) == alone


def test_bm25_idf_is_positive_for_a_term_in_every_passage() -> None:
    from validators.knowledge import bm25_idf

    assert bm25_idf(1, 1) > 0
    assert bm25_idf(10, 10) > 0
    assert bm25_idf(10, 1) > bm25_idf(10, 5) > bm25_idf(10, 10)
    kb = KnowledgeBase.build(facts=[REFUND_FACT])
    assert [i for i, _ in kb.search("refunds within 90 days")] == [0]
