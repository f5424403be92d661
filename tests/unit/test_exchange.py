import pytest
import requests

from ident_hooks.clinic_http import ident_datetime
from ident_hooks.exchange import (
    Exchange,
    ServiceAuthError,
    ServiceResponseError,
    TransientServiceError,
    redact_text,
    redact_url,
    retry_after_seconds,
    timed_request,
)


def test_redact_url_hides_secret_params_and_credentials():
    url = "https://user:pass@smsc.example/sys/send.php?login=clinic&psw=s3cret&apikey=abc&phones=%2B7911&limit=5"
    redacted = redact_url(url)
    assert "s3cret" not in redacted and "abc" not in redacted and "pass" not in redacted
    assert "psw=***" in redacted and "apikey=***" in redacted
    assert "login=clinic" in redacted and "limit=5" in redacted and "smsc.example/sys/send.php" in redacted


def test_redact_text_removes_the_key_and_truncates():
    assert redact_text("bad key k-123 sent", ("k-123",)) == "bad key *** sent"
    assert len(redact_text("x" * 5000, ())) == 2000


def test_retry_after_header_in_seconds():
    response = requests.Response()
    response.headers["Retry-After"] = "7"
    assert retry_after_seconds(response) == 7
    response.headers["Retry-After"] = "soon"
    assert retry_after_seconds(response) is None


def test_ident_datetime_keeps_the_offset_with_a_colon():
    import pendulum

    moment = pendulum.datetime(2025, 1, 5, 14, 45, 37, 123456, tz="Europe/Moscow")
    assert ident_datetime(moment) == "2025-01-05T14:45:37+03:00"


class CannedAdapter(requests.adapters.BaseAdapter):
    """Answers every request with one fixed response, without a network."""

    def __init__(self, status: int, body: str):
        super().__init__()
        self.status, self.body = status, body

    def send(self, request, **kwargs):
        response = requests.Response()
        response.status_code, response._content = self.status, self.body.encode()
        response.request, response.url, response.reason = request, request.url, "Canned"
        return response

    def close(self):
        pass


def canned_exchange(status: int, body: str, **kwargs) -> tuple[object, list[Exchange]]:
    """timed_request against a canned answer: (its result or the exception it raised, the exchanges)."""
    session = requests.Session()
    session.mount("http://", CannedAdapter(status, body))
    prepared = session.prepare_request(requests.Request("POST", "http://svc.test/v2.0", data='{"token": "t-42"}'))
    exchanges: list[Exchange] = []
    try:
        outcome = timed_request(session, prepared, timeout=1, record=exchanges.append, secrets=("t-42",), **kwargs)
    except Exception as exc:  # noqa: BLE001 - the caller asserts on it
        outcome = exc
    return outcome, exchanges


def test_describe_url_replaces_the_request_url_and_is_redacted():
    _, (exchange,) = canned_exchange(
        200, "{}", describe_url="http://svc.test/v2.0?method=get.x&access_token=t-42&limit=5"
    )
    assert exchange.url == "http://svc.test/v2.0?method=get.x&access_token=***&limit=5"
    assert exchange.method == "POST" and exchange.status == 200 and exchange.error is None


@pytest.mark.parametrize("error_class", [ServiceAuthError, TransientServiceError, ServiceResponseError])
def test_any_airflow_error_raised_by_parse_is_recorded_without_the_secret(error_class):
    def refuse(response):
        raise error_class("token t-42 refused (access_token_invalid)")

    outcome, (exchange,) = canned_exchange(200, "{}", parse=refuse)
    assert type(outcome) is error_class
    assert exchange.status == 200 and exchange.error == "token *** refused (access_token_invalid)"


def test_inspect_error_classifies_an_error_status_before_the_generic_rules():
    def rpc_error(response):
        if "mnemonic" in response.text:
            raise ServiceAuthError("ip_not_whitelisted")

    outcome, (exchange,) = canned_exchange(400, '{"mnemonic": 1}', inspect_error=rpc_error)
    assert isinstance(outcome, ServiceAuthError) and (exchange.status, exchange.error) == (400, "ip_not_whitelisted")
    outcome, (exchange,) = canned_exchange(400, "plain", inspect_error=rpc_error)  # passed on: the generic rule
    assert isinstance(outcome, ServiceResponseError) and exchange.error == "400 Canned: plain"
