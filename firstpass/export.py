"""Export a run's approved first lines as CSV for a sequencer: the original columns plus the line."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from critics.prospect import STANDARD_FIELDS
from firstpass.db import Store

LINE_COLUMN = "first_line"
APPROVED = ("approved", "auto_approved")
# OWASP's CSV-injection guidance: a cell that begins with one of these is a formula to a spreadsheet.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    """A cell a spreadsheet shows as text: one that begins like a formula gets a leading apostrophe."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


class ExportError(ValueError):
    """A run that cannot be exported (unknown name); the message says which runs exist."""


@dataclass(frozen=True)
class ExportCounts:
    """What an export wrote and what it left out."""

    approved: int
    rejected: int
    undecided: int
    path: Path


def _line_column(headers: list[str]) -> str:
    # A CSV that already has a first_line column keeps it untouched; ours gets a name of its own.
    name, n = LINE_COLUMN, 1
    while name in headers:
        n += 1
        name = f"{LINE_COLUMN}_{n}"
    return name


def export_run(store: Store, run: str, out_path: Path | str, raw: bool = False) -> ExportCounts:
    """Write the run's approved items (original columns in file order, then the first line); rejected ones are counted.

    Every cell that a spreadsheet would run as a formula is neutralised, unless `raw` asks for the cells as stored.
    """
    if run not in store.runs():
        known = ", ".join(store.runs()) or "none yet"
        raise ExportError(f"there is no run {run!r} (runs: {known})")
    items = sorted(store.items(run=run), key=lambda i: (i.row if i.row is not None else 1 << 62, i.id))
    headers = store.run_headers(run)
    if not headers:
        # Items added without a CSV (tests, benchmarks) carry their prospect fields instead.
        headers = list(dict.fromkeys(k for i in items for k in i.original)) or ["id", *STANDARD_FIELDS]
    column = _line_column(headers)
    decided = store.last_decisions(run)
    tampered = [i.id for i in items if i.status == "approved" and i.id in decided
                and decided[i.id] != (i.status, i.final_line)]
    if tampered:
        raise ExportError(f"the final line of item(s) {', '.join(map(str, tampered[:20]))} differs from the last "
                          "decision in the audit log: the database was changed outside firstpass; nothing exported")
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    approved = rejected = undecided = 0
    out_cell = (lambda cell: cell) if raw else neutralise
    exported: list[int] = []
    with out.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([out_cell(h) for h in (*headers, column)])
        for item in items:
            if item.status == "rejected":
                rejected += 1
                continue
            if item.status not in APPROVED or not item.final_line:
                undecided += 1
                continue
            cells = item.original or {"id": item.prospect.id, **item.prospect.model_dump(include=set(STANDARD_FIELDS))}
            writer.writerow([out_cell(c) for c in (*(cells.get(h, "") for h in headers), item.final_line)])
            approved += 1
            exported.append(item.id)
    # Once a line has gone out, its decision stands: undo refuses it from here on.
    store.mark_exported(exported)
    return ExportCounts(approved=approved, rejected=rejected, undecided=undecided, path=out)
