"""``ident geocode "<address>" --integration NAME``: one address through an integration's DaData
connection, printed with the meaning of each quality code and the distance to the clinic — IDENT's
"Распознать" button. Nothing is written to the IDENT database (the request is still a paid one)."""

from __future__ import annotations

import argparse
from typing import Any


def add_geocode_command(commands: Any) -> None:
    sub = commands.add_parser(
        "geocode",
        help="standardise and geocode one address through a DaData integration (one paid request)",
        description=(
            "Send one address to DaData's Cleaner through the integration's Airflow connection and print the"
            " standardised address, coordinates, quality codes with their meaning and the distance to the"
            " clinic (geocoding.clinic_lat/clinic_lon, or clinic_address geocoded too). Writes nothing."
        ),
    )
    sub.add_argument("address", help='the raw address, e.g. "мск сухонская 11/-89"')
    sub.add_argument("--integration", required=True, help="name of a dadata integration in the integrations file")
    sub.add_argument("--file", help="default: $IDENT_INTEGRATIONS_FILE or include/integrations.yaml")
    sub.set_defaults(handler=geocode)


def _settings(args: argparse.Namespace):
    from ident_integrations.cli import USAGE, CommandError, _load
    from ident_integrations.registry import CAPABILITIES

    config = _load(args.file)
    by_name = {integration.name: integration for integration in config.integrations}
    integration = by_name.get(args.integration)
    if integration is None:
        known = ", ".join(name for name, i in by_name.items() if i.service == "dadata") or "none"
        raise CommandError(f"no integration {args.integration!r} in the integrations file (dadata ones: {known})",
                           USAGE)  # fmt: skip
    if integration.service != "dadata":
        raise CommandError(f"integration {args.integration!r} uses service {integration.service!r}: geocoding needs"
                           " a dadata integration", USAGE)  # fmt: skip
    return config._resolve(integration, CAPABILITIES["geocoding"])


def _meaning(table: dict[int, str], code: int | None) -> str:
    return "(none)" if code is None else f"{code}  {table.get(code, 'unknown code')}"


def geocode(args: argparse.Namespace) -> int:
    from ident_hooks.exchange import ServiceAuthError
    from ident_integrations.capabilities import geocoding as g
    from ident_integrations.cli import OK, USAGE, CommandError, one_line
    from ident_integrations.registry import service_for

    if not args.address.strip():
        raise CommandError("the address is empty", USAGE)
    settings = _settings(args)
    block = settings.block
    try:
        with service_for(settings).hook(settings) as hook:
            clinic = None
            if block.clinic_lat is not None:
                clinic = (block.clinic_lat, block.clinic_lon)
            elif block.clinic_address:
                point = g.interpret(block.clinic_address, hook.clean_address(block.clinic_address), block, None)
                clinic = None if point.geo_lat is None else (float(point.geo_lat), float(point.geo_lon))
            answer = g.interpret(args.address, hook.clean_address(args.address), block, clinic)
    except ServiceAuthError as exc:
        raise CommandError(f"DaData refused the request: {exc}") from None
    except g.BadAnswer as exc:
        raise CommandError(f"DaData's answer is unusable: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - a missing connection, a network failure: one line, no traceback
        raise CommandError(f"{settings.integration}: {one_line(exc)}") from None
    coords = "not determined" if answer.geo_lat is None else f"{answer.geo_lat}, {answer.geo_lon}"
    print(f"source:       {answer.source_address}")
    print(f"result:       {answer.result or '(not recognised)'}")
    print(f"coordinates:  {coords}")
    print(f"qc:           {_meaning(g.QC_MEANING, answer.qc)}")
    print(f"qc_geo:       {_meaning(g.QC_GEO_MEANING, answer.qc_geo)}")
    print(f"qc_complete:  {_meaning(g.QC_COMPLETE_MEANING, answer.qc_complete)}")
    print(f"qc_house:     {_meaning(g.QC_HOUSE_MEANING, answer.qc_house)}")
    if clinic is None and not block.branch_points:
        print("distance:     (no clinic coordinates: set geocoding.clinic_lat/clinic_lon)")
    elif answer.distance_km is None:
        print("distance:     (no coordinates for this address)")
    else:
        where = f" ({clinic[0]:g}, {clinic[1]:g})" if clinic is not None else ""
        others = f" or the nearest of its {len(block.branch_points)} other branch(es)" if block.branch_points else ""
        print(f"distance:     {answer.distance_km:.1f} km from the clinic{where}{others}")
    print(f"review:       {'needed: ' + '; '.join(answer.reasons) if answer.needs_review else 'not needed'}")
    return OK
