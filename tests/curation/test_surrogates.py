"""Surrogates keep the type and shape of what they replace, are keyed, reproducible and consistent in a call."""

import json
import re
from datetime import date

import pytest

from llm2slm.common.config import CurateConfig
from llm2slm.curation.patterns import luhn_valid
from llm2slm.curation.surrogates import BIRTH_RANGE, Surrogates, iban_check_digits, luhn_check_digit
from tests.factories import make_record

SALT = "LLM2SLM_SCRUB_SALT"


def shape(text: str) -> str:
    """Digits as `d`, letters as `a`/`A`, everything else as it is."""
    return "".join("d" if c.isdigit() else "A" if c.isupper() else "a" if c.isalpha() else c for c in text)


@pytest.fixture(scope="module")
def surrogates():
    return Surrogates(b"secret:a test key of enough length")


@pytest.mark.parametrize("phone", ["+44 20 7946 0958", "+1 415-555-0134", "(821)593-4387", "0688 843 79 56",
                                   "+41 (0)62 585 51 90", "+447700677662", "9472 7916"])
def test_a_phone_keeps_its_digit_count_separators_and_country_code(surrogates, phone):
    new = surrogates.value("PHONE", phone)
    assert new != phone and shape(new) == shape(phone)
    country = re.match(r"\+\d{1,3}(?=\D)", phone)
    if country:
        assert new.startswith(country.group(0))
    if phone.startswith("+44 20"):
        assert re.fullmatch(r"\+44 [1-9]\d \d{4} \d{4}", new)


@pytest.mark.parametrize("card", ["4111 1111 1111 1111", "5500-0000-0000-0004", "378282246310005",
                                  "6011000990139424", "4917 4845 8989 7107 113"])
def test_a_card_stays_luhn_valid_with_its_length_grouping_and_network(surrogates, card):
    new = surrogates.value("CREDIT_CARD", card)
    digits = re.sub(r"\D", "", new)
    assert new != card and shape(new) == shape(card) and new[0] == card[0]
    assert luhn_valid(digits) and len(digits) == len(re.sub(r"\D", "", card))


def test_luhn_and_iban_check_digits():
    assert luhn_check_digit("411111111111111") == "1" and luhn_check_digit("7992739871") == "3"
    assert iban_check_digits("GB", "WEST12345698765432") == "82"  # the standard example IBAN


@pytest.mark.parametrize("iban", ["GB82 WEST 1234 5698 7654 32", "DE89370400440532013000"])
def test_an_iban_keeps_country_length_and_grouping_and_has_valid_check_digits(surrogates, iban):
    new = surrogates.value("IBAN", iban)
    compact = new.replace(" ", "")
    assert new != iban and shape(new) == shape(iban) and new[:2] == iban[:2]
    assert int("".join(str(int(c, 36)) for c in compact[4:] + compact[:4])) % 97 == 1  # ISO 13616


@pytest.mark.parametrize("email", ["jane.doe@example.org", "maria77@gmail.com", "j_smith@acme.co.uk"])
def test_an_email_keeps_its_shape(surrogates, email):
    new = surrogates.value("EMAIL", email)
    assert new != email and re.fullmatch(r"[a-z0-9._-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+", new)
    local, domain = email.split("@")
    new_local, new_domain = new.split("@")
    assert [c for c in new_local if c in "._-"] == [c for c in local if c in "._-"][:1]
    assert len(new_local) - len(new_local.rstrip("0123456789")) == len(local) - len(local.rstrip("0123456789"))
    if domain == "gmail.com":
        assert new_domain in {"gmail.com", "yahoo.com", "hotmail.com"}
    else:
        assert new_domain.endswith("." + domain.split(".", 1)[1]) and new_domain != domain


def test_dates_of_birth_keep_their_format_and_are_valid_dates(surrogates):
    numeric = surrogates.value("DATE_OF_BIRTH", "12/03/1985")
    day, month, year = map(int, numeric.split("/"))
    assert re.fullmatch(r"\d\d/\d\d/\d{4}", numeric) and numeric != "12/03/1985"
    assert day <= 12 and month <= 12  # valid read day-first or month-first, as the original was
    assert BIRTH_RANGE[0].year <= year <= BIRTH_RANGE[1].year
    iso = surrogates.value("DATE_OF_BIRTH", "1985-03-12")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", iso) and BIRTH_RANGE[0] <= date.fromisoformat(iso) <= BIRTH_RANGE[1]
    words = surrogates.value("DATE_OF_BIRTH", "March 4th, 1990")
    match = re.fullmatch(r"([A-Z][a-z]+) (\d{1,2})(st|nd|rd|th), (\d{4})", words)
    assert match and words != "March 4th, 1990"
    ordinal = {1: "st", 2: "nd", 3: "rd", 21: "st", 22: "nd", 23: "rd", 31: "st"}.get(int(match.group(2)), "th")
    assert match.group(3) == ordinal
    assert re.fullmatch(r"\d{1,2} [A-Z][a-z]{2} \d{4}", surrogates.value("DATE_OF_BIRTH", "4 Sep 1990"))


def test_secrets_keep_their_prefix_length_and_character_classes(surrogates):
    key = "sk-proj-abcdefghijklmnopqrstuvwx12345"
    new = surrogates.value("API_KEY", key)
    assert new.startswith("sk-proj-") and shape(new) == shape(key) and new != key
    token = surrogates.value("BEARER_TOKEN", "abcdef1234567890abcdef")
    assert re.fullmatch(r"[0-9a-f]{22}", token) and token != "abcdef1234567890abcdef"  # hex stays hex
    jwt = surrogates.value("BEARER_TOKEN", "eyJhbGciOiJIUzI1.eyJzdWIiOiIxMjM0.SflKxwRJSMeKKF2QT4")
    assert re.fullmatch(r"eyJ[\w-]{13}\.eyJ[\w-]{13}\.[\w-]{18}", jwt)
    assert shape(surrogates.value("PASSWORD", "hunter2pass")) == "aaaaaadaaaa"


