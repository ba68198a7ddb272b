"""HTML for the review panel, built only from escaped pieces.

Every string that came from a CSV, a model or a reviewer goes through `esc` before it touches markup,
so a `<script>` or an `<img onerror=...>` in a prospect's notes shows as text and runs nothing.
"""

from __future__ import annotations

import difflib
import html
import time
from collections.abc import Iterable, Sequence
from itertools import pairwise

from critics.findings import Finding, severity_rank
from critics.prospect import STANDARD_FIELDS
from evals.formatting import num, pct
from firstpass.db import Item


def esc(value: object) -> str:
    """Escape any value for HTML text or a double-quoted attribute."""
    return html.escape("" if value is None else str(value), quote=True)


def _valid_span(f: Finding, length: int) -> tuple[int, int] | None:
    if f.start is None or f.end is None:
        return None
    start, end = max(0, f.start), min(length, f.end)
    return (start, end) if start < end else None


def draft_html(draft: str | None, findings: Sequence[Finding], item_id: int | None = None) -> str:
    """The draft with every flagged span highlighted; overlapping spans show the most severe colour."""
    ident = f' data-item-id="{int(item_id)}"' if item_id is not None else ""
    if not draft:
        return f'<div class="fp-draft-text fp-empty" id="fp-draft-text"{ident}>(no draft)</div>'
    spans = [(n, f, s) for n, f in enumerate(findings, 1) if (s := _valid_span(f, len(draft)))]
    cuts = sorted({0, len(draft), *(s[0] for _n, _f, s in spans), *(s[1] for _n, _f, s in spans)})
    pieces = []
    for a, b in pairwise(cuts):
        text = esc(draft[a:b])
        over = [(n, f) for n, f, (s, e) in spans if s <= a and b <= e]
        if not over:
            pieces.append(text)
            continue
        worst = max((f.severity for _n, f in over), key=severity_rank)
        title = "; ".join(f"[{n}] {f.category}: {f.message}" for n, f in over)
        nums = " ".join(str(n) for n, _f in over)
        pieces.append(f'<mark class="fp-hl fp-{esc(worst)}" data-findings="{esc(nums)}" title="{esc(title)}">{text}</mark>')
    return f'<div class="fp-draft-text" id="fp-draft-text"{ident}>{"".join(pieces)}</div>'


# A rule finding is a fact about the line; the critic's is a model's suggestion; a system finding says a check broke.
SOURCE_LABEL = {"rule": "rule · fact", "critic": "critic · suggestion", "system": "check failed"}


def findings_html(findings: Sequence[Finding], draft: str | None = None) -> str:
    """Each finding: number, source, category, severity, message, the words it points at and the suggested fix."""
    if not findings:
        return '<p class="fp-none">No findings.</p>'
    rows = []
    for n, f in enumerate(findings, 1):
        span = _valid_span(f, len(draft)) if draft else None
        quote = f' <q class="fp-quote">{esc(draft[span[0]:span[1]])}</q>' if span and draft else ""
        fix = f'<div class="fp-fix">Fix: {esc(f.suggested_fix)}</div>' if f.suggested_fix else ""
        fix += sources_html(f)
        rows.append(
            f'<li class="fp-finding fp-{esc(f.severity)} fp-from-{esc(f.source)}"><span class="fp-num">{n}</span>'
            f' <span class="fp-src fp-src-{esc(f.source)}">{esc(SOURCE_LABEL.get(f.source, f.source))}</span>'
            f' <code class="fp-cat">{esc(f.category)}</code> <span class="fp-sev">{esc(f.severity)}</span>'
            f' <span class="fp-msg">{esc(f.message)}</span>{quote}{fix}</li>'
        )
    return f'<ol class="fp-findings">{"".join(rows)}</ol>'


def sources_html(f: Finding) -> str:
    """Where in the record a finding's evidence sits (provenance): each source's field and text."""
    if not f.sources:
        return ""
    items = "".join(f'<li><span class="fp-src-field">{esc(s.field)}</span> [{s.start}:{s.end}] '
                    f'<q class="fp-src-text">{esc(s.text[:200])}</q></li>' for s in f.sources[:4])
    return f'<ul class="fp-sources" aria-label="In the record">{items}</ul>'


def suggestions_html(categories: Sequence[str]) -> str:
    """The findings' categories, offered (not ticked) as reject categories."""
    if not categories:
        return '<span class="fp-suggest">No suggested categories.</span>'
    return ('<span class="fp-suggest">Suggested: ' + ", ".join(f"<code>{esc(c)}</code>" for c in categories)
            + "</span>")


