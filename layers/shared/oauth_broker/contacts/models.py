"""Response models of `GET /v1/connections/{id}/contacts`."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

__all__ = ["Contact", "ContactList"]


def _values(items: Any, key: str = "value") -> list[str]:
    out: list[str] = []
    for item in items if isinstance(items, list) else []:
        value = item.get(key) if isinstance(item, dict) else None
        if isinstance(value, str) and value and value not in out:
            out.append(value)
    return out


def _primary(items: Any) -> dict[str, Any] | None:
    """The entry marked primary in its metadata, else the first one."""
    entries = [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []
    for item in entries:
        metadata = item.get("metadata")
        if isinstance(metadata, dict) and metadata.get("primary"):
            return item
    return entries[0] if entries else None


class Contact(BaseModel):
    resource_name: str = Field(description="The People API resource name, e.g. people/c123")
    name: str | None = Field(default=None, description="The contact's primary display name")
    emails: list[str] = Field(default_factory=list)
    phones: list[str] = Field(default_factory=list)

    @classmethod
    def from_person(cls, person: dict[str, Any]) -> Contact:
        name = _primary(person.get("names"))
        display = name.get("displayName") if name else None
        if not display and name:
            display = " ".join(
                part
                for part in (name.get("givenName"), name.get("familyName"))
                if isinstance(part, str) and part
            )
        return cls(
            resource_name=str(person.get("resourceName") or ""),
            name=str(display) if display else None,
            emails=_values(person.get("emailAddresses")),
            phones=_values(person.get("phoneNumbers")),
        )


class ContactList(BaseModel):
    data: list[Contact]
    next_cursor: str | None = None

    @classmethod
    def from_people(cls, payload: dict[str, Any]) -> ContactList:
        """From a `people.connections.list` response (its nextPageToken becomes the cursor)."""
        people = payload.get("connections")
        token = payload.get("nextPageToken")
        return cls(
            data=[Contact.from_person(p) for p in people if isinstance(p, dict)]
            if isinstance(people, list)
            else [],
            next_cursor=str(token) if token else None,
        )
