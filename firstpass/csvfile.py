"""Read a prospect CSV exported from a CRM or data tool into Prospect records, never dropping or merging a row
silently.

The delimiter is detected (comma, semicolon, tab, or an Excel `sep=` line). A row whose field count is off, whose
quoting swallows line breaks (a stray quote that would merge the next rows into one cell), or with a cell over
the size limit is a bad row: reported by its row number, and the run refuses to start unless told to skip them.
Duplicate headers are refused by name; several columns that mean the same field (Company Name, Account Name) are
read in order, the first non-empty one winning, unless `--column field=Header` names the one to use. Files are
read twice as streams, so memory stays flat however long the file is: once to check, once to load.

Only chosen columns reach a model (critics.context): the named fields, and the notes-like columns the policy's
allowlist or `--context-columns` name, which become the prospect's `extra`. Every other column (email, phone, CRM
stage, owner, counts, ids, ...) is kept in the row for the export only. Each column's values are judged on the
first rows of the file, so that the check and the load decide the same.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain, islice
from pathlib import Path
from typing import TextIO

from critics.context import ColumnPlan, internal_reason, plan_columns
from critics.policy import ContextPolicy
from critics.prospect import STANDARD_FIELDS, Prospect
from firstpass.terminal import escape

# Header spellings seen in CRM and data-tool exports, after normalising (lower case, no spaces/_/-).
ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "prospectid", "leadid", "contactid", "recordid", "personid"),
    "first_name": ("firstname", "first", "givenname", "fname", "contactfirstname"),
    "last_name": ("lastname", "last", "surname", "familyname", "lname", "contactlastname"),
    "company": ("company", "companyname", "accountname", "account", "organization", "organisation",
                "organizationname", "employer"),
    "title": ("title", "jobtitle", "position", "role"),
    "industry": ("industry", "sector"),
    "city": ("city", "town", "companycity"),
    "website": ("website", "url", "domain", "companywebsite", "companydomain", "websiteurl"),
    "notes": ("notes", "note", "description", "about", "context", "personalization", "personalisation"),
}
REQUIRED: tuple[str, ...] = ("company", "first_name")
# The largest cell accepted, in characters (a long notes field is fine; a whole file swallowed by one quote is not).
MAX_CELL = 1_000_000
# A quoted cell may hold line breaks; past this many it is a stray quote swallowing the rows after it.
MAX_CELL_LINES = 20
DELIMITERS = (",", ";", "\t")
_CHUNK = 1 << 16


class CsvError(ValueError):
    """A CSV file that cannot be read as a prospect list; the message says what is wrong and where."""


@dataclass(frozen=True)
class CsvOptions:
    """How to read a file: explicit column choices, which columns reach the model, and whether bad rows are skipped
    or stop the run."""

    columns: Mapping[str, str] = field(default_factory=dict)
    skip_bad_rows: bool = False
    max_cell: int = MAX_CELL
    context: ContextPolicy = field(default_factory=ContextPolicy)
    context_columns: Sequence[str] = ()


@dataclass
class SkippedRow:
    """A data row left out, with its row number in the file (the header is row 1) and why; `bad` if malformed."""

    row: int
    reason: str
    bad: bool = False


@dataclass
class LoadedRow:
    """One accepted data row: its row number in the file, every original cell by header (for the export), and the
    prospect (named fields and context columns only)."""

    row: int
    original: dict[str, str]
    prospect: Prospect


@dataclass
class LoadResult:
    """What a CSV yielded: the rows loaded, the header mapping, the rows skipped, the duplicates and any warnings."""

    rows: list[LoadedRow]
    columns: dict[str, tuple[str, ...]]
    skipped: list[SkippedRow] = field(default_factory=list)
    duplicates: list[SkippedRow] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    headers: list[str] = field(default_factory=list)
    delimiter: str = ","
    count: int = 0
    plan: ColumnPlan = field(default_factory=ColumnPlan)

    @property
    def prospects(self) -> list[Prospect]:
        """The loaded prospects, in file order."""
        return [r.prospect for r in self.rows]

    @property
    def bad(self) -> list[SkippedRow]:
        """The malformed rows (field count off, swallowed line breaks, oversized cell)."""
        return [s for s in self.skipped if s.bad]


def normalise_header(name: str) -> str:
    """Fold a header for matching: case, spaces, underscores and hyphens are ignored."""
    return re.sub(r"[\s_\-.]+", "", name.strip().lstrip("\ufeff")).lower()


def excerpt(text: str, limit: int = 60) -> str:
    """A short, escaped piece of untrusted text for an error message."""
    return escape(text if len(text) <= limit else text[:limit] + "...")


def map_columns(headers: list[str], explicit: Mapping[str, str] | None = None) -> dict[str, tuple[str, ...]]:
    """Map each standard field to the headers that may carry it, in file order; raise CsvError if a required
    one is missing, a header appears twice, or an explicit choice names an unknown field or header."""
    seen: dict[str, int] = {}
    twice = []
    for header in headers:
        seen[header] = seen.get(header, 0) + 1
        if seen[header] == 2:
            twice.append(header)
    if twice:
        raise CsvError(f"duplicate column header(s): {', '.join(repr(excerpt(h, 40)) for h in twice)}; rename them "
                       "so that each column has its own name")
    mapping: dict[str, tuple[str, ...]] = {}
    for fieldname, spellings in ALIASES.items():
        found = tuple(h for h in headers if normalise_header(h) in spellings)
        if found:
            mapping[fieldname] = found
    for fieldname, header in (explicit or {}).items():
        if fieldname not in ALIASES:
            raise CsvError(f"--column {excerpt(fieldname, 40)}=...: not a field; use one of {', '.join(ALIASES)}")
        if header not in headers:
            raise CsvError(f"--column {fieldname}={excerpt(header, 40)!r}: no such column; the file has "
                           f"{_listed(headers)}")
        mapping[fieldname] = (header,)
    missing = [f for f in REQUIRED if f not in mapping]
    if missing:
        expected = "; ".join(f"{f}: one of {', '.join(ALIASES[f][:4])}, ..." for f in missing)
        raise CsvError(f"missing required column(s) {', '.join(missing)}. Found columns: {_listed(headers)}. "
                       f"Expected {expected}")
    return mapping


def _listed(headers: list[str], most: int = 12) -> str:
    shown = ", ".join(repr(excerpt(h, 40)) for h in headers[:most]) or "(none)"
    return shown + (f" and {len(headers) - most} more" if len(headers) > most else "")


def row_id(values: dict[str, str]) -> str:
    """A stable id for a row without an id column: a hash of its normalised values."""
    norm = {normalise_header(k): " ".join(v.split()).lower() for k, v in values.items() if v and v.strip()}
    digest = hashlib.sha1(json.dumps(norm, sort_keys=True).encode("utf-8")).hexdigest()
    return digest[:16]


def _delimiter(first_line: str) -> tuple[str, bool]:
    """The delimiter, and whether the first line is an Excel `sep=` line rather than the header."""
    line = first_line.lstrip("\ufeff").rstrip("\r\n")
    if line.lower().startswith("sep=") and len(line) == 5:
        return line[4], True
    outside, quoted = [], False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif not quoted:
            outside.append(ch)
    counts = {d: outside.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return (best if counts[best] else ","), False


class _Reader:
    """One pass over a CSV text stream: classifies every record as loaded, skipped, bad or duplicate."""

    def __init__(self, stream: TextIO, source: str, options: CsvOptions) -> None:
        first = stream.readline()
        if not first.strip():
            raise CsvError(f"{source}: the file is empty; expected a header row with company and first name")
        self.delimiter, sep_line = _delimiter(first)
        header_line = stream.readline() if sep_line else first
        # The parser's own limit sits well above ours, so that an oversized cell is reported with its size.
        self.parser_limit = max(csv.field_size_limit(), options.max_cell * 10)
        csv.field_size_limit(self.parser_limit)
        self.options, self.source = options, source
        self.reader = csv.reader(_chain(header_line, stream), delimiter=self.delimiter)
        try:
            headers = next(self.reader)
        except StopIteration:
            raise CsvError(f"{source}: the file is empty; expected a header row with company and first name") from None
        except csv.Error as exc:
            raise CsvError(f"{source}: header row is not valid CSV: {exc}") from exc
        self.headers = [h.strip().lstrip("\ufeff") for h in headers]
        self.mapping = map_columns(self.headers, options.columns)
        self.requested = requested_columns(self.headers, options.context_columns, options.context.never)
        self.first_row = 3 if sep_line else 2
        self.plan = ColumnPlan(named=dict(self.mapping))

    def records(self) -> Iterator[LoadedRow | SkippedRow]:
        """Every data record in file order: a LoadedRow, or a SkippedRow saying why it is left out."""
        raw = self._raw()
        # The first rows decide which columns are context; they are held until then (a bounded number).
        head = list(islice(raw, self.options.context.sample_rows))
        samples = {h: [r[1][h].strip() for r in head if not isinstance(r, SkippedRow) and r[1][h].strip()]
                   for h in self.headers}
        self.plan = plan_columns(self.headers, self.mapping, samples, self.options.context, self.requested)
        if self.plan.refused:
            raise CsvError("; ".join(f"--context-columns {excerpt(h, 40)!r}: refused, {why}; such a column is kept "
                                     "for the export but never sent to a model" for h, why in self.plan.refused.items()))
        seen: dict[str, int] = {}
        for record in chain(head, raw):
            if isinstance(record, SkippedRow):
                yield record
                continue
            row_no, original = record
            values = {h: c.strip() for h, c in original.items()}
            fields = {f: next((values[h] for h in hs if values[h]), "") for f, hs in self.mapping.items()}
            empty = [f for f in REQUIRED if not fields[f]]
            if empty:
                names = " / ".join(h for f in empty for h in self.mapping[f])
                yield SkippedRow(row_no, f"empty required field(s): {names}")
                continue
            pid = fields.get("id") or row_id(values)
            if pid in seen:
                yield SkippedRow(row_no, f"duplicate of row {seen[pid]} (id {excerpt(pid, 40)})")
                continue
            seen[pid] = row_no
            standard = {f: fields[f] for f in STANDARD_FIELDS if f in fields}
            extra = {h: values[h] for h in self.plan.context if values[h]}
            yield LoadedRow(row_no, original, Prospect(id=pid, extra=extra, **standard))

    def _raw(self) -> Iterator[tuple[int, dict[str, str]] | SkippedRow]:
        """Every record's row number and original cells by header, or a SkippedRow for a malformed one."""
        row_no = self.first_row - 1
        while True:
            try:
                cells = next(self.reader)
            except StopIteration:
                return
            except csv.Error as exc:
                row_no += 1
                why = (f"a cell over {self.parser_limit:,} characters (the limit is {self.options.max_cell:,})"
                       if "field limit" in str(exc) else excerpt(str(exc)))
                yield SkippedRow(row_no, f"not valid CSV (line {self.reader.line_num}): {why}", bad=True)
                continue
            row_no += 1
            if not any(c.strip() for c in cells):
                continue
            problem = self._malformed(cells)
            if problem:
                yield SkippedRow(row_no, problem, bad=True)
                continue
            yield row_no, dict(zip(self.headers, cells, strict=True))  # exported as it was: "\t=1+1" stays "\t=1+1"

    def _malformed(self, cells: list[str]) -> str | None:
        if len(cells) != len(self.headers):
            return (f"has {len(cells)} fields but the header has {len(self.headers)} (ends on line "
                    f"{self.reader.line_num}); a stray quote or delimiter?")
        for header, cell in zip(self.headers, cells, strict=True):
            if len(cell) > self.options.max_cell:
                return f"cell {excerpt(header, 40)!r} has {len(cell):,} characters (the limit is {self.options.max_cell:,})"
            breaks = cell.count("\n")
            if breaks and (breaks > MAX_CELL_LINES or any(line.count(self.delimiter) >= len(self.headers) - 1 > 0
                                                          for line in cell.split("\n"))):
                return (f"cell {excerpt(header, 40)!r} runs over {breaks + 1} lines up to line {self.reader.line_num} "
                        "and holds what look like other rows: a quote that is never closed?")
        return None


