"""The second, separately written corpus: secrets (positives and negatives), claims, general defects.

Floors are below the measured figures (benchmarks/bench_validators.py prints them) so a regression fails.
"""

from __future__ import annotations

import pytest

from tests.validators.corpus import corpus_spec, facts_corpus, facts_spec
from tests.validators.corpus_b import (
    GENERIC_BUILDERS,
    NEGATIVE_BUILDERS,
    VENDOR_BUILDERS,
    claims_corpus,
    claims_spec,
    general_corpus_b,
    secrets_corpus,
)
from tests.validators.scoring import score, unsupported_rate
from validators import ExampleInput, validate_example
from validators.factcheck import check_worthy

FACT_CODES = {"fact.supported", "fact.contradicted", "fact.unsupported"}


def test_secrets_corpus_covers_at_least_15_vendor_formats_and_quiet_look_alikes():
    assert len(VENDOR_BUILDERS) >= 15
    assert len(GENERIC_BUILDERS) >= 4
    assert len(NEGATIVE_BUILDERS) >= 15


def test_secrets_precision_and_recall():
    results = score(secrets_corpus(), corpus_spec(), {"pii.api_key", "pii.secret"}, checks=["pii"])
    for code, result in results.items():
        assert result["positives"] >= 15, (code, result)
        assert result["precision"] >= 0.95, (code, result)
        assert result["recall"] >= 0.95, (code, result)


@pytest.mark.parametrize("name", sorted(NEGATIVE_BUILDERS))
def test_each_look_alike_stays_quiet(name):
    for item in secrets_corpus():
        if item["name"] == name:
            found = validate_example(ExampleInput.from_dict(item["example"]), corpus_spec(), checks=["pii"])
            assert not [f for f in found if f.code in ("pii.api_key", "pii.secret")], (item, found)


def test_a_stripe_live_key_in_a_response_is_an_api_key():
    key = "sk_" + "live_" + "4Fq9ZtW2LmX7pK3vR8sN1yB6"
    found = validate_example(ExampleInput.from_dict({"messages": [
        {"role": "user", "content": "Which key?"}, {"role": "assistant", "content": f"Use {key} for payouts."}]}),
        checks=["pii"])  # fmt: skip
    assert [(f.code, f.evidence["kind"], f.evidence["text"]) for f in found] == [("pii.api_key", "stripe", key)]


@pytest.mark.parametrize(
    "sentence",
    ["Let me know if anything is unclear.", "Hope this helps!", "Feel free to ask if you have any other questions.",
     "I hope that answers your question.", "Here's what you need to know.", "Sorry for the confusion earlier."],
)  # fmt: skip
def test_conversational_sentences_are_no_claims(sentence):
    assert not check_worthy(sentence)


@pytest.mark.parametrize(
    "sentence",
    ["Gift cards never expire.", "Refunds are accepted within 30 days.", "Velora operates in Ghent and Leuven.",
     "Let me know by Friday if the 60 euro pass suits you.", "Audiobooks are narrated by professional actors."],
)  # fmt: skip
def test_check_worthy_sentences_are_claims(sentence):
    assert check_worthy(sentence)


def test_clean_supported_responses_rarely_get_fact_unsupported():
    rate, flagged = unsupported_rate(claims_corpus(), claims_spec())
    assert rate <= 0.03, flagged


def test_claims_corpus_precision_and_recall():
    results = score(claims_corpus(), claims_spec(), FACT_CODES, fact_check=True, checks=[])
    # fact.contradicted: every contradiction found since negations are compared word by word (1.0 measured),
    # and never a false one.
    floors = {"fact.supported": (0.95, 0.95), "fact.contradicted": (1.0, 0.95), "fact.unsupported": (0.9, 0.9)}
    for code, (precision, recall) in floors.items():
        assert results[code]["positives"] >= 25, (code, results[code])
        assert results[code]["precision"] >= precision, (code, results[code])
        assert results[code]["recall"] >= recall, (code, results[code])


def test_the_first_corpus_keeps_its_contradictions():
    results = score(facts_corpus(), facts_spec(), FACT_CODES, fact_check=True, checks=[])
    assert results["fact.contradicted"]["recall"] == 1.0, results["fact.contradicted"]
    assert results["fact.contradicted"]["precision"] >= 0.95


def test_general_corpus_b_precision_and_recall():
    items = general_corpus_b()
    codes = {code for item in items for code in item["labels"]}
    results = score(items, corpus_spec(), codes)
    for code, result in results.items():
        assert result["positives"] >= 10, (code, result)
        assert result["precision"] >= 0.9, (code, result)
        assert result["recall"] >= 0.9, (code, result)
