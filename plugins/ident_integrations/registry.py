"""The one place that lists capabilities and services. Adding either is one module and one line here.

The configuration loader and the DAG factory read these dictionaries; neither names a capability
or a service.
"""

from __future__ import annotations

from ident_integrations.capabilities import Capability
from ident_integrations.capabilities.calendar import CALENDAR
from ident_integrations.capabilities.calls import CALLS
from ident_integrations.capabilities.email import EMAIL
from ident_integrations.capabilities.geocoding import GEOCODING
from ident_integrations.capabilities.leads import LEADS
from ident_integrations.capabilities.schedule import SCHEDULE
from ident_integrations.capabilities.sms import SMS
from ident_integrations.capabilities.sms_status import SMS_STATUS
from ident_integrations.config import ResolvedCapability
from ident_integrations.services import Service
from ident_integrations.services.clinic_db import CLINIC_DB
from ident_integrations.services.clinic_http import CLINIC_HTTP
from ident_integrations.services.dadata import DADATA
from ident_integrations.services.flexbe import FLEXBE
from ident_integrations.services.google_calendar import GOOGLE_CALENDAR
from ident_integrations.services.napopravku import NAPOPRAVKU
from ident_integrations.services.prodoctorov import PRODOCTOROV
from ident_integrations.services.sberzdorovie import SBERZDOROVIE
from ident_integrations.services.smsc import SMSC
from ident_integrations.services.top32 import TOP32
from ident_integrations.services.uis import UIS

CAPABILITIES: dict[str, Capability] = {
    cap.name: cap for cap in (LEADS, CALLS, SCHEDULE, SMS, EMAIL, SMS_STATUS, GEOCODING, CALENDAR)
}

SERVICES: dict[str, Service] = {
    service.name: service
    for service in (
        CLINIC_HTTP,
        CLINIC_DB,
        UIS,
        NAPOPRAVKU,
        FLEXBE,
        TOP32,
        SBERZDOROVIE,
        PRODOCTOROV,
        SMSC,
        DADATA,
        GOOGLE_CALENDAR,
    )  # fmt: skip
}

# Services IDENT integrates with whose modules have not landed yet: an integration may name them
# (and is told clearly that they cannot run a capability yet) instead of getting "unknown service".
PLANNED_SERVICES: tuple[str, ...] = ()


def known_services() -> tuple[str, ...]:
    return (*SERVICES, *(name for name in PLANNED_SERVICES if name not in SERVICES))


def service_for(settings: ResolvedCapability) -> Service:
    service = SERVICES.get(settings.service)
    if service is None or not service.supports(settings.capability):
        action = CAPABILITIES[settings.capability].action
        raise ValueError(f"service {settings.service!r} cannot {action} yet")
    return service