def requested_columns(headers: list[str], names: Sequence[str], never: Sequence[str] = ()) -> list[str]:
    """The headers `--context-columns` names (exactly, else ignoring case and spacing); a CsvError names one the
    file does not have, or one whose name marks contact data or a CRM field."""
    found = []
    for name in names:
        header = name if name in headers else next((h for h in headers if normalise_header(h) == normalise_header(name)),
                                                   None)
        if header is None:
            raise CsvError(f"--context-columns {excerpt(name, 40)!r}: no such column; the file has {_listed(headers)}")
        term = internal_reason(header, never)
        if term is not None:
            raise CsvError(f"--context-columns {excerpt(header, 40)!r}: refused, its name marks contact data or a CRM "
                           f"field ({term!r}); such a column is kept for the export but never sent to a model")
        found.append(header)
    return found


def _chain(first: str, rest: TextIO) -> Iterator[str]:
    yield first
    yield from rest


def parse_prospects(text: str, source: str = "<csv>", options: CsvOptions | None = None) -> LoadResult:
    """Parse CSV text into prospects; bad rows, rows with an empty required field and duplicates are reported."""
    reader = _Reader(io.StringIO(text, newline=""), source, options or CsvOptions())
    return _collect(reader, keep_rows=True)


def _collect(reader: _Reader, keep_rows: bool) -> LoadResult:
    result = LoadResult(rows=[], columns=reader.mapping, headers=reader.headers, delimiter=reader.delimiter)
    for record in reader.records():
        if isinstance(record, LoadedRow):
            result.count += 1
            if keep_rows:
                result.rows.append(record)
        elif record.reason.startswith("duplicate"):
            result.duplicates.append(record)
        else:
            result.skipped.append(record)
    result.plan = reader.plan
    result.warnings.extend(reader.plan.warnings)
    return result


