"""Run the drafter eval on the app's models: the test split's cases, drafted with two prompt versions, gated."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from critics.critic import critique
from critics.gate import decide_route
from critics.prospect import Prospect
from evals.drafter_eval import Comparison, EvalCase, Outcome, compare, run_case
from firstpass.service import Firstpass
from graph.models import critic_for, drafter_for
from graph.nodes import limits, safe_rules
from prompts.loader import load_prompt, render


def test_cases(app: Firstpass, limit: int | None = None) -> list[EvalCase]:
    """The eval cases that judge prompts: the test split, withdrawn ones left out, oldest first."""
    cases = [EvalCase(c["case_key"], c["prospect"], c["final_line"]) for c in app.store.eval_cases()
             if c["split"] == "test" and c["withdrawn_at"] is None]
    return cases[:limit] if limit else cases


def run_drafter_eval(app: Firstpass, baseline: str, candidate: str, repeat: int = 1, limit: int | None = None,
                     concurrency: int = 4, on_done: Callable[[Outcome], None] | None = None) -> Comparison:
    """Draft every test case with both versions (`repeat` times each), gate each line, and compare, paired."""
    cases = test_cases(app, limit)
    ctx = app.context
    drafter, critic = drafter_for(ctx.drafter), critic_for(ctx.critic)
    prompts = {v: load_prompt("drafter", v) for v in (baseline, candidate)}

    def draft(version: str, case: EvalCase, _repeat: int) -> str:
        fields = Prospect.model_validate(case.prospect).prompt_fields()
        return drafter.complete(render(prompts[version], fields, limits=limits(ctx))).strip()

    def gate(case: EvalCase, line: str) -> tuple[bool, tuple[str, ...]]:
        prospect = Prospect.model_validate(case.prospect)
        findings = safe_rules(line, prospect, ctx)
        result = critique(critic, ctx.critic_template(), line, prospect, limits=limits(ctx))
        findings += result.findings
        route = decide_route(findings, result.confidence, ctx.policy.route, key=case.key)
        return route.route == "auto", tuple(sorted({f.category for f in findings}))

    jobs = [(case, version, r) for case in cases for version in (baseline, candidate) for r in range(repeat)]
    outcomes: list[Outcome] = []
    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="firstpass-eval") as pool:
        for outcome in pool.map(lambda job: run_case(job[0], job[1], job[2], draft, gate), jobs):
            outcomes.append(outcome)
            if on_done:
                on_done(outcome)
    return compare(cases, baseline, candidate, outcomes)
