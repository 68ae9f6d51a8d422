"""`dependency_errors`: one classification of AWS faults into answers a client can act on."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from oauth_broker.crypto.envelope import DecryptionError, KeyServiceError
from oauth_broker.dependency_errors import dependency_error, dependency_fault_code
from oauth_broker.errors import ServiceMisconfigured, ServiceUnavailable
from oauth_broker.tokens.invocation import error_answer, error_from_answer


def _client_error(code: str, status: int = 400) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op"
    )


@pytest.mark.parametrize(
    ("code", "status", "reason", "retry_after"),
    [
        ("ProvisionedThroughputExceededException", 400, "dependency_throttled", 1),
        ("ThrottlingException", 400, "dependency_throttled", 1),
        ("RequestLimitExceeded", 400, "dependency_throttled", 1),
        ("TooManyRequestsException", 429, "dependency_throttled", 1),
        ("InternalServerError", 500, "dependency_failed", 1),
        ("KMSInternalException", 500, "dependency_failed", 1),
        ("SomethingNew", 503, "dependency_failed", 1),
        ("DisabledException", 400, "key_unavailable", 30),
        ("KMSInvalidStateException", 400, "key_unavailable", 30),
    ],
)
def test_given_a_retryable_aws_error_when_classified_then_503_with_its_retry_after(
    code: str, status: int, reason: str, retry_after: int
) -> None:
    err = dependency_error(_client_error(code, status))

    assert isinstance(err, ServiceUnavailable)
    assert (err.status, err.code, err.extra["reason"]) == (503, "service_unavailable", reason)
    assert err.headers == {"Retry-After": str(retry_after)}


@pytest.mark.parametrize(
    "exc", [ReadTimeoutError(endpoint_url="https://x"), EndpointConnectionError(endpoint_url="https://x")]
)
def test_given_a_timeout_or_dropped_connection_when_classified_then_503_dependency_timeout(
    exc: Exception,
) -> None:
    err = dependency_error(exc)

    assert isinstance(err, ServiceUnavailable) and err.extra["reason"] == "dependency_timeout"


def test_given_access_denied_when_classified_then_500_service_misconfigured_without_retry_after() -> None:
    err = dependency_error(_client_error("AccessDeniedException"))

    assert isinstance(err, ServiceMisconfigured)
    assert (err.status, err.code, err.headers) == (500, "service_misconfigured", {})


@pytest.mark.parametrize(
    "code", ["ConditionalCheckFailedException", "ValidationException", "ResourceNotFoundException"]
)
def test_given_a_client_side_aws_error_when_classified_then_it_is_not_a_dependency_fault(code: str) -> None:
    assert dependency_error(_client_error(code)) is None


def test_given_a_crypto_error_raised_from_a_kms_error_when_classified_then_the_cause_decides() -> None:
    def wrapped(cls: type[Exception], cause: Exception) -> Exception:
        try:
            raise cls("KMS could not") from cause
        except Exception as exc:
            return exc

    throttled = dependency_error(wrapped(KeyServiceError, _client_error("ThrottlingException")))
    denied = dependency_error(wrapped(DecryptionError, _client_error("AccessDeniedException")))

    assert isinstance(throttled, ServiceUnavailable)
    assert isinstance(denied, ServiceMisconfigured)
    assert dependency_error(KeyServiceError("no cause")) is None
    assert (
        dependency_fault_code(wrapped(KeyServiceError, _client_error("ThrottlingException")))
        == "ThrottlingException"
    )


def test_given_an_error_handled_while_an_aws_error_was_in_flight_when_classified_then_it_stays_a_bug() -> (
    None
):
    try:
        try:
            raise _client_error("ThrottlingException")
        except ClientError:
            raise KeyError("a bug in the handler")  # noqa: B904 - the implicit context is the point
    except KeyError as exc:
        assert dependency_error(exc) is None


def test_given_a_503_from_the_refresh_function_when_the_api_reads_the_answer_then_the_same_503() -> None:
    answer = error_answer(ServiceUnavailable("busy", reason="dependency_throttled", retry_after=1))

    err = error_from_answer(answer["error"])

    assert isinstance(err, ServiceUnavailable)
    assert err.headers == {"Retry-After": "1"} and err.extra["reason"] == "dependency_throttled"
