"""The metrics (evals.metrics) as a self-contained HTML page: inline CSS and inline SVG charts, no script.

Everything from the figures is escaped by Jinja's autoescape; this module turns the figures into strings and
chart geometry for the template.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from evals.formatting import NONE, num, pct, pct1

CHART_W, CHART_H, LEFT, BOTTOM, TOP = 640.0, 200.0, 44.0, 34.0, 10.0


@dataclass(frozen=True)
class Column:
    """One day's stacked bar (auto below, review above) or one week's error bar, in SVG units."""

    x: float
    width: float
    label: str
    parts: list[tuple[str, float, float, str]]  # (css class, y, height, title)
    whisker: tuple[float, float] | None = None


def _columns(values: list[dict[str, Any]], keys: list[tuple[str, str]], label: str, top: float) -> list[Column]:
    plot_w, plot_h = CHART_W - LEFT - 10, CHART_H - TOP - BOTTOM
    step = plot_w / max(1, len(values))
    out = []
    for i, v in enumerate(values):
        y = TOP + plot_h
        parts = []
        for cls, key in keys:
            h = plot_h * (float(v[key] or 0) / top) if top else 0.0
            y -= h
            parts.append((cls, y, h, f"{v[label]}: {v[key]} {key}"))
        out.append(Column(LEFT + i * step + step * 0.15, step * 0.7, str(v[label]), parts))
    return out


def _error_columns(weeks: list[dict[str, Any]]) -> tuple[list[Column], float]:
    top = max([w["high"] for w in weeks] + [0.05])
    plot_h = CHART_H - TOP - BOTTOM
    cols = _columns([{**w, "share": w["rate"] or 0.0} for w in weeks], [("err", "share")], "week", top)
    out = []
    for col, w in zip(cols, weeks, strict=True):
        y = lambda p: TOP + plot_h * (1 - p / top)  # noqa: E731 - a local scale
        cls, top_y, height, _ = col.parts[0]
        title = f"{w['week']}: {w['k']} of {w['n']} changed, {pct1(w['rate'])} (95% CI {pct1(w['low'])}–{pct1(w['high'])})"
        out.append(Column(col.x, col.width, col.label, [(cls, top_y, height, title)], (y(w["low"]), y(w["high"]))))
    return out, top


def page(figures: dict[str, Any]) -> dict[str, Any]:
    """Everything the template shows, as strings, numbers and geometry."""
    days = figures["volume"]["per_day"][-30:]
    top_day = max([d["gated"] for d in days] + [1])
    weeks = figures["sent_error"]["by_week"][-12:]
    errors, top_err = _error_columns(weeks)
    when = datetime.fromtimestamp(figures["generated_at"], tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
    return {"title": "firstpass metrics", "when": when, "f": figures, "days": _columns(days, [("auto", "auto"), (
        "review", "review")], "day", top_day), "top_day": top_day, "errors": errors, "top_err": pct(top_err),
        "chart": {"w": CHART_W, "h": CHART_H, "left": LEFT, "top": TOP, "bottom": CHART_H - BOTTOM}}


@cache
def _environment() -> Environment:
    env = Environment(loader=PackageLoader("evals", "templates"), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(pct=pct, pct1=pct1, num=num, dash=lambda x: NONE if x is None else x)
    return env


def render_metrics_html(figures: dict[str, Any]) -> str:
    """The metrics as one self-contained HTML page."""
    return _environment().get_template("metrics_report.html.j2").render(page=page(figures))
