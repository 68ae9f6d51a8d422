"""People API shapes: `Person` resources for the account itself and its contacts."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from typing import Any

PERSON_FIELDS = frozenset(
    {
        "addresses",
        "ageRanges",
        "biographies",
        "birthdays",
        "calendarUrls",
        "clientData",
        "coverPhotos",
        "emailAddresses",
        "events",
        "externalIds",
        "genders",
        "imClients",
        "interests",
        "locales",
        "locations",
        "memberships",
        "metadata",
        "miscKeywords",
        "names",
        "nicknames",
        "occupations",
        "organizations",
        "phoneNumbers",
        "photos",
        "relations",
        "sipAddresses",
        "skills",
        "urls",
        "userDefined",
    }
)


@dataclass
class Contact:
    resource_id: str
    given_name: str
    family_name: str = ""
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    organization: str | None = None

    @property
    def resource_name(self) -> str:
        return f"people/{self.resource_id}"

    @property
    def display_name(self) -> str:
        return " ".join(part for part in (self.given_name, self.family_name) if part)


def etag_for(*parts: str) -> str:
    digest = hashlib.sha256("|".join(parts).encode()).digest()[:24]
    return "%" + base64.b64encode(digest).decode("ascii")


def canonical_phone(value: str) -> str:
    digits = "".join(ch for ch in value if ch.isdigit())
    return ("+" + digits) if value.strip().startswith("+") else ("+1" + digits)


def person(
    resource_name: str,
    source_type: str,
    source_id: str,
    given: str,
    family: str,
    emails: list[str],
    phones: list[str],
    organization: str | None,
    fields: set[str],
) -> dict[str, Any]:
    """A `Person` with only the requested `personFields`, as the People API returns it."""
    display = " ".join(part for part in (given, family) if part)
    etag = etag_for(resource_name, display, *emails, *phones)

    def meta(primary: bool) -> dict[str, Any]:
        data: dict[str, Any] = {"source": {"type": source_type, "id": source_id}}
        if primary:
            data = {"primary": True, **data}
        return data

    out: dict[str, Any] = {"resourceName": resource_name, "etag": etag}
    if "metadata" in fields:
        out["metadata"] = {
            "sources": [{"type": source_type, "id": source_id, "etag": etag}],
            "objectType": "PERSON",
        }
    if "names" in fields and display:
        name: dict[str, Any] = {
            "metadata": meta(True),
            "displayName": display,
            "givenName": given,
            "displayNameLastFirst": f"{family}, {given}" if family else given,
            "unstructuredName": display,
        }
        if family:
            name["familyName"] = family
        out["names"] = [name]
    if "emailAddresses" in fields and emails:
        out["emailAddresses"] = [
            {"metadata": meta(index == 0), "value": value, "type": "home" if index else "work"}
            for index, value in enumerate(emails)
        ]
    if "phoneNumbers" in fields and phones:
        out["phoneNumbers"] = [
            {
                "metadata": meta(index == 0),
                "value": value,
                "canonicalForm": canonical_phone(value),
                "type": "mobile",
                "formattedType": "Mobile",
            }
            for index, value in enumerate(phones)
        ]
    if "organizations" in fields and organization:
        out["organizations"] = [{"metadata": meta(True), "name": organization}]
    return out


def contact_person(contact: Contact, fields: set[str]) -> dict[str, Any]:
    return person(
        contact.resource_name,
        "CONTACT",
        format(int(contact.resource_id[1:]) % (1 << 60), "x"),
        contact.given_name,
        contact.family_name,
        contact.emails,
        contact.phones,
        contact.organization,
        fields,
    )
