"""Every CloudWatch metric the broker publishes (EMF, namespace `OAuthBroker`): name -> unit and
dimension set. The one place the code (`oauth_broker.observability`), the alarms and the dashboard
(template.yaml, checked by tests/infrastructure) agree on.

Every metric also carries the dimension `service`, the stack's name (`POWERTOOLS_SERVICE_NAME`), so
two stacks in one account never mix. The dimensions below come in addition to it and are the
metric's whole set: CloudWatch matches a metric by its full dimension set. They stay
low-cardinality: never a connection, user or tenant id (those go in the logs).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "FUNCTIONS",
    "GMAIL_PUSH_OUTCOMES",
    "GMAIL_WATCH_RENEWAL_OUTCOMES",
    "METRICS",
    "NAMESPACE",
    "OUTCOMES",
    "STATUS_CLASSES",
    "UPSTREAM_STATUS_CLASSES",
    "MetricSpec",
]

NAMESPACE = "OAuthBroker"

# The `function` dimension's values: the stack's nine functions.
FUNCTIONS = (
    "authorizer",
    "authorize",
    "callback",
    "api",
    "proxy",
    "refresh",
    "webhook",
    "risc",
    "gmail_push",
)
STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx")
# `network`: no answer at all (a timeout, a refused or cut connection).
UPSTREAM_STATUS_CLASSES = (*STATUS_CLASSES, "network")
DEPENDENCIES = ("dynamodb", "kms", "events", "sqs")
# The `outcome` dimension's values, per metric that has it.
# A Gmail push: processed (its watches looked at: read and announced, or found already past its
# history id when redelivered or late), ignored (no watch of that mailbox), refused (401/403: its
# token, or no watching tenant's aud and service account).
GMAIL_PUSH_OUTCOMES = ("processed", "ignored", "refused")
# A watch the daily sweep met: renewed (users.watch again), stopped (users.stop: its connection
# lost Gmail read access), failed (Google or a dependency failed; the next sweep tries again).
GMAIL_WATCH_RENEWAL_OUTCOMES = ("renewed", "stopped", "failed")
OUTCOMES: dict[str, tuple[str, ...]] = {
    "gmail_pushes": GMAIL_PUSH_OUTCOMES,
    "gmail_watch_renewals": GMAIL_WATCH_RENEWAL_OUTCOMES,
}


@dataclass(frozen=True)
class MetricSpec:
    unit: str
    dimensions: tuple[str, ...]
    meaning: str


METRICS: dict[str, MetricSpec] = {
    # every HTTP function (authorize, callback, api, proxy): one of each per request
    "requests": MetricSpec(
        "Count", ("function", "route", "status_class"), "one per HTTP request (route: API Gateway's routeKey)"
    ),
    "latency": MetricSpec(
        "Milliseconds", ("function", "route", "status_class"), "the handler's time for one request"
    ),
    "server_error": MetricSpec(
        "Count", ("function",), "1 per 5xx answer, 0 per other answer: Average is the 5xx rate"
    ),
    # the proxy's calls to the provider (each attempt)
    "upstream_requests": MetricSpec("Count", ("status_class",), "one per call to the provider's API"),
    "upstream_latency": MetricSpec("Milliseconds", ("status_class",), "one call to the provider's API"),
    "upstream_server_error": MetricSpec(
        "Count", (), "1 per provider 5xx or network failure, 0 per other answer: Average is the rate"
    ),
    "upstream_retries": MetricSpec("Count", (), "calls to the provider repeated after a 429, 5xx or failure"),
    "rate_limited": MetricSpec("Count", (), "429 answers the proxy returned to its callers"),
    "concurrency_limited": MetricSpec(
        "Count", (), "proxy requests refused (429) because the connection's concurrency slots were all taken"
    ),
    # token refresh outcomes, whichever function refreshed
    "refreshed": MetricSpec("Count", (), "access tokens refreshed"),
    "needs_reauth": MetricSpec("Count", (), "connections marked needs_reauth (grant refused)"),
    "refresh_failed": MetricSpec("Count", (), "refreshes that failed (the connection keeps its status)"),
    "use_record_failed": MetricSpec("Count", (), "a connection's last use could not be recorded"),
    # the sweep's backlog and the work queue
    "sweep_remaining": MetricSpec("Count", (), "due connections the sweep did not reach in time"),
    "sweep_enqueued": MetricSpec("Count", (), "refresh jobs the sweep sent to the work queue"),
    "sweep_discarded": MetricSpec("Count", (), "unconfirmed connect results discarded"),
    "queue_job_failed": MetricSpec("Count", (), "work-queue jobs that failed (then redelivered)"),
    # webhooks
    "webhook_delivered": MetricSpec("Count", (), "events delivered to a tenant's webhook"),
    "webhook_failed": MetricSpec("Count", (), "webhook deliveries that failed (retried)"),
    # every function
    "cold_start": MetricSpec("Count", ("function",), "one per cold start"),
    "dependency_throttles": MetricSpec(
        "Count", ("dependency",), "throttling errors from dynamodb, kms, events or sqs (KMS publishes none)"
    ),
    "audit_write_failed": MetricSpec("Count", (), "audit records that could not be written"),
    # Gmail push notifications (the gmail_push function; renewals: the refresh function's sweep)
    "gmail_pushes": MetricSpec(
        "Count", ("outcome",), "one per Gmail push received, by outcome (GMAIL_PUSH_OUTCOMES)"
    ),
    "gmail_messages_added": MetricSpec(
        "Count", (), "messages reported in gmail.messages_added events (one per message id)"
    ),
    "gmail_history_resets": MetricSpec(
        "Count", (), "gmail.history_reset events: a watch's history id too old for Google (404), re-baselined"
    ),
    "gmail_watch_stops": MetricSpec(
        "Count",
        (),
        "Gmail watches stopped (item deleted; users.stop while the grant works): DELETE of the watch or"
        " its connection, or a push or renewal meeting a connection that no longer reads the mailbox",
    ),
    "gmail_watch_renewals": MetricSpec(
        "Count",
        ("outcome",),
        "one per watch the daily sweep renewed, stopped or failed (GMAIL_WATCH_RENEWAL_OUTCOMES)",
    ),
}
