"""Gmail: typed request/response models and MIME build/parse for the ``.../gmail/messages`` routes."""

from oauth_broker.gmail.mime import (
    FORMATS,
    build_message,
    build_send_body,
    encode_raw,
    parse_gmail_message,
    parse_raw,
)
from oauth_broker.gmail.models import (
    DEFAULT_MAX_MESSAGE_BYTES,
    GMAIL_MAX_MESSAGE_BYTES,
    MAX_MESSAGE_BYTES_CONTEXT_KEY,
    MAX_REQUEST_BYTES,
    AttachmentIn,
    AttachmentInfo,
    HeaderField,
    MessageDetail,
    MessageHeaders,
    MessageList,
    MessageRef,
    SendMessageRequest,
    SendResult,
)

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "FORMATS",
    "GMAIL_MAX_MESSAGE_BYTES",
    "MAX_MESSAGE_BYTES_CONTEXT_KEY",
    "MAX_REQUEST_BYTES",
    "AttachmentIn",
    "AttachmentInfo",
    "HeaderField",
    "MessageDetail",
    "MessageHeaders",
    "MessageList",
    "MessageRef",
    "SendMessageRequest",
    "SendResult",
    "build_message",
    "build_send_body",
    "encode_raw",
    "parse_gmail_message",
    "parse_raw",
]
