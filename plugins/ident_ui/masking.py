"""Patients' phones and names as a viewer without access to connections sees them, and credentials
as nobody sees them.

Whoever may read Airflow's connections already holds every credential of the clinic, so they see
personal data in full; everyone else sees enough to tell rows apart (the last four digits, the
initials) and nothing that identifies a patient. A key or token quoted in an error is hidden from all.
"""

from __future__ import annotations

import re

HIDDEN = "***"
# A phone number inside free text (a reject's reason, an exchange-log URL): digits with the
# separators people write; a date (2026-12-02 10...) is not one.
_PHONE_IN_TEXT = re.compile(r"\+?\d[\d\s\-().]{8,}\d")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# A credential quoted in an error text ("Authorization: Bearer ...", "apikey=..."): the hooks redact
# what they know at write time; this catches what a service echoed back in its own words.
_CREDENTIAL = re.compile(
    r"(?i)\b(authorization|token|access_token|api_?key|password|psw|secret)([\"']?\s*[:=]\s*[\"']?)"
    r"(?:bearer\s+)?[^\s\"'&,;]+"
)
_BEARER = re.compile(r"(?i)\b(bearer)\s+[^\s\"'&,;]+")


def mask_phone(phone: str | None) -> str | None:
    """``+79161234567`` -> ``+7 *** ***-45-67``; anything with fewer than 5 digits -> ``***``."""
    if not phone:
        return phone
    digits = re.sub(r"\D", "", phone)
    if len(digits) < 5:
        return HIDDEN
    prefix = digits[: len(digits) - 10]
    country = "8" if prefix == "8" else f"+{prefix}" if prefix else ""  # 8 is Russia's domestic prefix
    return f"{country} *** ***-{digits[-4:-2]}-{digits[-2:]}".lstrip()


def mask_name(name: str | None) -> str | None:
    """``Иванов Пётр Сергеевич`` -> ``И*** П*** С***``: each word's initial only."""
    if not name:
        return name
    return " ".join(word[0] + HIDDEN for word in name.split())


def mask_text(text: str | None) -> str | None:
    """Free text with every phone number in it masked."""
    if not text:
        return text

    def masked(match: re.Match[str]) -> str:
        found = match.group()
        if _DATE.search(found) or not 10 <= len(re.sub(r"\D", "", found)) <= 15:
            return found
        return mask_phone(found) or HIDDEN

    return _PHONE_IN_TEXT.sub(masked, text)


def hide_credentials(text: str | None) -> str | None:
    """Free text with the value of anything that looks like a credential replaced by ``***``."""
    if not text:
        return text
    text = _CREDENTIAL.sub(lambda match: f"{match.group(1)}{match.group(2)}{HIDDEN}", text)
    return _BEARER.sub(lambda match: f"{match.group(1)} {HIDDEN}", text)
