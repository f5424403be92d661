"""Phone numbers as sites send them, and the +7XXXXXXXXXX form IDENT matches patients by."""

from __future__ import annotations

import re

# Characters people use when writing a number; anything else is extra text IDENT would not accept.
_NOTATION = re.compile(r"^\+?[\d\s\-().]+$")


class PhoneError(ValueError):
    pass


def check_phone(raw: str) -> str:
    """Return the number as received (trimmed) if it is one full number; raise PhoneError otherwise."""
    text = raw.strip()
    if not text:
        raise PhoneError("ClientPhone is empty")
    if not _NOTATION.match(text):
        raise PhoneError(f"ClientPhone {text!r} must be a single number without extra text")
    digits = re.sub(r"\D", "", text)
    if text.startswith("+") and len(digits) == 11 and digits.startswith("8"):
        raise PhoneError(f"ClientPhone {text!r} is a domestic number written with a '+'")
    if not 10 <= len(digits) <= 15:
        raise PhoneError(f"ClientPhone {text!r} has {len(digits)} digits; a full number with area code has 10-15")
    return text


def normalize_phone(raw: str) -> str | None:
    """``+7XXXXXXXXXX`` for Russian/Kazakh numbers in any common notation, else None (kept as received)."""
    digits = re.sub(r"\D", "", raw)
    if raw.strip().startswith("+"):
        # Written internationally: only country code 7 is ours.
        return "+" + digits if len(digits) == 11 and digits[0] == "7" else None
    if len(digits) == 10:
        return "+7" + digits
    if len(digits) == 11 and digits[0] in "78":
        return "+7" + digits[1:]
    return None
