"""DaData (dadata.ru): patients' addresses standardised and geocoded by the Cleaner API
(``ident_hooks/dadata.py``; reference external-apis.md §3, ident-protocol.md §9).

Its one capability is ``geocoding``: the source is the hook's ``clean_address`` (one address per
request, as DaData's own client sends them); the capability judges the answer
(``capabilities/geocoding.py``: quality codes, distance from the clinic, review flag).
"""

from __future__ import annotations

from dataclasses import dataclass

from ident_integrations.services import Service


@dataclass(frozen=True)
class GeocodingSource:
    """How a service geocodes: the hook method that takes one raw address and returns the answer."""

    method: str = "clean_address"


DADATA = Service(
    name="dadata",
    conn_type="ident_dadata",
    hook_path="ident_hooks.dadata:DadataHook",
    sources={"geocoding": GeocodingSource()},
)
