"""Realistic seed data: a few messages per mailbox (non-ASCII subject, multipart/alternative,
a PDF attachment, a two-message thread, spam) and about five contacts per account."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from functools import lru_cache

from .config import FakeAccount
from .contacts import Contact
from .mailbox import Mailbox

MINIMAL_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


def _message(
    sender: str,
    to: str,
    subject: str,
    when: datetime,
    domain: str,
    key: str,
) -> EmailMessage:
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = f"<{hashlib.sha256(key.encode()).hexdigest()[:24]}@{domain}>"
    return msg


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


RECEIPTS = "<Receipts>"


@dataclass(frozen=True)
class SeedMessage:
    raw: bytes
    labels: tuple[str, ...]
    internal_date: int
    in_previous_thread: bool = False


def seed_mailbox(mailbox: Mailbox, account: FakeAccount, others: list[FakeAccount]) -> None:
    receipts = mailbox.add_label("Receipts")["id"]
    friend = (others[0].name, others[0].given_name, others[0].email) if others else None
    previous = None
    for seed in _seed_messages(account.name, account.given_name, account.email, friend):
        labels = [receipts if label == RECEIPTS else label for label in seed.labels]
        thread_id = previous.thread_id if seed.in_previous_thread and previous else None
        previous = mailbox.add(seed.raw, labels, thread_id=thread_id, internal_date=seed.internal_date)


@lru_cache(maxsize=64)
def _seed_messages(
    name: str, given_name: str, email: str, friend: tuple[str, str, str] | None
) -> tuple[SeedMessage, ...]:
    """The seed messages of an account, built once per process (parsing them is the slow part)."""
    me = formataddr((name, email))
    key = email
    out: list[SeedMessage] = []

    when = datetime(2025, 1, 6, 9, 15, tzinfo=UTC)
    msg = _message(
        formataddr(("Example Team", "noreply@example.org")),
        me,
        "Welcome to Example",
        when,
        "example.org",
        key + "1",
    )
    msg.set_content(
        f"Hi {given_name},\n\nWelcome to Example! Your account is ready.\n"
        "Reply to this message if you have any questions.\n\n-- The Example Team\n"
    )
    out.append(SeedMessage(msg.as_bytes(), ("INBOX", "CATEGORY_UPDATES"), _ms(when)))

    when = datetime(2025, 1, 8, 14, 2, tzinfo=UTC)
    msg = _message(
        formataddr(("Zoë Müller", "zoe@example.net")),
        me,
        "Café ☕ réunion — ordre du jour ünïcödé",
        when,
        "example.net",
        key + "2",
    )
    msg.set_content(
        "Bonjour,\n\nLa réunion de jeudi aura lieu au café « Les Deux Magots » à 10 h.\n"
        "À l'ordre du jour : budget, planning, 日本語のテスト.\n\nZoë\n",
        cte="quoted-printable",
    )
    out.append(SeedMessage(msg.as_bytes(), ("INBOX", "UNREAD", "IMPORTANT"), _ms(when)))

    when = datetime(2025, 1, 10, 7, 30, tzinfo=UTC)
    msg = _message(
        formataddr(("Example Digest", "digest@news.example.org")),
        me,
        "Your weekly digest",
        when,
        "news.example.org",
        key + "3",
    )
    msg.set_content("This week: 3 new posts, 12 comments.\nRead more at https://news.example.org/digest\n")
    msg.add_alternative(
        "<html><body><h1>Your weekly digest</h1><p>This week: <b>3 new posts</b>, 12 comments.</p>"
        '<p><a href="https://news.example.org/digest">Read more</a></p></body></html>',
        subtype="html",
    )
    out.append(SeedMessage(msg.as_bytes(), ("INBOX", "UNREAD", "CATEGORY_PROMOTIONS"), _ms(when)))

    when = datetime(2025, 1, 12, 18, 45, tzinfo=UTC)
    msg = _message(
        formataddr(("Billing", "billing@shop.example.com")),
        me,
        "Invoice #1042",
        when,
        "shop.example.com",
        key + "4",
    )
    msg.set_content("Please find attached your invoice #1042 for January.\nTotal: 42.00 EUR\n")
    msg.add_attachment(MINIMAL_PDF, maintype="application", subtype="pdf", filename="invoice-1042.pdf")
    out.append(SeedMessage(msg.as_bytes(), ("INBOX", RECEIPTS), _ms(when)))

    if friend is not None:
        friend_name, friend_given, friend_email = friend
        when = datetime(2025, 1, 14, 11, 0, tzinfo=UTC)
        question = _message(
            formataddr((friend_name, friend_email)), me, "Lunch on Friday?", when, "example.com", key + "5"
        )
        question.set_content(f"Hi {given_name}, lunch on Friday at noon?\n{friend_given}\n")
        out.append(SeedMessage(question.as_bytes(), ("INBOX",), _ms(when)))
        when = datetime(2025, 1, 14, 11, 20, tzinfo=UTC)
        reply = _message(
            me,
            formataddr((friend_name, friend_email)),
            "Re: Lunch on Friday?",
            when,
            "example.com",
            key + "6",
        )
        reply["In-Reply-To"] = question["Message-ID"]
        reply["References"] = question["Message-ID"]
        reply.set_content(f"Sounds good, see you there!\n{given_name}\n")
        out.append(SeedMessage(reply.as_bytes(), ("SENT",), _ms(when), in_previous_thread=True))

    when = datetime(2025, 1, 15, 3, 3, tzinfo=UTC)
    msg = _message(
        formataddr(("Prize Department", "winner@lottery.example")),
        me,
        "You have WON!!!",
        when,
        "lottery.example",
        key + "7",
    )
    msg.set_content("Send us your bank details to claim your prize.\n")
    out.append(SeedMessage(msg.as_bytes(), ("SPAM", "UNREAD"), _ms(when)))
    return tuple(out)


def _resource_id(email: str, index: int) -> str:
    digest = hashlib.sha256(f"{email}:{index}".encode()).hexdigest()
    return "c" + str(int(digest[:15], 16)).rjust(19, "0")[:19]


def seed_contacts(account: FakeAccount, others: list[FakeAccount]) -> list[Contact]:
    people = [
        ("José", "Álvarez", ["jose.alvarez@example.org"], ["+34 612 345 678"], "Ejemplo S.L."),
        (
            "Grace",
            "Hopper",
            ["grace@navy.example.mil", "grace.hopper@example.com"],
            ["+1 202-555-0143"],
            None,
        ),
        ("Zoë", "Müller", ["zoe@example.net"], [], None),
        ("Ada", "Lovelace", ["ada@engines.example.co.uk"], ["+44 20 7946 0018"], "Analytical Engines Ltd"),
    ]
    people += [(o.given_name, o.family_name, [o.email], ["(555) 010-0199"], None) for o in others[:1]]
    if len(people) < 5:
        people.append(("Linus", "Torvalds", ["linus@kernel.example.org"], [], None))
    return [
        Contact(_resource_id(account.email, index), given, family, emails, phones, org)
        for index, (given, family, emails, phones, org) in enumerate(people)
    ]
