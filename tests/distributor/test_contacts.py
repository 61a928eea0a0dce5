import pytest

from distributor.contacts import normalise_phone


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("+7 (912) 000-11-22", "+79120001122"),
        ("0039 06 1234 5678", "+390612345678"),
        ("89120001122", "+89120001122"),
    ],
)
def test_phone_numbers_are_normalised(raw, normal):
    assert normalise_phone(raw) == normal


def test_a_phone_with_too_few_digits_is_refused():
    with pytest.raises(ValueError, match="7 to 15 digits"):
        normalise_phone("12-34")
