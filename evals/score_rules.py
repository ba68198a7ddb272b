"""Score the deterministic rules alone on a labelled JSONL set: bad lines flagged, good lines passed.

Usage: python -m evals.score_rules [PATH]   (default: ../shared/data/dev.jsonl beside the repo)
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from critics.findings import Finding
from critics.policy import RulesPolicy, load_policy
from critics.prospect import Prospect
from critics.rules import run_rules

DEFAULT_PATH = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dev.jsonl"


@dataclass
class CaseResult:
    """One labelled case and what the rules found in it."""

    id: str
    label: str
    errors: list[str]
    draft: str
    findings: list[Finding]
    kind: str = ""

    @property
    def flagged(self) -> bool:
        """Did any rule fire?"""
        return bool(self.findings)

    @property
    def categories(self) -> set[str]:
        """The taxonomy categories the rules found."""
        return {f.category for f in self.findings}


@dataclass
class Score:
    """Headline numbers for the rules on one labelled set."""

    results: list[CaseResult] = field(default_factory=list)

    @property
    def bad(self) -> list[CaseResult]:
        """Bad cases, leaving aside those whose only error is tone (left to the critic)."""
        return [r for r in self.results if r.label == "bad" and set(r.errors) != {"tone"}]

    @property
    def good(self) -> list[CaseResult]:
        """Good cases."""
        return [r for r in self.results if r.label == "good"]

    @property
    def bad_flagged(self) -> float:
        """Share of bad cases (tone-only aside) with at least one finding."""
        return sum(r.flagged for r in self.bad) / len(self.bad) if self.bad else 1.0

    @property
    def good_passed(self) -> float:
        """Share of good cases with no finding."""
        return sum(not r.flagged for r in self.good) / len(self.good) if self.good else 1.0

    def by_class(self) -> dict[str, tuple[str, int, int]]:
        """For each threat or near-miss class of a labelled corpus: (label, cases handled right, cases), where right
        means flagged for a bad line and passed for a good one."""
        out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        labels: dict[str, str] = {}
        for r in self.results:
            if not r.kind:
                continue
            labels[r.kind] = r.label
            out[r.kind][1] += 1
            out[r.kind][0] += r.flagged if r.label == "bad" else not r.flagged
        return {k: (labels[k], v[0], v[1]) for k, v in sorted(out.items())}

    def category_recall(self) -> dict[str, tuple[int, int]]:
        """For each labelled error category: (cases where a rule found that category, cases with it)."""
        out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for r in self.results:
            if r.label != "bad":
                continue
            for category in r.errors:
                out[category][1] += 1
                out[category][0] += category in r.categories
        return {k: (v[0], v[1]) for k, v in sorted(out.items())}


def load_cases(path: Path) -> list[dict[str, object]]:
    """Read a labelled JSONL file; a bad line raises ValueError naming the file and line number."""
    cases = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            cases.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{number}: not valid JSON: {exc}") from exc
    return cases


def score_cases(cases: list[dict[str, object]], policy: RulesPolicy | None = None) -> Score:
    """Run the rules on every case and collect the results."""
    rules_policy = policy or load_policy().rules
    score = Score()
    for case in cases:
        prospect = Prospect.model_validate(case["prospect"])
        draft = str(case["draft"])
        score.results.append(CaseResult(
            id=str(case.get("id", "")), label=str(case["label"]), errors=list(case.get("errors") or []),  # type: ignore[call-overload]
            draft=draft, findings=run_rules(draft, prospect, rules_policy), kind=str(case.get("class") or ""),
        ))
    return score


def report(score: Score) -> str:
    """A plain-text report: headline rates, per-category recall and every miss."""
    lines = [
        f"bad flagged: {score.bad_flagged:6.1%}  ({sum(r.flagged for r in score.bad)}/{len(score.bad)}, tone-only lines aside)",
        f"good passed: {score.good_passed:6.1%}  ({sum(not r.flagged for r in score.good)}/{len(score.good)})",
        "",
        "per-category recall (a finding of that category on lines labelled with it):",
    ]
    for category, (found, total) in score.category_recall().items():
        lines.append(f"  {category:20s} {found}/{total}")
    classes = score.by_class()
    if classes:
        lines += ["", "per class (bad: flagged; good: passed):"]
        for kind, (label, right, total) in classes.items():
            lines.append(f"  {kind:24s} {label:4s} {right:3d}/{total:<3d} {right / total:6.1%}")
    missed_bad = [r for r in score.results if r.label == "bad" and not r.flagged]
    wrong_cat = [r for r in score.results if r.label == "bad" and r.flagged and not set(r.errors) <= r.categories]
    false_alarms = [r for r in score.good if r.flagged]
    lines.append("")
    lines.append(f"missed bad lines ({len(missed_bad)}):")
    lines.extend(f"  {r.id} {r.errors}: {r.draft}" for r in missed_bad)
    lines.append(f"bad lines missing a labelled category ({len(wrong_cat)}):")
    lines.extend(f"  {r.id} labelled {sorted(r.errors)}, found {sorted(r.categories)}: {r.draft}" for r in wrong_cat)
    lines.append(f"good lines flagged ({len(false_alarms)}):")
    for r in false_alarms:
        lines.append(f"  {r.id}: {r.draft}")
        lines.extend(f"      {f.code} [{f.start}:{f.end}] {f.message}" for f in r.findings)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Print the rules' scores on a labelled JSONL set (default: the shared dev set)."""
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else DEFAULT_PATH
    if not path.exists():
        print(f"no such file: {path}", file=sys.stderr)
        return 2
    print(f"{path}")
    print(report(score_cases(load_cases(path))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
