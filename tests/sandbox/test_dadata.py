"""The DaData emulator over HTTP: auth (401 without a key or secret, 403 for a wrong one), the body
check, the answer's field types and quality codes, every address the demo data generates, the
balance, the per-key stats and the 403/429 switches."""

from __future__ import annotations

import pytest
import requests

from ident_integrations import demo_data


@pytest.fixture
def dadata(sandbox):
    yield sandbox
    sandbox._control("DELETE", "/dadata/faults")


def post(sandbox, body, token: str | None = "KEY", secret: str | None = "KEY", **kwargs) -> requests.Response:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Token {sandbox.key if token == 'KEY' else token}"
    if secret is not None:
        headers["X-Secret"] = sandbox.key if secret == "KEY" else secret
    return requests.post(f"{sandbox.base_url}/dadata/api/v1/clean/address", json=body, headers=headers, timeout=10,
                         **kwargs)  # fmt: skip


def clean(sandbox, *addresses: str) -> list[dict]:
    response = post(sandbox, list(addresses))
    assert response.status_code == 200, response.text
    return response.json()


def test_keys_are_required_and_checked(dadata):
    assert post(dadata, ["мск сухонская 11"], token=None).status_code == 401
    missing_secret = post(dadata, ["мск сухонская 11"], secret=None)
    assert missing_secret.status_code == 401 and "X-Secret" in missing_secret.json()["message"]
    wrong = post(dadata, ["мск сухонская 11"], secret="not-the-secret")
    assert wrong.status_code == 403 and wrong.json()["reason"] == "Forbidden"
    assert post(dadata, ["мск сухонская 11"], token="not-the-key").status_code == 403


@pytest.mark.parametrize("body", [{"query": "мск"}, "мск сухонская 11", [1, 2], ["ok", None]])
def test_the_body_must_be_an_array_of_strings(dadata, body):
    response = post(dadata, body)
    assert response.status_code == 400 and "array of strings" in response.json()["message"]


def test_too_many_items_is_413(dadata):
    assert post(dadata, ["мск сухонская 11"] * 51).status_code == 413


def test_an_exact_house_has_string_coordinates_and_integer_codes_in_order(dadata):
    first, second = clean(dadata, "мск сухонска 11/-89", "г. Москва, ул. Тверская, д. 18, стр. 1")
    assert first["source"] == "мск сухонска 11/-89"
    assert first["result"] == "г Москва, ул Сухонская, д 11, кв 89"
    assert (first["house"], first["flat"], first["region"], first["fias_level"]) == ("11", "89", "Москва", "9")
    assert isinstance(first["geo_lat"], str) and isinstance(first["geo_lon"], str)
    assert 55 < float(first["geo_lat"]) < 56 and 37 < float(first["geo_lon"]) < 38
    assert all(isinstance(first[code], int) for code in ("qc", "qc_geo", "qc_complete", "qc_house"))
    assert (first["qc"], first["qc_geo"], first["qc_complete"]) == (1, 0, 0)  # misspelt street: check by hand
    assert second["result"] == "г Москва, ул Тверская, д 18, стр 1"
    assert (second["qc"], second["qc_geo"], second["qc_house"], second["qc_complete"]) == (0, 0, 2, 5)
    for name in ("postal_code", "region_fias_id", "street_fias_id", "fias_id", "kladr_id", "okato", "timezone"):
        assert second[name], name
    assert set(first) == set(second)  # the same field list for every answer


def test_quality_codes_vary_as_the_reference_describes(dadata):
    street, garbage, same_name, ambiguous, far_house, kazan = clean(
        dadata,
        "г. Москва, ул. Арбат",
        "asdf qwer 123",
        "ул Ленина, д 5",
        "г Москва, ул Тверская-Ямская, д 3",
        "г. Москва, Ленинский пр-т, д. 200",
        "г Казань, ул Ленина, д 5",
    )
    assert (street["qc"], street["qc_geo"], street["qc_complete"], street["house"]) == (0, 2, 4, None)
    assert (garbage["qc"], garbage["qc_geo"], garbage["result"], garbage["geo_lat"], garbage["geo_lon"]) == (
        2, 5, None, None, None)  # fmt: skip
    assert same_name["qc"] == 3 and ambiguous["qc"] == 3
    assert (far_house["qc_geo"], far_house["qc_house"]) == (1, 10)
    assert kazan["city"] == "Казань" and kazan["qc"] == 0 and 49 < float(kazan["geo_lon"]) < 50


def test_every_demo_address_is_recognised_at_the_house(dadata):
    network = demo_data.generate(seed=demo_data.DEFAULT_SEED, days_ahead=1)
    addresses = [patient.address for patient in network.patients if patient.address]
    assert len(addresses) > 1000
    answers = []
    for start in range(0, len(addresses), 50):
        answers += clean(dadata, *addresses[start : start + 50])
    assert [a["source"] for a in answers] == addresses
    bad = [(a["source"], a["qc"], a["qc_geo"]) for a in answers if (a["qc"], a["qc_geo"]) != (0, 0)]
    assert not bad, bad[:5]
    for answer in answers:
        city = "г Москва" if answer["source"].startswith("г. Москва") else "г Екатеринбург"
        assert answer["result"].startswith(city) and answer["house"] in answer["source"]
        assert answer["qc_complete"] == (0 if ", кв. " in answer["source"] else 5)


def test_the_balance_needs_the_keys(dadata):
    url = f"{dadata.base_url}/dadata/api/v2/profile/balance"
    assert requests.get(url, timeout=10).status_code == 401
    ok = requests.get(url, headers={"Authorization": f"Token {dadata.key}", "X-Secret": dadata.key}, timeout=10)
    assert ok.status_code == 200 and isinstance(ok.json()["balance"], float)


def test_stats_count_requests_per_key_and_the_switches_answer_403_and_429(dadata):
    before = dadata._control("GET", "/dadata/stats")
    mine = before["sandbox_key"]
    clean(dadata, "мск сухонская 11", "г Казань, ул Баумана, д 1")
    post(dadata, ["x"], token="someone-else")
    after = dadata._control("GET", "/dadata/stats")
    assert after["requests_by_key"][mine] == before["requests_by_key"].get(mine, 0) + 1
    assert after["addresses_cleaned"] == before["addresses_cleaned"] + 2
    assert len(after["requests_by_key"]) >= 2 and dadata.key not in str(after)

    dadata._control("PUT", "/dadata/faults", json={"forbidden_next": 1})
    refused = post(dadata, ["мск сухонская 11"])
    assert refused.status_code == 403 and "money" in refused.json()["message"]
    assert post(dadata, ["мск сухонская 11"]).status_code == 200

    dadata._control("PUT", "/dadata/faults", json={"rate_limited_next": 2, "retry_after": 3})
    limited = [post(dadata, ["мск сухонская 11"]) for _ in range(3)]
    assert [r.status_code for r in limited] == [429, 429, 200]
    assert limited[0].headers["Retry-After"] == "3"
