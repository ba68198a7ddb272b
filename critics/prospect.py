"""The prospect record a first line is drafted from."""

from __future__ import annotations

from pydantic import BaseModel, Field

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
    extra: dict[str, str] = Field(default_factory=dict, description="Every other CSV column, kept as context.")

    def context_text(self) -> str:
        """All the record's text that a line may draw facts from (standard fields and extra columns)."""
        parts = [getattr(self, name) for name in STANDARD_FIELDS]
        parts.extend(self.extra.values())
        return "\n".join(p for p in parts if p)

    def prompt_fields(self) -> dict[str, str]:
        """The record as prompt template fields ("-" for an empty one); extra columns join the notes."""
        values = {name: getattr(self, name) or "-" for name in STANDARD_FIELDS}
        if self.extra:
            # Extra CSV columns are context too; append them to the notes the model sees.
            extra = "; ".join(f"{k}: {v}" for k, v in self.extra.items())
            values["notes"] = f"{self.notes} ({extra})" if self.notes else extra
        return values
