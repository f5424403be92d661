"""A patient of the clinic as the IDENT database holds one (``ident_patients``): the names, how to
reach them and the address (the reminders and the geocoding read them)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Patient:
    id: int
    surname: str
    name: str
    patronymic: str | None = None
    phone: str | None = None  # +7XXXXXXXXXX
    email: str | None = None
    address: str | None = None  # as written, e.g. "г. Москва, ул. Тверская, д. 7, кв. 12"
