"""Run evals on the app's models and store them: the drafter comparison on the test split, and the critic eval.

Every job (one case drafted and gated under one variant, or one human-judged line gated) is stored the moment it
finishes; a run is known by the hash of everything that decides its results, so the same command after a stop
resumes the unfinished run and draws only the missing jobs.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

from critics.context import screen
from critics.critic import critique
from critics.gate import decide_route
from critics.prospect import Prospect
from evals.critic_eval import CriticOutcome, critic_report
from evals.drafter_eval import EvalCase, Outcome, case_passed, compare, report, run_case
from evals.fewshot import Example, human_line, nearest
from firstpass.db.evalruns import JudgedLine, StoredResult
from firstpass.service import Firstpass
from firstpass.session import check_prompt
from graph.models import critic_for, drafter_for
from graph.nodes import limits, safe_rules
from graph.state import Context
from prompts.loader import PromptTemplate, load_prompt, render, rendered_hash


class EvalError(ValueError):
    """An eval run that cannot start: no cases, an unknown version, nothing failing to rerun."""


@dataclass(frozen=True)
class EvalPlan:
    """What an eval run compares, on which cases, and how."""

    candidate: str
    baseline: str
    critic_prompt: str | None = None
    few_shot: int = 0
    repeat: int = 1
    limit: int | None = None
    only_failing: bool = False
    critic_eval: bool = True
    concurrency: int = 4

    @property
    def candidate_label(self) -> str:
        """The candidate's name in reports: its version, with the few-shot count when it has examples."""
        return f"{self.candidate}+{self.few_shot}shot" if self.few_shot else self.candidate


@dataclass(frozen=True)
class EvalResult:
    """A finished (or resumed and finished) run: its id, whether it resumed, and its report."""

    run_id: int
    resumed: bool
    reused: int
    report: dict[str, Any]


def live_cases(app: Firstpass, split: str) -> list[dict[str, Any]]:
    """The eval cases of a split that nothing has withdrawn, oldest first."""
    return [c for c in app.store.eval_cases() if c["split"] == split and c["withdrawn_at"] is None]


def test_cases(app: Firstpass, limit: int | None = None) -> list[EvalCase]:
    """The eval cases that judge prompts: the test split, withdrawn ones left out, oldest first."""
    cases = [EvalCase(c["case_key"], c["prospect"], human_line(c)) for c in live_cases(app, "test")]
    return cases[:limit] if limit else cases


def example_pool(app: Firstpass) -> list[Example]:
    """The train split's cases with a line a human approved or wrote: what few-shot examples are drawn from."""
    return [Example(c["case_key"], c["prospect"], line, c["split"]) for c in live_cases(app, "train")
            if (line := human_line(c))]


def example_turns(prompt: PromptTemplate, shots: list[Example], ctx: Context) -> list[dict[str, str]]:
    """Examples as chat turns: each record asked the way a real one is (screened, context columns only), answered
    with the human's line (screened too)."""
    bare = prompt.model_copy(update={"examples": []})
    return [{"user": render(bare, Prospect.model_validate(e.prospect).prompt_fields(), limits=limits(ctx))[-1]
             ["content"], "assistant": screen(e.line)} for e in shots]


def with_examples(prompt: PromptTemplate, shots: list[Example], ctx: Context) -> PromptTemplate:
    """The prompt with the examples added as earlier chat turns."""
    return prompt.model_copy(update={"examples": [*prompt.examples, *example_turns(prompt, shots, ctx)]})


def failing_keys(app: Firstpass, label: str) -> set[str]:
    """The cases the newest finished run with this candidate failed on."""
    for run in app.store.eval_runs.runs(finished_only=True):
        drafter = (run["report"] or {}).get("drafter")
        if drafter and drafter["candidate"]["version"] == label:
            return {c["key"] for c in drafter["cases"] if not c["candidate"]["passed"]}
    raise EvalError(f"--only failing needs an earlier finished run of {label}; there is none: run without it first")