def confidence_html(confidence: float | None, threshold: float) -> str:
    """The critic's confidence for what it is: the second model's own score, not yet calibrated against humans."""
    note = ('<span class="fp-uncal" title="The critic model\'s own score. Until it is calibrated against reviewers\' '
            'verdicts it is not a probability; the small embedded critic answers 0.00 or 1.00 almost always.">'
            'uncalibrated</span>')
    if confidence is None:
        return (f'<span class="fp-conf fp-conf-low">critic: ready to send, none (no answer) · {note} · auto-approve needs '
                f'{threshold:.2f}</span>')
    low = " fp-conf-low" if confidence < threshold else ""
    return (f'<span class="fp-conf{low}">critic: ready to send, {confidence:.2f} · {note} · auto-approve needs '
            f'{threshold:.2f}</span>')


def record_fields(item: Item) -> list[tuple[str, str]]:
    """The prospect record as (field, value) pairs: the CSV's own columns in file order, else the parsed record."""
    if item.original:
        return list(item.original.items())
    p = item.prospect
    return [(name, getattr(p, name)) for name in STANDARD_FIELDS] + list(p.extra.items())


def record_html(item: Item) -> str:
    """The prospect record the line was drafted from, field by field, as text."""
    rows = "".join(f'<tr><th scope="row">{esc(k)}</th><td>{esc(v)}</td></tr>' for k, v in record_fields(item))
    return (f'<div class="fp-record-box"><table class="fp-record" id="fp-record-table"><tbody>{rows}</tbody>'
            '</table></div>')


def header_html(item: Item, max_rounds: int) -> str:
    """Which item this is: id, run, CSV row, regeneration round, and an audit badge for sampled auto-approvals."""
    parts = [f"Item #{item.id}", f"run {esc(item.run)}"]
    if item.row is not None:
        parts.append(f"row {item.row}")
    if item.rounds:
        parts.append(f"regenerated {item.rounds}/{max_rounds}")
    badge = ""
    if item.audit_pending:
        why = item.audit_reason or "it was sampled for a human audit"
        badge = ('<span class="fp-badge fp-audit" title="This line passed the gate and was approved automatically;'
                 ' it was sampled for a human audit.">AUDIT SAMPLE · auto-approved</span> '
                 f'<span class="fp-audit-why" id="fp-audit-why">Why: {esc(why)}.</span> ')
    return f'<div class="fp-header">{badge}{" · ".join(parts)}</div>'


def left_html(left: int, held_by_others: int) -> str:
    """How much of the queue is left."""
    held = f" ({held_by_others} open by other reviewers)" if held_by_others else ""
    return f'<div class="fp-left" id="fp-left-count"><b>{left}</b> left{held}</div>'


def message_html(text: str, kind: str = "info") -> str:
    """A one-line status message: info, ok or error."""
    if not text:
        return '<div class="fp-msg-line"></div>'
    return f'<div class="fp-msg-line fp-msg-{esc(kind)}" role="status">{esc(text)}</div>'


def check_html(findings: Iterable[Finding]) -> str:
    """What the rules say about the line in the edit box."""
    found = list(findings)
    if not found:
        return '<div class="fp-check fp-check-ok">Rules: nothing fires on this line.</div>'
    items = "".join(f'<li><code>{esc(f.code)}</code> {esc(f.message)}</li>' for f in found)
    return (f'<div class="fp-check fp-check-fires"><b>Rules still firing ({len(found)}):</b>'
            f'<ul>{items}</ul><span class="fp-hint">Enter leaves it in review; Shift+Enter approves it anyway (the override is recorded).</span></div>')


def diff_html(before: str, after: str) -> str:
    """A word diff of the edited line against the AI's line: removed words struck through, added ones marked."""
    old, new = before.split(), after.split()
    if old == new:
        return ""
    parts: list[str] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if op in ("delete", "replace"):
            parts.append(f"<del>{esc(' '.join(old[i1:i2]))}</del>")
        if op in ("insert", "replace"):
            parts.append(f"<ins>{esc(' '.join(new[j1:j2]))}</ins>")
        if op == "equal":
            parts.append(esc(" ".join(old[i1:i2])))
    return f'<div class="fp-diff">Changes from the AI line: {" ".join(parts)}</div>'


def empty_html() -> str:
    """The draft area when nothing is left to review."""
    return '<div class="fp-draft-text fp-empty" id="fp-draft-text">Nothing left to review.</div>'


