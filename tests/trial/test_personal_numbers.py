import pytest
from django.core.exceptions import ValidationError

from trial import personal_numbers as pn

# Made-up numbers with check digits computed by hand with the mod-11 rule (see the test below
# for the working): a fødselsnummer, a D-number (day + 40) and a Tenor test number (month + 80).
VALID = ["01010100131", "41010100125", "01810100288"]


@pytest.mark.parametrize("number", VALID)
def test_valid_numbers_pass(number: str) -> None:
    assert pn.validate_personal_number(number) == number


def test_check_digits_by_hand() -> None:
    # 010101001, weights 3 7 6 1 8 9 4 5 2: sum 19, 19 % 11 = 8, k1 = 11 - 8 = 3.
    # 0101010013, weights 5 4 3 2 7 6 5 4 3 2: sum 21, 21 % 11 = 10, k2 = 11 - 10 = 1.
    assert pn.check_digits("010101001") == "31"
    # 410101001: sum 31, k1 = 11 - 9 = 2; 4101010012: sum 39, k2 = 11 - 6 = 5.
    assert pn.check_digits("410101001") == "25"
    # 018101002: sum 69, k1 = 11 - 3 = 8; 0181010028: sum 58, k2 = 11 - 3 = 8.
    assert pn.check_digits("018101002") == "88"
    # 018101001: sum 67, 67 % 11 = 1, k1 = 10: no valid number has these nine digits.
    assert pn.check_digits("018101001") is None


@pytest.mark.parametrize(
    ("number", "code"),
    [
        ("0101010013", "length"),
        ("0101010013a", "length"),
        ("01010100132", "checksum"),
        ("32010100131", "date"),
        ("01130100131", "date"),
    ],
)
def test_invalid_numbers_are_refused_with_reason(number: str, code: str) -> None:
    with pytest.raises(ValidationError) as info:
        pn.validate_personal_number(number)
    assert info.value.code == code


def test_spaces_are_ignored() -> None:
    assert pn.validate_personal_number("010101 00131") == "01010100131"


def test_birth_date_of_d_number_and_synthetic_number() -> None:
    assert str(pn.birth_date("41010100125")) == "1901-01-01"
    assert str(pn.birth_date("01810100288")) == "1901-01-01"


def test_encryption_round_trip_and_rotation(settings: object) -> None:
    from cryptography.fernet import Fernet

    token = pn.encrypt("01010100131")
    assert "01010100131" not in token
    assert pn.decrypt(token) == "01010100131"
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, *settings.FIELD_ENCRYPTION_KEYS]  # type: ignore[attr-defined]
    rotated = pn.reencrypt(token)
    settings.FIELD_ENCRYPTION_KEYS = [new_key]  # type: ignore[attr-defined]
    assert pn.decrypt(rotated) == "01010100131"


def test_lookup_hash_is_keyed(settings: object) -> None:
    first = pn.lookup_hash("01010100131")
    settings.PERSONAL_NUMBER_HASH_KEY = "another key"  # type: ignore[attr-defined]
    assert pn.lookup_hash("01010100131") != first
