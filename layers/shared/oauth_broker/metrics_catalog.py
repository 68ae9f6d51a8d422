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

__all__ = ["FUNCTIONS", "METRICS", "NAMESPACE", "STATUS_CLASSES", "UPSTREAM_STATUS_CLASSES", "MetricSpec"]

NAMESPACE = "OAuthBroker"

# The `function` dimension's values: the stack's eight functions.
FUNCTIONS = ("authorizer", "authorize", "callback", "api", "proxy", "refresh", "webhook", "risc")
STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx")
# `network`: no answer at all (a timeout, a refused or cut connection).
UPSTREAM_STATUS_CLASSES = (*STATUS_CLASSES, "network")
DEPENDENCIES = ("dynamodb", "kms", "events", "sqs")


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
}
