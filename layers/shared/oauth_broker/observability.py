"""Powertools logger and metrics shared by every function (one instance each per process).

No Powertools Tracer: the functions run with Lambda's active X-Ray tracing (template.yaml), and the
X-Ray SDK the Tracer needs costs ~250 ms of cold start on import, which the proxy can't afford.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

logger = Logger(service="oauth-broker")
metrics = Metrics(namespace="OAuthBroker", service="oauth-broker")
