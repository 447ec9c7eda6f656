"""The curation benchmark's data and its judging of answers (benchmarks/curation_data.py, bench_curation.py):
the clean set passes the platform's checks, every injected defect is what it says, answers are judged right."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name: str):
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


data = _load("curation_data")
bench = _load("bench_curation")


@pytest.fixture(scope="module")
def judge():
    return bench.Judge()


def test_sets_are_deterministic_and_sized():
    clean = data.clean_set()
    assert len(clean) == 48
    assert {c: sum(e.category == c for e in clean) for c in data.CATEGORIES} == {
        "billing": 9, "technical": 9, "delivery": 9, "account": 9, "general": 12,
    }  # fmt: skip
    assert [e.messages for e in data.noisy_set(3)] == [e.messages for e in data.noisy_set(3)]
    assert [e.messages for e in data.noisy_set(3)] != [e.messages for e in data.noisy_set(4)]
    held_questions = {h.prompt[-1]["content"] for h in data.held_out_set()}
    assert not held_questions & {e.messages[1]["content"] for e in clean}


def test_clean_set_passes_the_platform_checks_and_the_house_format(judge):
    for example in data.clean_set():
        assert not judge.flags(example), example.messages
        assert data.house_format_ok(example.answer, example.category)


def test_noisy_set_carries_the_stated_noise(judge):
    noisy = data.noisy_set(0)
    formatted = [e for e in noisy if e.defects]
    contradicted = [e for e in noisy if e.contradicted]
    assert len(formatted) == round(0.3 * 48)
    assert len(contradicted) == round(0.3 * 36)
    for example in noisy:
        assert example.truth == next(c.messages for c in data.clean_set() if c.messages[1] == example.messages[1])
        if not example.corrupted:
            assert example.messages == example.truth
    for example in contradicted:
        assert data.fact_outcome(example.answer, example.fact) == "outdated"
        assert judge.flags(example)
    for example in formatted:
        # Every defect but doubled spaces breaks the structure.
        assert data.house_format_ok(example.answer, example.category) == (example.defects == ("double_space",))
        codes = judge.codes_in_answer(example.messages[:-1], example.answer)
        wanted = bench.DEFECT_CODES.get(example.defects[0])
        if wanted is None:  # steps run into one line: no formatting finding, only the house format breaks
            assert not {c for c in codes if c.startswith("fmt.")}
        else:
            assert wanted in codes


def test_reviewed_set_restores_only_the_flagged_examples():
    noisy = data.noisy_set(1)
    flagged = {i for i, e in enumerate(noisy) if e.corrupted}
    some = set(sorted(flagged)[:3])
    reviewed = data.reviewed_set(noisy, some)
    assert [e.messages for e in data.reviewed_set(noisy, flagged)] == [e.messages for e in data.clean_set()]
    assert sum(e.corrupted for e in reviewed) == len(flagged) - 3
    assert all(reviewed[i].messages == reviewed[i].truth for i in some)


def test_unbalanced_set_is_mostly_one_category():
    unbalanced = data.unbalanced_set(0)
    assert len(unbalanced) == len(data.clean_set())
    assert sum(e.category == "billing" for e in unbalanced) == round(0.8 * 48)
    assert len({e.messages[1]["content"] for e in unbalanced}) == len(unbalanced)


def test_answers_are_judged_by_the_platform_checks(judge):
    held_out = data.held_out_set()
    perfect = bench.score_answers(judge, held_out, [h.reference for h in held_out])
    assert (perfect.defect_rate, perfect.house_format_rate, perfect.fact_accuracy) == (0.0, 1.0, 1.0)
    assert perfect.contradicted_rate == 0.0
    first = data.FACTS_BY_KEY[held_out[0].fact]
    broken = [data.support_answer(first, first.outdated).replace("- ", "* ") + "  ok"]
    broken += [h.reference for h in held_out[1:]]
    scores = bench.score_answers(judge, held_out, broken)
    assert scores.defect_rate == pytest.approx(1 / 18)
    assert scores.by_code == {"fmt.list_style": 1, "fmt.double_space": 1}  # two defects, one answer
    assert scores.fact_accuracy == pytest.approx(11 / 12)
    assert scores.outdated_rate == pytest.approx(1 / 12)
    assert scores.contradicted_rate == pytest.approx(1 / 12)


def test_gap_closed():
    assert bench.gap_closed(0.1, 0.5, 0.2, answers=18) == pytest.approx(0.75)
    assert bench.gap_closed(0.1, 0.1 + 0.5 / 18, 0.1, answers=18) is None  # under one answer
    assert bench.gap_closed(0.5, 0.1, 0.1, answers=18) is None  # the noisy set did better