def _hash(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def run_evals(app: Firstpass, plan: EvalPlan, on_total: Callable[[int], None] | None = None,
              on_done: Callable[[], None] | None = None) -> EvalResult:
    """Run (or resume) the drafter comparison and the critic eval, store every job as it ends, and the report."""
    if plan.baseline == plan.candidate_label:
        raise EvalError(f"{plan.candidate} against itself compares nothing: name another --baseline, or add"
                        " --few-shot K to see what examples do")
    ctx = app.context if plan.critic_prompt is None else app.context.model_copy(
        update={"critic_prompt": plan.critic_prompt})
    prompts = {plan.baseline: load_prompt("drafter", plan.baseline), plan.candidate: load_prompt("drafter", plan.candidate)}
    critic_prompt = ctx.critic_template()
    for template in (*prompts.values(), critic_prompt):
        check_prompt(app.store, template)
    cases = test_cases(app)
    if plan.only_failing:
        keep = failing_keys(app, plan.candidate_label)
        cases = [c for c in cases if c.key in keep]
    cases = cases[:plan.limit] if plan.limit else cases
    judged = app.store.eval_runs.judged_lines() if plan.critic_eval else []
    if not cases and not judged:
        raise EvalError("no eval cases to run: import some (firstpass eval import FILE) or review lines in the panel")
    pool = example_pool(app) if plan.few_shot else []
    config = {
        "baseline": plan.baseline, "baseline_sha": prompts[plan.baseline].sha256, "candidate": plan.candidate_label,
        "candidate_sha": prompts[plan.candidate].sha256, "critic": critic_prompt.version,
        "critic_sha": critic_prompt.sha256, "few_shot": plan.few_shot, "repeat": plan.repeat,
        "critic_eval": plan.critic_eval, "policy": _hash(ctx.policy.model_dump(mode="json"))[:16],
        "models": {role: spec.model_dump(mode="json", include={"provider", "model", "base_url", "temperature",
                                                              "max_tokens"})
                   for role, spec in (("drafter", ctx.drafter), ("critic", ctx.critic))},
    }
    set_hash = _hash([[c.key, c.final] for c in cases] + [[j.key, j.ok, list(j.categories)] for j in judged])[:16]
    run_id, resumed = app.store.eval_runs.open(_hash([config, set_hash]), config, set_hash)
    done = {(r.kind, r.case_key, r.variant, r.repeat) for r in app.store.eval_runs.results(run_id)}
    drafter, critic = drafter_for(ctx.drafter), critic_for(ctx.critic)
    variants = {plan.baseline: prompts[plan.baseline], plan.candidate_label: prompts[plan.candidate]}

    def prompt_for(variant: str, case: EvalCase) -> PromptTemplate:
        if variant == plan.candidate_label and plan.few_shot:
            return with_examples(variants[variant], nearest(case.prospect, pool, plan.few_shot), ctx)
        return variants[variant]

    def gate(prospect: Prospect, line: str, key: str) -> tuple[bool, list[Any], float | None, bool]:
        findings = safe_rules(line, prospect, ctx)
        result = critique(critic, critic_prompt, line, prospect, limits=limits(ctx))
        findings += result.findings
        route = decide_route(findings, result.confidence, ctx.policy.route, key=key)
        return route.route == "auto", findings, result.confidence, result.failed

    def drafter_job(case: EvalCase, variant: str, repeat: int) -> StoredResult:
        prospect = Prospect.model_validate(case.prospect)
        messages = render(prompt_for(variant, case), prospect.prompt_fields(), limits=limits(ctx))

        def draft(_v: str, _c: EvalCase, _r: int) -> str:
            return drafter.complete(messages).strip()

        def verdict(c: EvalCase, line: str) -> tuple[bool, tuple[str, ...]]:
            passed, findings, _conf, _failed = gate(prospect, line, c.key)
            return passed, tuple(sorted({f.category for f in findings}))

        outcome = run_case(case, variant, repeat, draft, verdict)
        return StoredResult("drafter", case.key, variant, repeat, asdict(outcome), rendered_hash(messages))

    def critic_job(line: JudgedLine) -> StoredResult:
        passed, findings, confidence, failed = gate(Prospect.model_validate(line.prospect), line.line, line.key)
        outcome = CriticOutcome(line.key, line.ok, not passed, confidence, tuple(sorted({f.category for f in findings})),
                                tuple(sorted({f.code for f in findings if f.source == "rule"})), line.categories, failed)
        return StoredResult("critic", line.key, critic_prompt.version, 0, asdict(outcome))

    jobs: list[Callable[[], StoredResult]] = []
    for case in cases:
        for variant in variants:
            for r in range(plan.repeat):
                if ("drafter", case.key, variant, r) not in done:
                    jobs.append(partial(drafter_job, case, variant, r))
    for line in judged:
        if ("critic", line.key, critic_prompt.version, 0) not in done:
            jobs.append(partial(critic_job, line))
    if on_total:
        on_total(len(jobs))
    workers = ThreadPoolExecutor(max_workers=max(1, plan.concurrency), thread_name_prefix="firstpass-eval")
    try:
        for future in as_completed([workers.submit(job) for job in jobs]):
            app.store.eval_runs.save(run_id, future.result())
            if on_done:
                on_done()
    finally:
        # On Ctrl-C or an error, jobs not yet started are dropped: what finished is stored, the rest is resumed.
        workers.shutdown(wait=True, cancel_futures=True)
    data = build_report(app, run_id, plan, cases, judged, config, set_hash)
    app.store.eval_runs.finish(run_id, data)
    return EvalResult(run_id, resumed, len(done), data)


def build_report(app: Firstpass, run_id: int, plan: EvalPlan, cases: list[EvalCase], judged: list[JudgedLine],
                 config: dict[str, Any], set_hash: str) -> dict[str, Any]:
    """The run's report from its stored results: run facts, the drafter comparison per case, the critic eval."""
    stored = app.store.eval_runs.results(run_id)
    outcomes = [Outcome(**{**r.result, "categories": tuple(r.result["categories"])}) for r in stored
                if r.kind == "drafter"]
    run = app.store.eval_runs.run(run_id) or {}
    head = {"id": run_id, "created_at": run.get("created_at"), "finished_at": time.time(), "set_hash": set_hash,
            "cases": len(cases), "judged_lines": len(judged), "repeat": plan.repeat, "few_shot": plan.few_shot,
            "models": {role: m["model"] for role, m in config["models"].items()},
            "prompts": {"baseline": plan.baseline, "candidate": plan.candidate_label, "critic": config["critic"]}}
    drafter = None
    if cases:
        comparison = compare(cases, plan.baseline, plan.candidate_label, outcomes)
        drafter = {**report(comparison), "cases": _case_rows(cases, outcomes, plan, comparison.newly_fixed,
                                                             comparison.newly_failing)}
    critic = None
    if judged:
        wanted = {j.key for j in judged}
        critic_outcomes = [CriticOutcome(**{**r.result, **{k: tuple(r.result[k]) for k in
                                                           ("categories", "rules", "human_categories")}})
                           for r in stored if r.kind == "critic" and r.case_key in wanted]
        critic = critic_report(critic_outcomes, config["critic"])
    return {"run": head, "drafter": drafter, "critic": critic}


def _case_rows(cases: list[EvalCase], outcomes: list[Outcome], plan: EvalPlan, fixed: list[str],
               failing: list[str]) -> list[dict[str, Any]]:
    by: dict[tuple[str, str], list[Outcome]] = {}
    for o in sorted(outcomes, key=lambda o: o.repeat):
        by.setdefault((o.case, o.version), []).append(o)

    def side(key: str, variant: str) -> dict[str, Any]:
        runs = by.get((key, variant), [])
        first = runs[0] if runs else None
        return {"line": first.line if first else "", "passed": case_passed(runs) if runs else False,
                "categories": sorted({c for o in runs for c in o.categories}),
                "similarity": first.similarity if first else None, "error": first.error if first else None,
                "flaky": len({o.passed for o in runs}) > 1}

    order = {"newly failing": 0, "newly fixed": 1, "same": 2}
    rows = [{"key": c.key, "prospect": c.prospect, "final": c.final,
             "change": "newly failing" if c.key in failing else "newly fixed" if c.key in fixed else "same",
             "baseline": side(c.key, plan.baseline), "candidate": side(c.key, plan.candidate_label)} for c in cases]
    return sorted(rows, key=lambda r: order[str(r["change"])])


def history_row(run: dict[str, Any]) -> dict[str, Any]:
    """One run's headline figures, for the history table and the panel's Evals tab."""
    config, report = run["config"], run["report"] or {}
    drafter, critic = report.get("drafter"), report.get("critic")
    rates = {s: drafter[s]["pass_rate"] if drafter else None for s in ("baseline", "candidate")}
    return {"cases": report.get("run", {}).get("cases", "-"),
            "baseline": (config["baseline"], rates["baseline"]), "candidate": (config["candidate"], rates["candidate"]),
            "verdict": drafter["verdict"] if drafter else ("unfinished" if not run["finished_at"] else "-"),
            "critic": config["critic"], "kappa": critic["kappa"] if critic else None,
            "brier": critic["brier"] if critic else None}
