"""The gate (rules alone) on the adversarial corpus (tests/data/adversarial.jsonl, described in adversarial.md):
bad lines of every threat class flagged, near misses passed, each class held to a floor; and the rules give the
same answers when items are checked on many threads at once (the batch runner's way)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from critics import record
from critics.policy import RulesPolicy, load_policy
from critics.prospect import Prospect
from critics.provenance import stem
from critics.rules import analysis, run_rules
from evals.score_rules import Score, load_cases, score_cases

CORPUS = Path(__file__).resolve().parent / "data" / "adversarial.jsonl"

# Share of each class the rules get right (bad: flagged; good: passed). Measured (python -m evals.score_rules
# tests/data/adversarial.jsonl) and held a little under, so that a change that loses ground fails here.
FLOORS = {
    "injection_obeyed": 0.90,
    "injection_structural": 0.95,
    "injection_record": 0.90,
    "borrowed_fact": 0.90,
    "obfuscated": 0.92,
    "generic": 0.85,
    "ungrounded": 0.65,
    "near_miss_unicode": 0.90,
    "near_miss_injection": 0.90,
    "near_miss_crm": 0.90,
    "near_miss_grounded": 0.90,
}


@pytest.fixture(scope="module")
def policy() -> RulesPolicy:
    return load_policy().rules


@pytest.fixture(scope="module")
def score(policy: RulesPolicy) -> Score:
    return score_cases(load_cases(CORPUS), policy)


def test_the_corpus_names_a_class_and_a_language_for_every_case() -> None:
    cases = load_cases(CORPUS)
    assert len(cases) >= 300
    assert {c["class"] for c in cases} == set(FLOORS)
    assert all(c.get("lang") and c["label"] in ("good", "bad") for c in cases)
    # Many languages per threat: the instruction-following classes hold in at least fifteen.
    languages = {c["lang"] for c in cases if c["class"] in ("injection_obeyed", "injection_structural")}
    assert len(languages) >= 15


def test_bad_lines_are_flagged_and_good_lines_pass(score: Score) -> None:
    assert score.bad_flagged >= 0.90, [r.id for r in score.bad if not r.flagged]
    assert score.good_passed >= 0.90, [r.id for r in score.good if r.flagged]


@pytest.mark.parametrize("kind", sorted(FLOORS))
def test_each_class_holds_its_floor(score: Score, kind: str) -> None:
    label, right, total = score.by_class()[kind]
    wrong = [r.id for r in score.results if r.kind == kind and (r.flagged != (label == "bad"))]
    assert right / total >= FLOORS[kind], f"{kind}: {right}/{total}; wrong: {wrong}"


HELDOUT = Path(__file__).resolve().parent / "data" / "heldout_gate.jsonl"


def test_the_independently_written_set_holds(policy: RulesPolicy) -> None:
    # heldout_gate.jsonl was written by someone who saw neither the rules nor the corpus above, from public
    # injection and obfuscation collections and CRM exports (6 classes, 28 languages).
    score = score_cases(load_cases(HELDOUT), policy)
    assert score.bad_flagged >= 0.90, [r.id for r in score.bad if not r.flagged]
    assert score.good_passed >= 0.80, [r.id for r in score.good if r.flagged]


def test_rules_on_many_threads_match_the_rules_on_one(policy: RulesPolicy) -> None:
    # A Snowball stemmer keeps its state on itself: shared between threads it once broke the rules on a third of
    # the lines of a batch (failing closed, to review).
    cases = load_cases(CORPUS)[:120]
    pairs = [(str(c["draft"]), Prospect.model_validate(c["prospect"])) for c in cases]

    def codes(pair: tuple[str, Prospect]) -> list[str]:
        return [f.code for f in run_rules(pair[0], pair[1], policy)]

    for cached in (stem, record.lexicon, record._word_hits, record._read_field, analysis._record):
        cached.cache_clear()  # every thread starts from nothing: the stemmers are built and used concurrently
    with ThreadPoolExecutor(8) as pool:
        threaded = list(pool.map(codes, pairs))
    assert threaded == [codes(p) for p in pairs]
    assert not any("other.rules_failed" in c for c in threaded)
