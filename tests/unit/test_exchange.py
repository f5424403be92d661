import requests

from ident_hooks.clinic_http import ident_datetime
from ident_hooks.exchange import redact_text, redact_url, retry_after_seconds


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
