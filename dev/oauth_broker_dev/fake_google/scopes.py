"""Google scope strings, the consent page's descriptions and the scopes each API method needs."""

from __future__ import annotations

from collections.abc import Iterable

AUTH = "https://www.googleapis.com/auth/"
OPENID = "openid"
EMAIL = "email"
PROFILE = "profile"
USERINFO_EMAIL = AUTH + "userinfo.email"
USERINFO_PROFILE = AUTH + "userinfo.profile"
MAIL = "https://mail.google.com/"
GMAIL_READONLY = AUTH + "gmail.readonly"
GMAIL_MODIFY = AUTH + "gmail.modify"
GMAIL_COMPOSE = AUTH + "gmail.compose"
GMAIL_SEND = AUTH + "gmail.send"
GMAIL_METADATA = AUTH + "gmail.metadata"
GMAIL_LABELS = AUTH + "gmail.labels"
GMAIL_INSERT = AUTH + "gmail.insert"
GMAIL_SETTINGS_BASIC = AUTH + "gmail.settings.basic"
GMAIL_SETTINGS_SHARING = AUTH + "gmail.settings.sharing"
CONTACTS = AUTH + "contacts"
CONTACTS_READONLY = AUTH + "contacts.readonly"
CONTACTS_OTHER_READONLY = AUTH + "contacts.other.readonly"
DIRECTORY_READONLY = AUTH + "directory.readonly"
USER_EMAILS_READ = AUTH + "user.emails.read"
USER_PHONENUMBERS_READ = AUTH + "user.phonenumbers.read"

# Short aliases Google accepts in a request and the full scope each stands for.
ALIASES = {EMAIL: USERINFO_EMAIL, PROFILE: USERINFO_PROFILE}

# Scopes the user cannot untick on the granular consent page.
BASIC = frozenset({OPENID, EMAIL, PROFILE, USERINFO_EMAIL, USERINFO_PROFILE})

DESCRIPTIONS = {
    OPENID: "Associate you with your personal info on Google",
    EMAIL: "See your primary Google Account email address",
    PROFILE: "See your personal info, including any personal info you've made publicly available",
    USERINFO_EMAIL: "See your primary Google Account email address",
    USERINFO_PROFILE: "See your personal info, including any personal info you've made publicly available",
    MAIL: "Read, compose, send, and permanently delete all your email from Gmail",
    GMAIL_READONLY: "View your email messages and settings",
    GMAIL_MODIFY: "Read, compose, and send emails from your Gmail account",
    GMAIL_COMPOSE: "Manage drafts and send emails",
    GMAIL_SEND: "Send email on your behalf",
    GMAIL_METADATA: "View your email message metadata such as labels and headers, but not the email body",
    GMAIL_LABELS: "See and edit your email labels",
    GMAIL_INSERT: "Add emails into your Gmail mailbox",
    GMAIL_SETTINGS_BASIC: "See, edit, create, or change your email settings and filters in Gmail",
    GMAIL_SETTINGS_SHARING: "Manage your sensitive mail settings, including who can manage your mail",
    CONTACTS: "See, edit, download, and permanently delete your contacts",
    CONTACTS_READONLY: "See and download your contacts",
    CONTACTS_OTHER_READONLY: 'See and download contact info automatically saved in your "Other contacts"',
    DIRECTORY_READONLY: "See and download your organization's GSuite directory",
    USER_EMAILS_READ: "See and download all of your Google Account email addresses",
    USER_PHONENUMBERS_READ: "See and download your personal phone numbers",
}
KNOWN = frozenset(DESCRIPTIONS)

_GMAIL_READ = (MAIL, GMAIL_MODIFY, GMAIL_READONLY)
_PEOPLE_ME = (
    CONTACTS,
    CONTACTS_READONLY,
    CONTACTS_OTHER_READONLY,
    DIRECTORY_READONLY,
    USER_EMAILS_READ,
    USER_PHONENUMBERS_READ,
    USERINFO_EMAIL,
    USERINFO_PROFILE,
)

# method -> any one of these scopes is enough (from Google's discovery documents).
METHOD_SCOPES: dict[str, tuple[str, ...]] = {
    "userinfo": (OPENID, USERINFO_EMAIL, USERINFO_PROFILE),
    "gmail.users.getProfile": (*_GMAIL_READ, GMAIL_COMPOSE, GMAIL_METADATA),
    "gmail.users.messages.list": (*_GMAIL_READ, GMAIL_METADATA),
    "gmail.users.messages.get": (*_GMAIL_READ, GMAIL_METADATA),
    "gmail.users.messages.attachments.get": _GMAIL_READ,
    "gmail.users.messages.send": (MAIL, GMAIL_MODIFY, GMAIL_COMPOSE, GMAIL_SEND),
    "gmail.users.messages.modify": (MAIL, GMAIL_MODIFY),
    "gmail.users.messages.trash": (MAIL, GMAIL_MODIFY),
    "gmail.users.messages.untrash": (MAIL, GMAIL_MODIFY),
    "gmail.users.messages.delete": (MAIL,),
    "gmail.users.labels.list": (*_GMAIL_READ, GMAIL_LABELS, GMAIL_METADATA),
    "gmail.users.settings.sendAs.list": (*_GMAIL_READ, GMAIL_SETTINGS_BASIC),
    "gmail.users.history.list": (*_GMAIL_READ, GMAIL_METADATA),
    "gmail.users.watch": (*_GMAIL_READ, GMAIL_METADATA),
    "gmail.users.stop": (*_GMAIL_READ, GMAIL_METADATA),
    "people.people.get": _PEOPLE_ME,
    "people.people.connections.list": (CONTACTS, CONTACTS_READONLY),
}


def expand(scope: str) -> str:
    """The full scope string for an alias (`email` -> `.../userinfo.email`), else the scope itself."""
    return ALIASES.get(scope, scope)


def normalized(scopes: Iterable[str]) -> list[str]:
    """Full scope strings, in order, without duplicates."""
    out: list[str] = []
    for scope in scopes:
        full = expand(scope)
        if full not in out:
            out.append(full)
    return out


def allows(granted: Iterable[str], method: str) -> bool:
    have = set(normalized(granted))
    return any(scope in have for scope in METHOD_SCOPES[method])


def metadata_only(granted: Iterable[str], method: str) -> bool:
    """True when the only scope that lets the token call `method` is gmail.metadata."""
    have = set(normalized(granted)) & set(METHOD_SCOPES[method])
    return have == {GMAIL_METADATA}
