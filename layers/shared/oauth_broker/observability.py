"""Powertools logger, tracer and metrics shared by every function (one instance each per process)."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger(service="oauth-broker")
tracer = Tracer(service="oauth-broker")
metrics = Metrics(namespace="OAuthBroker", service="oauth-broker")
