"""Configuration of the fake Google: accounts, OAuth clients, lifetimes."""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_CLIENT_ID = "fake-client-id.apps.googleusercontent.com"
DEFAULT_CLIENT_SECRET = "fake-client-secret"
IN_PROCESS_BASE_URL = "http://fake-google.test"


@dataclass(frozen=True)
class FakeAccount:
    """A Google account that can sign in on the consent page."""

    sub: str
    email: str
    name: str
    hd: str | None = None
    send_as: tuple[str, ...] | list[str] = ()

    @property
    def given_name(self) -> str:
        return self.name.split(" ", 1)[0]

    @property
    def family_name(self) -> str:
        parts = self.name.split(" ", 1)
        return parts[1] if len(parts) > 1 else ""

    @property
    def picture(self) -> str:
        return f"https://lh3.googleusercontent.com/a/fake-{self.sub}=s96-c"


def default_accounts() -> list[FakeAccount]:
    return [
        FakeAccount(
            sub="109876543210987654321",
            email="alice@example.com",
            name="Alice Liddell",
            send_as=("alice.liddell@example.com", "support@example.com"),
        ),
        FakeAccount(sub="112233445566778899001", email="bob@example.com", name="Bob Builder"),
    ]


@dataclass
class FakeGoogleConfig:
    """How a `FakeGoogle` behaves.

    base_url: the externally visible base URL, including any mount prefix
      (e.g. "http://127.0.0.1:3000/fake-google"). None: the address `serve()` bound to,
      or "http://fake-google.test" in-process.
    issuer: the `iss` of ID tokens and redirects (default: the base URL).
    clients: client_id -> client_secret. accept_any_client: any client ID and secret is accepted
      (registered clients must still present their secret).
    redirect_uris: optional client_id -> allowed redirect URIs (default: any http(s) URL).
    expand_scope_aliases: like Google, answer `email`/`profile` with their full URLs
      (`https://www.googleapis.com/auth/userinfo.email`, ...) in the token response.
    revoke_whole_client_grant: like Google, revoking any token of a (client, account) pair revokes
      every token of that pair and forgets the consent; False: only that token family.
    refresh_token_only_on_first_consent: like Google, with access_type=offline a refresh token is
      returned only when the user had no grant yet or `prompt=consent` was sent (default off).
    risc_receiver_url: a Cross-Account Protection receiver registered from the start (as if
      `stream:update` had been called with every event type); None: none until one registers.
    """

    base_url: str | None = None
    issuer: str | None = None
    accounts: list[FakeAccount] = field(default_factory=default_accounts)
    clients: dict[str, str] = field(default_factory=lambda: {DEFAULT_CLIENT_ID: DEFAULT_CLIENT_SECRET})
    accept_any_client: bool = False
    redirect_uris: dict[str, list[str]] | None = None
    access_token_lifetime: int = 3600
    id_token_lifetime: int = 3600
    code_lifetime: int = 60
    rotate_refresh_tokens: bool = False
    expand_scope_aliases: bool = True
    revoke_whole_client_grant: bool = True
    refresh_token_only_on_first_consent: bool = False
    strict_scopes: bool = True
    api_delay: float = 0.0
    seed_mailboxes: bool = True
    seed_contacts: bool = True
    enable_control: bool = True
    request_log_limit: int = 10_000
    risc_receiver_url: str | None = None
