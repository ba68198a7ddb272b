"""Figures as text, the same in the terminal, the HTML report and the panel: rates, numbers, a dash for none."""

from __future__ import annotations

NONE = "–"


def pct(x: float | None) -> str:
    """A rate as a whole percentage, or a dash."""
    return NONE if x is None else f"{100 * x:.0f}%"


def num(x: float | None, digits: int = 2) -> str:
    """A number with `digits` decimals, or a dash."""
    return NONE if x is None else f"{x:.{digits}f}"


def pct1(x: float | None) -> str:
    """A rate as a percentage with one decimal (bounds near 2% need it), or a dash."""
    return NONE if x is None else f"{100 * x:.1f}%"
