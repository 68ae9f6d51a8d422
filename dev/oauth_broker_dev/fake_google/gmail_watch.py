"""Gmail push (https://developers.google.com/workspace/gmail/api/guides/push): `users.watch`,
`users.stop`, and the notification Gmail publishes on the watch's Pub/Sub topic when a watched
mailbox changes: `{"emailAddress": <mailbox>, "historyId": <its new historyId, a number>}`.

Google keeps one watch per user per Cloud project; the fake has no projects, so it keeps one per
(mailbox, OAuth client): watching again replaces it, `stop` ends it. A watch lasts 7 days."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from .mailbox import HistoryRecord, Mailbox, MailboxError
from .pubsub import GMAIL_PUBLISHER, TOPIC_NAME, PubSubError

if TYPE_CHECKING:
    from .fake import FakeGoogle

WATCH_LIFETIME = 7 * 24 * 3600
BEHAVIORS = ("include", "exclude")
_PROJECT = re.compile(r"^projects/([^/]+)/")


@dataclass
class Watch:
    email: str
    client_id: str
    topic: str
    label_ids: list[str] = field(default_factory=list)
    label_filter_behavior: str = "include"
    history_id: int = 0
    expiration: float = 0.0  # epoch seconds

    def wants(self, record: HistoryRecord) -> bool:
        """Google's label filter: no labels, every change; `include`, changes of messages with one
        of the labels; `exclude`, changes of messages with none of them."""
        if not self.label_ids:
            return True
        touched = bool(set(self.label_ids) & set(record.label_ids))
        return touched if self.label_filter_behavior == "include" else not touched

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def start_watch(fake: FakeGoogle, mailbox: Mailbox, client_id: str, body: dict[str, Any]) -> dict[str, str]:
    """`users.watch`: validate the request and the topic, (re)place the watch, answer
    `{historyId, expiration}` (expiration in epoch milliseconds, as strings)."""
    topic = body.get("topicName")
    if not isinstance(topic, str) or not TOPIC_NAME.match(topic):
        project = _PROJECT.match(topic) if isinstance(topic, str) else None
        name = project.group(1) if project else "SOME_ANDROID_PROJECT"
        message = f"Invalid topicName does not match projects/{name}/topics/*"
        raise MailboxError(400, message, "invalidArgument")
    label_ids = body.get("labelIds") or []
    if not isinstance(label_ids, list) or not all(isinstance(label, str) for label in label_ids):
        raise MailboxError(400, "Invalid JSON payload received. Invalid labelIds.", "invalid")
    for label in label_ids:
        if label not in mailbox.labels:
            raise MailboxError(400, f"Invalid label: {label}", "invalidArgument")
    behavior = body.get("labelFilterBehavior") or body.get("labelFilterAction") or "include"
    if str(behavior).lower() not in BEHAVIORS:
        raise MailboxError(
            400,
            "Invalid value at 'label_filter_behavior' (type.googleapis.com/"
            f'google.apps.gmail.v1.WatchRequest.LabelFilterBehavior), "{behavior}"',
            "invalid",
        )
    if topic not in fake.pubsub.topics:
        raise MailboxError(404, f"Resource not found (resource={topic.rsplit('/', 1)[-1]}).", "notFound")
    if not fake.pubsub.can_publish(topic, GMAIL_PUBLISHER):
        raise MailboxError(
            403,
            f"Error sending test message to Cloud PubSub {topic} : "
            "User not authorized to perform this action.",
            "forbidden",
        )
    watch = Watch(
        email=mailbox.email.lower(),
        client_id=client_id,
        topic=topic,
        label_ids=list(dict.fromkeys(label_ids)),
        label_filter_behavior=str(behavior).lower(),
        history_id=mailbox.history_id,
        expiration=fake.now() + WATCH_LIFETIME,
    )
    fake.watches[(watch.email, client_id)] = watch
    return {"historyId": str(watch.history_id), "expiration": str(int(watch.expiration * 1000))}


def stop_watch(fake: FakeGoogle, mailbox: Mailbox, client_id: str) -> bool:
    """`users.stop`: end the (mailbox, client) watch. True when there was one."""
    return fake.watches.pop((mailbox.email.lower(), client_id), None) is not None


def notify(fake: FakeGoogle, mailbox: Mailbox, record: HistoryRecord) -> None:
    """A mailbox changed: publish Gmail's notification on the topic of every live watch of it
    whose label filter wants the change (the fake holds its lock; publishing only queues)."""
    email = mailbox.email.lower()
    now = fake.now()
    for watch in [w for w in fake.watches.values() if w.email == email]:
        if watch.expiration <= now or not watch.wants(record):
            continue
        data = {"emailAddress": mailbox.email, "historyId": record.id}
        try:
            fake.pubsub.publish(watch.topic, data, publisher=GMAIL_PUBLISHER)
        except PubSubError:
            continue  # topic deleted or Gmail's grant removed since: Gmail's publish fails silently
