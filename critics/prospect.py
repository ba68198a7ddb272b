"""The prospect record a first line is drafted from."""

from __future__ import annotations

from pydantic import BaseModel, Field

from critics.context import is_internal_column, screen

STANDARD_FIELDS: tuple[str, ...] = (
    "first_name",
    "last_name",
    "title",
    "company",
    "industry",
    "city",
    "website",
    "notes",
)


class Prospect(BaseModel):
    """One prospect: the required company and first name, optional context, and any extra CSV columns."""

    id: str = Field(default="", description="Stable id: the CSV id column, else a hash of the normalised row.")
    first_name: str
    company: str
    last_name: str = ""
    title: str = ""
    industry: str = ""
    city: str = ""
    website: str = ""
    notes: str = ""
    extra: dict[str, str] = Field(default_factory=dict, description="The CSV's context columns (notes-like columns "
                                  "the allowlist chose), sent to the model with the notes; other columns stay in the "
                                  "row for the export only.")

    def context_text(self) -> str:
        """All the record's text that a line may draw facts from (standard fields and extra columns)."""
        parts = [getattr(self, name) for name in STANDARD_FIELDS]
        parts.extend(self.extra.values())
        return "\n".join(p for p in parts if p)

    def prompt_fields(self) -> dict[str, str]:
        """The record as prompt template fields ("-" for an empty one), screened: context columns join the notes, and
        email addresses, phone numbers, tracking links and CRM ids in any value are replaced by a marker."""
        values = {name: screen(getattr(self, name)) or "-" for name in STANDARD_FIELDS}
        # Records stored before the context allowlist (eval cases, old items) may hold contact data or CRM columns
        # in `extra`: those never reach a prompt, whatever the record says.
        extra = {k: v for k, v in self.extra.items() if v and not is_internal_column(k)}
        if extra:
            joined = "; ".join(f"{k}: {screen(v)}" for k, v in extra.items())
            values["notes"] = f"{values['notes']} ({joined})" if self.notes else joined
        return values
