"""Who is calling: the one shape every handler receives."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Via = Literal["jwt", "api_key"]


@dataclass(frozen=True)
class Principal:
    tenant: str
    user: str
    is_admin: bool
    via: Via
    key_id: str | None = None

    def can_access(self, tenant: str, owner: str) -> bool:
        """Delegated access: owners see their own; admins see their tenant's; nobody sees another tenant's."""
        if tenant != self.tenant:
            return False
        return self.is_admin or owner == self.user

    def as_context(self) -> dict[str, str | bool]:
        """The authorizer's simple-response context (values must be scalars)."""
        return {
            "tenant": self.tenant,
            "user": self.user,
            "is_admin": self.is_admin,
            "via": self.via,
            "key_id": self.key_id or "",
        }
