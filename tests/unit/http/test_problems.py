from oauth_broker.http.problems import validation_errors, validation_failure


def field_error(loc: tuple[str, ...], kind: str, msg: str = "invalid") -> dict[str, object]:
    return {"loc": loc, "msg": msg, "type": kind, "input": "the caller's value"}


def test_given_field_errors_when_they_fail_validation_then_it_is_422_naming_the_fields_without_inputs():
    errors = validation_errors(
        [
            field_error(("body", "to", 0), "invalid_email_address"),
            field_error(("query", "limit"), "int_parsing"),
        ]
    )

    problem = validation_failure(errors)

    assert (problem.status, problem.code) == (422, "validation_error")
    assert problem.detail == "invalid: to.0, limit"
    assert problem.extra["errors"] == [
        {"loc": ["body", "to", "0"], "msg": "invalid", "type": "invalid_email_address"},
        {"loc": ["query", "limit"], "msg": "invalid", "type": "int_parsing"},
    ]


def test_given_a_message_over_its_size_limit_when_it_fails_validation_then_it_is_413_listing_every_field():
    too_large = "the bodies and attachments add up to 6000000 bytes; at most 5242880 bytes are accepted"
    errors = validation_errors(
        [
            field_error(("body", "to", 0), "invalid_email_address"),
            field_error(("body", "attachments"), "message_too_large", too_large),
        ]
    )

    problem = validation_failure(errors)

    assert (problem.status, problem.code, problem.title) == (413, "message_too_large", "Payload too large")
    assert problem.detail == too_large
    assert [e["loc"] for e in problem.extra["errors"]] == [["body", "to", "0"], ["body", "attachments"]]