def test_names_addresses_and_addresses_of_machines(surrogates):
    assert re.fullmatch(r"[A-Z][a-z'-]+", surrogates.value("PERSON", "Maria"))
    assert re.fullmatch(r"[A-Z][A-Z'-]+", surrogates.value("PERSON", "LOPEZ"))  # capitalisation kept
    assert re.fullmatch(r"[A-Z]\.", surrogates.value("PERSON", "J."))  # an initial stays an initial
    assert re.fullmatch(r"\d{3}", surrogates.value("STREET_ADDRESS", "742"))
    assert re.fullmatch(r"[A-Z]{2}\d", surrogates.value("STREET_ADDRESS", "NW1"))
    assert surrogates.value("IP_ADDRESS", "192.168.10.24").startswith(("10.", "172.", "192.168."))  # private
    assert re.fullmatch(r"\d{3}-\d{2}-\d{4}", surrogates.value("SSN", "536-22-8402"))
    assert re.fullmatch(r"https://[a-z-]+\.com/[a-z]+", surrogates.value("URL", "https://example.com/profile"))


def test_a_surrogate_never_equals_its_original_and_keeps_a_json_string_valid(surrogates):
    for i in range(300):
        for entity, value in (("PHONE", f"+1 415-555-{i:04d}"), ("PASSWORD", f"pw{i % 10}"),
                              ("PERSON", "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[i % 26] + "."), ("SSN", f"536-22-{i:04d}")):
            new = surrogates.value(entity, value)
            assert new.casefold() != value.casefold(), (entity, value)
            assert json.loads(json.dumps(new)) == new and not re.search(r'["\\\x00-\x1f]', new)


def test_the_same_key_reproduces_and_another_key_changes_the_surrogates():
    values = [("PHONE", "+44 20 7946 0958"), ("CREDIT_CARD", "4111 1111 1111 1111"), ("EMAIL", "ann@mail.com"),
              ("IBAN", "GB82WEST12345698765432"), ("API_KEY", "sk-abcdefghijklmnopqrstuvwx")]
    first, again, other = Surrogates(b"secret:key-one"), Surrogates(b"secret:key-one"), Surrogates(b"secret:key-two")
    assert [first.value(*v) for v in values] == [again.value(*v) for v in values]
    assert all(first.value(*v) != other.value(*v) for v in values)


def test_surrogates_with_the_pinned_faker_are_these_exact_values():
    """Exact values under a fixed key: they change when Faker is upgraded, which changes curated outputs."""
    fixed = Surrogates(b"seed:13")
    assert fixed.value("PERSON", "Maria") == "Allen"
    assert fixed.value("PHONE", "+44 20 7946 0958") == "+44 73 7425 5883"


def call_with_a_name_and_a_phone() -> object:
    return make_record(1, "Thanks, Maria Lopez, +44 20 7946 0958",
                       answer='{"name": "Maria Lopez", "phone": "+44 20 7946 0958"}')


def scrub_with(monkeypatch, secret: str | None, **cfg) -> object:
    from llm2slm.curation.scrub import Scrubber

    if secret is None:
        monkeypatch.delenv(SALT, raising=False)
    else:
        monkeypatch.setenv(SALT, secret)
    return Scrubber(CurateConfig(**cfg)).call().record(call_with_a_name_and_a_phone())


def test_a_call_gets_one_surrogate_per_value_in_request_and_answer(monkeypatch):
    clean = scrub_with(monkeypatch, "a secret of enough length")
    user, answer = clean.last_user_message(), json.loads(clean.response.content)
    assert not re.search(r"Maria|Lopez|7946|0958", user + clean.response.content)
    assert user == f"Thanks, {answer['name']}, {answer['phone']}"  # the answer is still a copy of its request
    assert shape(answer["phone"]) == shape("+44 20 7946 0958") and answer["phone"].startswith("+44 ")
    assert re.fullmatch(r"[A-Z][a-z'-]+ [A-Z][a-z'-]+", answer["name"])


def test_the_secret_keys_the_surrogates_and_the_seed_stands_in_when_it_is_unset(monkeypatch, caplog):
    one = scrub_with(monkeypatch, "a secret of enough length")
    assert scrub_with(monkeypatch, "a secret of enough length") == one
    assert scrub_with(monkeypatch, "another secret, long enough").last_user_message() != one.last_user_message()
    with caplog.at_level("WARNING", logger="llm2slm.curate"):
        seeded = scrub_with(monkeypatch, None)
    assert "curate.seed" in caplog.text and SALT in caplog.text
    assert seeded == scrub_with(monkeypatch, None, seed=13)
    assert seeded.last_user_message() == "Thanks, Allen Franch, +44 73 7425 5883"
    assert scrub_with(monkeypatch, None, seed=14).last_user_message() != seeded.last_user_message()
    with pytest.raises(ValueError, match=f"{SALT} holds a secret of 5 characters"):
        scrub_with(monkeypatch, "short")


def test_two_values_of_a_call_never_share_a_surrogate(monkeypatch):
    from llm2slm.curation.scrub import Scrubber

    monkeypatch.delenv(SALT, raising=False)
    text = ", ".join(f"+1 415-555-01{i:02d}" for i in range(40))
    new = Scrubber(CurateConfig(policy={"PHONE": "surrogate"})).call().text(text, "u")
    phones = new.split(", ")
    assert len(set(phones)) == 40 and not set(phones) & set(text.split(", "))