def eval_runs_html(rows: Sequence[tuple[int, float | None, dict[str, object]]]) -> str:
    """The finished eval runs as a table: versions with their pass rates, the verdict, the critic's kappa."""
    if not rows:
        return '<p class="fp-empty">No eval runs yet.</p>'
    body = []
    for run_id, at, row in rows:
        base, cand = row["baseline"], row["candidate"]
        assert isinstance(base, tuple) and isinstance(cand, tuple)
        kappa = row["kappa"]
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(at)) if at else "–"
        body.append(f"<tr><td>#{int(run_id)}</td><td>{esc(when)}</td><td>{esc(base[0])} {pct(base[1])}</td>"
                    f"<td>{esc(cand[0])} {pct(cand[1])}</td><td>{esc(row['verdict'])}</td>"
                    f"<td>{esc(row['critic'])}</td>"
                    f"<td>{num(kappa if isinstance(kappa, float) else None)}</td></tr>")
    return ('<table class="fp-evals" id="fp-eval-table"><thead><tr><th>Run</th><th>Finished</th><th>Baseline</th>'
            "<th>Candidate</th><th>Verdict</th><th>Critic</th><th>Kappa</th></tr></thead><tbody>"
            + "".join(body) + "</tbody></table>")


def report_frame_html(page: str) -> str:
    """A whole HTML report inside the panel: a sandboxed frame (no script, no same origin) holding it as srcdoc."""
    return (f'<iframe id="fp-eval-report" title="Eval report" sandbox="" srcdoc="{esc(page)}" '
            'style="width:100%;height:80vh;border:1px solid #ddd;border-radius:6px;background:#fff"></iframe>')


def _rows(head: Sequence[str], rows: Iterable[Sequence[object]], ident: str) -> str:
    cells = "".join(f"<tr>{''.join(f'<td>{esc(c)}</td>' for c in row)}</tr>" for row in rows)
    return (f'<table class="fp-evals" id="{esc(ident)}"><thead><tr>{"".join(f"<th>{esc(h)}</th>" for h in head)}'
            f"</tr></thead><tbody>{cells}</tbody></table>")


def metrics_headline_html(f: dict[str, object]) -> str:
    """The headline figures of `firstpass stats`: volume, backlog, error on sent lines, overrides."""
    from evals.formatting import pct1

    v, b, e, o = (f[k] for k in ("volume", "backlog", "sent_error", "overrides"))
    assert isinstance(v, dict) and isinstance(b, dict) and isinstance(e, dict) and isinstance(o, dict)
    return (f'<p id="fp-metrics-headline"><b>{esc(v["gated"])}</b> lines gated, {esc(pct(v["auto_rate"]))} '
            f'auto-approved. <b>Backlog:</b> {esc(b["message"])}. <b>Error on sent lines:</b> {esc(e["k"])} of '
            f'{esc(e["n"])} audited changed, {esc(pct1(e["rate"]))} (95% CI {esc(pct1(e["low"]))}–'
            f'{esc(pct1(e["high"]))}). <b>Overrides:</b> {esc(pct(o["override_rate"]))} of {esc(o["decisions"])} '
            "first verdicts.</p>")


def metrics_tables_html(f: dict[str, object]) -> str:
    """The tables of `firstpass stats`: audit rates in force, reviewers, narrowing verdicts."""
    from evals.formatting import NONE, pct1

    audits, reviewers, narrowing = f["audit_rates"], f["reviewers"], f["narrowing"]
    assert isinstance(audits, list) and isinstance(reviewers, list) and isinstance(narrowing, list)
    return ("<h4>Audit rate in force</h4>"
            + _rows(["tier", "prompt", "threshold", "rate", "why"],
                    [[a["gate"]["tier"], a["gate"]["prompt_version"], a["gate"]["threshold"], pct(a["rate"]), a["reason"]]
                     for a in audits], "fp-audit-rates")
            + "<h4>Reviewers</h4>"
            + _rows(["reviewer", "decisions", "per hour", "median s", "approve", "peers", "faster than reading",
                     "canaries caught", "warning"],
                    [[r["reviewer"], r["decisions"], num(r["per_hour"], 0), num(r["median_seconds"], 1),
                      pct(r["approve_rate"]), pct(r["peer_approve_rate"]), pct(r["fast_share"]),
                      f"{r['canaries_caught']}/{r['canaries']}" if r["canaries"] else NONE,
                      "; ".join(r["warnings"]) or NONE] for r in reviewers], "fp-reviewers")
            + "<h4>Narrowing the gate</h4>"
            + _rows(["tier", "category", "measured", "errors", "95% bound", "verdict"],
                    [[r["tier"], r["category"], r["measured"], r["errors"], pct1(r["upper"]), r["verdict"]]
                     for r in narrowing], "fp-narrowing"))


def calibration_html(report: dict[str, object]) -> str:
    """What calibration can promise for the app's configuration now, or why it cannot yet."""
    config = report["config"]
    assert isinstance(config, dict)
    said = report["guarantee"]
    return (f'<p id="fp-calibration"><b>Calibration</b> ({esc(config["prompt_version"])}, {esc(config["drafter_model"])}'
            f', {esc(config["critic_model"])}; {esc(report["lines"])} shadow-mode verdicts): {esc(said)} '
            "Set <code>route.shadow = true</code> to gather verdicts, then <code>firstpass calibrate --apply</code>.</p>")