def _encoding(path: Path, warnings: list[str]) -> str:
    """The file's encoding (UTF-16 with a BOM, UTF-8, else Windows-1252 with a warning), read in chunks."""
    with path.open("rb") as fh:
        head = fh.read(4096)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    # A stray control byte in a cell is text (and shown escaped); a file full of them is a spreadsheet or an archive.
    controls = [i for i, b in enumerate(head) if b < 9 or 13 < b < 32 and b != 27]
    if len(controls) > max(8, len(head) // 20):
        raise CsvError(f"{path}: not a text CSV file (binary data from byte {controls[0]}); export the list as CSV")
    bad = _first_undecodable(path, "utf-8-sig")
    if bad is None:
        return "utf-8-sig"
    offset, line = bad
    if _first_undecodable(path, "cp1252") is not None:
        with path.open("rb") as fh:
            fh.seek(offset)
            byte = fh.read(1)
        raise CsvError(f"{path}: not UTF-8 (byte 0x{byte[0]:02x} on line {line}) and not Windows-1252 either; "
                       "re-export the file as UTF-8 CSV")
    warnings.append(f"{path} is not UTF-8 (first bad byte on line {line}); read it as Windows-1252")
    return "cp1252"


def _first_undecodable(path: Path, encoding: str) -> tuple[int, int] | None:
    """The byte offset and line of the first byte that `encoding` cannot decode, or None."""
    decoder = codecs.getincrementaldecoder(encoding)()
    offset, lines = 0, 1
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                return offset + exc.start, lines + chunk.count(b"\n", 0, exc.start)
            offset += len(chunk)
            lines += chunk.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return offset, lines
    return None


def _read(path: Path | str, options: CsvOptions | None, keep_rows: bool) -> LoadResult:
    path, warnings = _readable(path), list[str]()
    with path.open(encoding=_encoding(path, warnings), newline="") as stream:
        result = _collect(_Reader(stream, str(path), options or CsvOptions()), keep_rows)
    result.warnings[:0] = warnings
    return result


def _readable(path: Path | str) -> Path:
    path = Path(path)
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise CsvError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return path


def scan_prospects(path: Path | str, options: CsvOptions | None = None) -> LoadResult:
    """Check a whole file without keeping its rows: the header mapping, counts, and every skipped or bad row."""
    return _read(path, options, keep_rows=False)


def stream_prospects(path: Path | str, options: CsvOptions | None = None) -> Iterator[LoadedRow]:
    """The loadable rows of a file, one at a time (check it first with `scan_prospects`)."""
    path = _readable(path)
    with path.open(encoding=_encoding(path, []), newline="") as stream:
        for record in _Reader(stream, str(path), options or CsvOptions()).records():
            if isinstance(record, LoadedRow):
                yield record


def load_prospects(path: Path | str, options: CsvOptions | None = None) -> LoadResult:
    """Read and parse a whole prospect CSV file into memory (UTF-8, UTF-16 with BOM, or Windows-1252 with a warning)."""
    return _read(path, options, keep_rows=True)
