"""The drafter eval: paired comparison of two prompt versions on the test split, its verdict, and the command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.drafter_eval import EvalCase, compare, report, run_case
from firstpass.cli import main

from tests.conftest import DEV_SET
from tests.test_cli import stub  # noqa: F401 - the stub model server fixture

CASES = [EvalCase(f"c{i}", {"first_name": "Dana", "company": f"Co {i}"}, final=f"Co {i} opened a plant.")
         for i in range(20)]


def _outcomes(baseline_passes: set[int], candidate_passes: set[int], flaky: set[int] = frozenset()) -> list:
    def gate(case: EvalCase, line: str) -> tuple[bool, tuple[str, ...]]:
        i = int(case.key[1:])
        passed = i in (candidate_passes if "new" in line else baseline_passes)
        if i in flaky and line.endswith("#1"):
            passed = not passed
        return passed, () if passed else ("tone",)

    def draft(version: str, case: EvalCase, repeat: int) -> str:
        return f"{case.prospect['company']} opened a plant ({version}) #{repeat}"

    return [run_case(c, v, r, draft, gate) for c in CASES for v in ("old", "new") for r in range(2)]


def test_a_clear_improvement_and_a_regression() -> None:
    better = compare(CASES, "old", "new", _outcomes(set(range(5)), set(range(18))))
    assert (len(better.newly_fixed), len(better.newly_failing)) == (13, 0)
    assert better.paired.verdict == "improved" and better.candidate.passed.k == 18
    worse = compare(CASES, "old", "new", _outcomes(set(range(18)), set(range(5))))
    assert worse.paired.verdict == "regressed"
    data = report(worse)
    assert data["verdict"] == "regressed" and data["paired"]["newly_failing"] == 13
    assert data["baseline"]["wilson_95"][0] < data["baseline"]["pass_rate"] < data["baseline"]["wilson_95"][1]


def test_small_differences_are_called_undetectable_and_flaky_cases_named() -> None:
    close = compare(CASES, "old", "new", _outcomes(set(range(10)), set(range(12)), flaky={3}))
    assert close.paired.verdict == "no detectable difference at n = 20"
    assert close.baseline.flaky == ["c3"] and close.candidate.flaky == ["c3"]
    assert close.candidate.mean_similarity is not None and 0 < close.candidate.mean_similarity < 100


def test_a_model_error_is_a_failed_case_not_a_crashed_run() -> None:
    def broken(version: str, case: EvalCase, repeat: int) -> str:
        raise TimeoutError("model timed out")

    outcome = run_case(CASES[0], "new", 0, broken, lambda c, line: (True, ()))
    assert not outcome.passed and outcome.error == "TimeoutError: model timed out"


def test_eval_run_on_the_command_line_against_a_model_server(stub: str, tmp_path: Path,  # noqa: F811
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "run", "--drafter-prompt", "drafter-v1", "--few-shot", "2"]) == 1
    assert "no eval cases" in capsys.readouterr().err
    assert main(["eval", "import", str(DEV_SET)]) == 0
    out = tmp_path / "report.json"
    assert main(["eval", "run", "--drafter-prompt", "drafter-v1", "--few-shot", "2", "--limit", "6",
                 "--json-out", str(out), "--fail-on-regression"]) == 0
    text = capsys.readouterr().out
    assert "verdict: no detectable difference at n = 6" in text and "Wilson" in text
    data = json.loads(out.read_text())
    assert data["drafter"]["baseline"]["cases"] == 6 and data["drafter"]["paired"]["mcnemar_exact_p"] == 1.0
    assert data["drafter"]["candidate"]["version"] == "drafter-v1+2shot" and data["critic"]["n"] == 60
    assert main(["eval", "run", "--drafter-prompt", "drafter-v1"]) == 1  # against itself, without examples
    assert "compares nothing" in capsys.readouterr().err
    assert main(["eval", "run", "--drafter-prompt", "drafter-v9"]) == 2
