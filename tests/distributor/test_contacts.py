"""normalise_phone: E.164 by the phone library, a number without a country code read
in the chat's region; normalise_email: trimmed, lower case."""

import pytest

from distributor.contacts import normalise_email, normalise_phone, phone_region_check


@pytest.mark.parametrize(
    ("raw", "region", "normal"),
    [
        ("8 912 000-11-22", "RU", "+79120001122"),
        ("+7 912 000 11 22", "RU", "+79120001122"),
        ("+7 (912) 000-11-22", None, "+79120001122"),
        ("+7 912 000 11 22", "US", "+79120001122"),
        ("0039 06 1234 5678", "IT", "+390612345678"),
        ("0039 06 1234 5678", "RU", "+390612345678"),
        ("06 1234 5678", "it", "+390612345678"),
        ("(650) 253-0000", "US", "+16502530000"),
        ("+44 (0)20 7946 0958", None, "+442079460958"),
    ],
)
def test_phone_numbers_are_normalised_to_e164(raw, region, normal):
    assert normalise_phone(raw, region) == normal


def test_one_person_typed_two_ways_is_one_number():
    assert normalise_phone("8 912 000-11-22", "RU") == normalise_phone("+7 912 000 11 22", "RU")


@pytest.mark.parametrize("raw", ["12-34", "call me maybe", "", "   ", "1" * 40])
def test_a_phone_with_too_few_or_too_many_digits_is_refused(raw):
    with pytest.raises(ValueError, match="7 to 15 digits"):
        normalise_phone(raw, "RU")


@pytest.mark.parametrize(
    ("raw", "region"),
    [("+7 000 000 00 00", "RU"), ("8 912 000-11-22", "US"), ("+89120001122", None)],
)
def test_an_invalid_number_is_refused_with_a_clear_message(raw, region):
    with pytest.raises(ValueError, match="not a valid phone number"):
        normalise_phone(raw, region)


def test_a_number_without_a_country_code_and_no_region_is_refused():
    with pytest.raises(ValueError, match="with the country code"):
        normalise_phone("912 000 11 22", None)


@pytest.mark.parametrize("region", ["ZZ", "XX", "RUS", "", "1"])
def test_an_unknown_region_is_refused(region):
    with pytest.raises(ValueError, match="is not a phone region"):
        normalise_phone("+7 912 000 11 22", region)


def test_a_region_is_checked_and_written_in_capitals():
    assert phone_region_check(" ru ") == "RU"


def test_an_email_is_trimmed_and_lowered():
    assert normalise_email(" Ann@Example.COM ") == "ann@example.com"
