"""Norwegian personal numbers (fødselsnummer, D-number): validation, encryption, keyed lookup.

A personal number is eleven digits: date of birth (DDMMYY), a three-digit individual number and
two check digits computed modulo 11. D-numbers add 4 to the first digit; synthetic test numbers
(Skatteetaten's Tenor) add 80 to the month. Numbers are stored only encrypted (Fernet, with
rotation through several keys) and found through an HMAC of the digits.
"""

import datetime as dt
import hashlib
import hmac

from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

_WEIGHTS_1 = (3, 7, 6, 1, 8, 9, 4, 5, 2)
_WEIGHTS_2 = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)


def _check_digit(digits: str, weights: tuple[int, ...]) -> int | None:
    remainder = sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11
    check = 11 - remainder
    if check == 11:
        return 0
    if check == 10:
        return None  # no valid check digit: the individual number is never issued
    return check


def check_digits(first_nine: str) -> str | None:
    """The two check digits for nine leading digits, or None when none exist."""
    k1 = _check_digit(first_nine, _WEIGHTS_1)
    if k1 is None:
        return None
    k2 = _check_digit(first_nine + str(k1), _WEIGHTS_2)
    if k2 is None:
        return None
    return f"{k1}{k2}"


def birth_date(number: str) -> dt.date | None:
    """Date of birth encoded in a personal number (D-number and synthetic offsets removed)."""
    day, month, year2 = int(number[0:2]), int(number[2:4]), int(number[4:6])
    individual = int(number[6:9])
    if day > 40:
        day -= 40  # D-number
    if month > 80:
        month -= 80  # synthetic test number (Tenor)
    elif month > 40:
        month -= 40  # H-number
    if individual <= 499 or (individual >= 900 and year2 >= 40):
        century = 1900
    elif individual <= 749 and year2 >= 54:
        century = 1800
    else:
        century = 2000
    try:
        return dt.date(century + year2, month, day)
    except ValueError:
        return None


def normalise(raw: str) -> str:
    return "".join(ch for ch in raw if not ch.isspace())


def validate_personal_number(raw: str) -> str:
    """Return the normalised number or raise ValidationError with the reason."""
    number = normalise(raw)
    if len(number) != 11 or not number.isdigit():
        raise ValidationError(_("A personal number has exactly 11 digits."), code="length")
    if birth_date(number) is None:
        raise ValidationError(_("The first six digits are not a valid date of birth."), code="date")
    if check_digits(number[:9]) != number[9:]:
        raise ValidationError(
            _("The check digits do not match: the number is mistyped."), code="checksum"
        )
    return number


def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in settings.FIELD_ENCRYPTION_KEYS])


def encrypt(number: str) -> str:
    return _fernet().encrypt(number.encode()).decode()


def decrypt(token: str) -> str:
    return _fernet().decrypt(token.encode()).decode()


def reencrypt(token: str) -> str:
    """Re-encrypt with the current (first) key; used when keys are rotated."""
    return _fernet().rotate(token.encode()).decode()


def lookup_hash(number: str) -> str:
    key = settings.PERSONAL_NUMBER_HASH_KEY.encode()
    return hmac.new(key, number.encode(), hashlib.sha256).hexdigest()
