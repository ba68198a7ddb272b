"""Read a prospect CSV exported from a CRM or data tool into Prospect records, reporting what it skips."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from critics.prospect import STANDARD_FIELDS, Prospect

# Header spellings seen in CRM and data-tool exports, after normalising (lower case, no spaces/_/-).
ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "prospectid", "leadid", "contactid", "recordid", "personid"),
    "first_name": ("firstname", "first", "givenname", "fname", "contactfirstname"),
    "last_name": ("lastname", "last", "surname", "familyname", "lname", "contactlastname"),
    "company": ("company", "companyname", "accountname", "account", "organization", "organisation", "organizationname", "employer"),
    "title": ("title", "jobtitle", "position", "role"),
    "industry": ("industry", "sector"),
    "city": ("city", "town", "companycity"),
    "website": ("website", "url", "domain", "companywebsite", "companydomain", "websiteurl"),
    "notes": ("notes", "note", "description", "about", "context", "personalization", "personalisation"),
}
REQUIRED: tuple[str, ...] = ("company", "first_name")


class CsvError(ValueError):
    """A CSV file that cannot be read as a prospect list; the message says what is wrong and where."""


@dataclass
class SkippedRow:
    """A data row left out, with its row number in the file (the header is row 1) and why."""

    row: int
    reason: str


@dataclass
class LoadedRow:
    """One accepted data row: its row number in the file, its original cells by header, and the prospect."""

    row: int
    values: dict[str, str]
    prospect: Prospect


@dataclass
class LoadResult:
    """What a CSV yielded: the rows loaded, the header mapping, the rows skipped, the duplicates and any warnings."""

    rows: list[LoadedRow]
    columns: dict[str, str]
    skipped: list[SkippedRow] = field(default_factory=list)
    duplicates: list[SkippedRow] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    headers: list[str] = field(default_factory=list)

    @property
    def prospects(self) -> list[Prospect]:
        """The loaded prospects, in file order."""
        return [r.prospect for r in self.rows]


def normalise_header(name: str) -> str:
    """Fold a header for matching: case, spaces, underscores and hyphens are ignored."""
    return re.sub(r"[\s_\-.]+", "", name.strip().lstrip("\ufeff")).lower()


def _decode(raw: bytes, path: Path, warnings: list[str]) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        bad_at = exc.start
    line = raw.count(b"\n", 0, bad_at) + 1
    try:
        text = raw.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise CsvError(
            f"{path}: not UTF-8 (byte 0x{raw[bad_at]:02x} on line {line}) and not Windows-1252 either; "
            "re-export the file as UTF-8 CSV"
        ) from exc
    warnings.append(f"{path} is not UTF-8 (first bad byte on line {line}); read it as Windows-1252")
    return text


def map_columns(headers: list[str]) -> dict[str, str]:
    """Map each standard field to the CSV header that carries it; raise CsvError if a required one is missing."""
    mapping: dict[str, str] = {}
    for header in headers:
        key = normalise_header(header)
        for fieldname, spellings in ALIASES.items():
            if key in spellings and fieldname not in mapping:
                mapping[fieldname] = header
    missing = [f for f in REQUIRED if f not in mapping]
    if missing:
        expected = "; ".join(f"{f}: one of {', '.join(ALIASES[f][:4])}, ..." for f in missing)
        found = ", ".join(repr(h) for h in headers) or "(none)"
        raise CsvError(f"missing required column(s) {', '.join(missing)}. Found columns: {found}. Expected {expected}")
    return mapping


def row_id(values: dict[str, str]) -> str:
    """A stable id for a row without an id column: a hash of its normalised values."""
    norm = {normalise_header(k): " ".join(v.split()).lower() for k, v in values.items() if v and v.strip()}
    digest = hashlib.sha1(json.dumps(norm, sort_keys=True).encode("utf-8")).hexdigest()
    return digest[:16]


def parse_prospects(text: str, source: str = "<csv>") -> LoadResult:
    """Parse CSV text into prospects; rows with an empty required field and duplicate rows are reported, not loaded."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        headers = next(reader)
    except StopIteration:
        raise CsvError(f"{source}: the file is empty; expected a header row with company and first name") from None
    except csv.Error as exc:
        raise CsvError(f"{source}: header row is not valid CSV: {exc}") from exc
    headers = [h.strip().lstrip("\ufeff") for h in headers]
    mapping = map_columns(headers)
    result = LoadResult(rows=[], columns=mapping, headers=headers)
    seen: dict[str, int] = {}
    used = set(mapping.values())
    row_no = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise CsvError(f"{source}: row {reader.line_num} is not valid CSV: {exc}") from exc
        row_no += 1
        if not any(c.strip() for c in cells):
            continue
        if len(cells) > len(headers):
            result.skipped.append(SkippedRow(row_no, f"has {len(cells)} fields but the header has {len(headers)}"))
            continue
        padded = cells + [""] * (len(headers) - len(cells))
        original = dict(zip(headers, padded, strict=True))  # exported as it was: "\t=1+1" stays "\t=1+1"
        values = {h: c.strip() for h, c in original.items()}
        empty = [f for f in REQUIRED if not values[mapping[f]]]
        if empty:
            result.skipped.append(SkippedRow(row_no, f"empty required field(s): {', '.join(mapping[f] for f in empty)}"))
            continue
        pid = values.get(mapping["id"], "") if "id" in mapping else ""
        pid = pid or row_id(values)
        if pid in seen:
            result.duplicates.append(SkippedRow(row_no, f"duplicate of row {seen[pid]} (id {pid})"))
            continue
        seen[pid] = row_no
        fields = {f: values[mapping[f]] for f in STANDARD_FIELDS if f in mapping}
        extra = {h: v for h, v in values.items() if h not in used and v}
        result.rows.append(LoadedRow(row_no, original, Prospect(id=pid, extra=extra, **fields)))
    return result


def load_prospects(path: Path | str) -> LoadResult:
    """Read and parse a prospect CSV file (UTF-8, UTF-16 with BOM, or Windows-1252 with a warning)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CsvError(f"cannot read {path}: {exc.strerror or exc}") from exc
    warnings: list[str] = []
    result = parse_prospects(_decode(raw, path, warnings), source=str(path))
    result.warnings[:0] = warnings
    return result
