"""Surrogates: realistic values of the same type and shape that stand in for the personal data found.

A surrogate is drawn with Faker (en_US data; names from 18 locales) from a seed derived from a secret key, the entity type and the
original value (HMAC-SHA256), so the same value gets the same surrogate in every field, call and run under one key,
and another key gives other surrogates. The shape is kept: a phone keeps its digit count, separators and leading
`+` country code; a card keeps its length, grouping and first digit and stays Luhn-valid; an IBAN keeps its country,
length and grouping with valid check digits; a date of birth keeps its format; a key keeps its provider prefix
and its characters' classes. Words of names, places and addresses are replaced one by one (the scrubber splits
them), keeping their capitalisation. A surrogate never equals its original and never holds a quote, a backslash
or a control character, so it keeps a JSON string valid.

Faker's data and methods change between releases: the surrogates are reproducible with the pinned version.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import re
import string
from datetime import date
from typing import Callable

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
SECRET_PREFIX = re.compile(r"^(?:sk-(?:proj-|ant-)?|rk_live_|sk_live_|pk_live_|hf_|gh[pos]_|github_pat_|xox[abprs]-|"
                           r"glpat-|AKIA|AIza|eyJ)")
FREE_MAIL = {"gmail.com", "googlemail.com", "yahoo.com", "hotmail.com", "outlook.com", "live.com", "icloud.com",
             "aol.com", "proton.me", "protonmail.com", "gmx.com", "mail.com"}
STREET_ABBREVIATIONS = ("St", "Rd", "Ave", "Ln", "Dr", "Blvd", "Ct", "Pl", "Sq", "Hwy", "Way")
UNSAFE = re.compile(r'["\\\x00-\x1f\x7f]')  # what would break a JSON string
BIRTH_RANGE = (date(1940, 1, 1), date(2006, 12, 31))  # fixed, so a surrogate does not depend on today's date
TRIES = 8
# Faker locales whose first and last names the PERSON surrogates are drawn from (Latin script)
NAME_LOCALES = ("en_US", "en_GB", "en_IE", "en_IN", "en_NZ", "en_NG", "en_KE", "es_ES", "es_MX", "fr_FR", "de_DE",
                "it_IT", "pt_BR", "pt_PT", "nl_NL", "pl_PL", "sv_SE", "tr_TR")
MEMO_LIMIT = 100_000


def luhn_check_digit(body: str) -> str:
    """The digit that makes `body` + digit pass the Luhn checksum."""
    total = 0
    for position, char in enumerate(reversed(body)):
        value = int(char) * (1 if position % 2 else 2)
        total += value - 9 if value > 9 else value
    return str(-total % 10)


def iban_check_digits(country: str, bban: str) -> str:
    """ISO 13616 check digits (98 - mod 97) of `country` + `bban`."""
    digits = "".join(str(int(c, 36)) for c in (bban + country).upper() + "00")
    return f"{98 - int(digits) % 97:02d}"


def _same_case(new: str, original: str) -> str:
    """`new` with the capitalisation of `original` (upper, lower, else capitalised)."""
    if original.isupper() and len(original) > 1:
        return new.upper()
    if original.islower():
        return new.lower()
    return new[:1].upper() + new[1:]


def _reshape(g, value: str, hex_alphabet: bool = False) -> str:
    """Every letter and digit replaced by a random one of its class (case kept); everything else kept."""
    r = g.random
    out = []
    for char in value:
        if hex_alphabet and char in string.hexdigits:
            out.append(r.choice("0123456789abcdef" if not char.isupper() else "0123456789ABCDEF"))
        elif char.isdigit():
            out.append(r.choice(string.digits))
        elif char.isalpha():
            letter = r.choice(string.ascii_lowercase)
            out.append(letter.upper() if char.isupper() else letter)
        else:
            out.append(char)
    return "".join(out)


def _digits_into(shape: str, digits: str) -> str:
    """`digits` written into the digit positions of `shape` (its separators kept)."""
    it = iter(digits)
    return "".join(next(it) if c.isdigit() else c for c in shape)


@functools.cache
def name_pools() -> tuple[tuple[str, ...], tuple[str, ...], frozenset[str]]:
    """First names, last names (sorted, one word of letters each) of Faker's person data for NAME_LOCALES, and
    the first names as a set."""
    import importlib

    firsts: set[str] = set()
    lasts: set[str] = set()
    for locale in NAME_LOCALES:
        provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
        for attribute, pool in (("first_names", firsts), ("first_names_male", firsts),
                                ("first_names_female", firsts), ("last_names", lasts)):
            pool.update(n for n in getattr(provider, attribute, ()) if n.isalpha())
    return tuple(sorted(firsts)), tuple(sorted(lasts)), frozenset(firsts)


def _person(g, value: str) -> str:
    """A first name for a first name, else a last name, from names of many languages: traffic holds names of
    every origin, and a specialist trained on common English names only meets rarer ones at serving time."""
    if len(value.rstrip(".")) == 1:  # an initial
        return g.random.choice(string.ascii_uppercase) + value[1:]
    firsts, lasts, first_set = name_pools()
    return _same_case(g.random.choice(firsts if value.title() in first_set else lasts), value)


def _organization(g, value: str) -> str:
    return _same_case(g.last_name(), value)


def _location(g, value: str) -> str:
    return _same_case(g.last_name() + g.city_suffix(), value)


def _street_address(g, value: str) -> str:
    """One word of a street address: a house number or postcode keeps its shape, a street type stays one."""
    from faker.providers.address.en_US import Provider

    if any(c.isdigit() for c in value):
        return _reshape(g, value)
    if value.title() in Provider.street_suffixes:
        return _same_case(g.street_suffix(), value)
    if value.rstrip(".").title() in STREET_ABBREVIATIONS:
        return _same_case(g.random.choice(STREET_ABBREVIATIONS), value.rstrip(".")) + value[len(value.rstrip(".")):]
    return _same_case(g.last_name(), value)


def _suffix(domain: str) -> str:
    """The public suffix of a domain, roughly: the last label, or the last two for `co.uk`, `com.au`…"""
    labels = domain.lower().split(".")
    if len(labels) >= 3 and labels[-2] in ("co", "com", "org", "net", "ac", "gov", "edu"):
        return ".".join(labels[-2:])
    return labels[-1]


def _email(g, value: str) -> str:
    local, _, domain = value.rpartition("@")
    separator = next((c for c in local if c in "._-"), "")
    first, last = g.first_name().lower(), g.last_name().lower()
    new_local = f"{first}{separator}{last}" if separator else f"{first[:1]}{last}"
    digits = len(local) - len(local.rstrip(string.digits))
    new_local += "".join(g.random.choice(string.digits) for _ in range(digits))
    new_domain = g.free_email_domain() if domain.lower() in FREE_MAIL else f"{g.domain_word()}.{_suffix(domain)}"
    return f"{new_local}@{new_domain}"


def _phone(g, value: str) -> str:
    """Same digit count and separators; a leading `+country` group, a trunk `(0)` and a leading trunk `0` kept."""
    kept: set[int] = set()
    country = re.match(r"\+\d{1,3}(?=\D)", value) or re.match(r"\+[17]|\+\d\d", value)  # +44 20…, +4420…
    if country:
        kept.update(range(1, country.end()))
    kept.update(m.start() + 1 for m in re.finditer(r"\(0\)", value))
    if value[:1] == "0" and value[1:2] != "0":
        kept.add(0)
    template = "".join(c if i in kept or not c.isdigit() else "#" for i, c in enumerate(value))
    return g.numerify(template.replace("#", "%", 1))  # the first new digit is not a 0


def _credit_card(g, value: str) -> str:
    digits = [c for c in value if c.isdigit()]
    body = digits[0] + "".join(g.random.choice(string.digits) for _ in digits[1:-1])
    return _digits_into(value, body + luhn_check_digit(body))


def _iban(g, value: str) -> str:
    compact = re.sub(r"\s", "", value)
    country, bban = compact[:2], _reshape(g, compact[4:])
    return _digits_and_letters_into(value, country + iban_check_digits(country, bban) + bban)


def _digits_and_letters_into(shape: str, chars: str) -> str:
    it = iter(chars)
    return "".join(next(it) if c.isalnum() else c for c in shape)


def _ip_address(g, value: str) -> str:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return _reshape(g, value)
    if address.version == 6:
        return g.ipv6()
    return g.ipv4_private() if address.is_private else g.ipv4_public()


def _ssn(g, value: str) -> str:
    digits = "".join(c for c in g.ssn() if c.isdigit())
    if sum(c.isdigit() for c in value) != len(digits):
        return g.numerify(re.sub(r"\d", "#", value))
    return _digits_into(value, digits)


def _url(g, value: str) -> str:
    match = re.match(r"(?i)((?:[a-z][a-z0-9+.-]*://)?(?:www\.)?)([^/?#:]+)(.*)", value)
    if not match:
        return _reshape(g, value)
    head, host, rest = match.groups()
    rest = re.sub(r"[A-Za-z]+", lambda m: _same_case(g.word(), m.group(0)), rest)
    rest = re.sub(r"\d", lambda m: g.random.choice(string.digits), rest)
    return f"{head}{g.domain_word()}.{_suffix(host)}{rest}"


def _secret(g, value: str) -> str:
    """A key, token or password: provider prefixes (`sk-proj-`, `ghp_`, `eyJ` of each JWT part) kept, every other
    character replaced by one of its class (hex stays hex)."""
    parts = value.split(".") if value.startswith("eyJ") else [value]
    out = []
    for part in parts:
        prefix = SECRET_PREFIX.match(part)
        head = prefix.group(0) if prefix else ""
        body = part[len(head):]
        out.append(head + _reshape(g, body, hex_alphabet=len(body) >= 8 and all(c in string.hexdigits for c in body)))
    return ".".join(out)


def _date_roles(tokens: list[str]) -> tuple[dict[int, str], bool] | None:
    """Token index -> 'd', 'm' (a number or a month name) or 'y'; and whether day and month could be swapped."""
    numbers = [i for i, t in enumerate(tokens) if t.isdigit()]
    months = [i for i, t in enumerate(tokens) if t.isalpha() and t[:3].title() in {m[:3] for m in MONTHS}]
    if months:
        years = [i for i in numbers if len(tokens[i]) == 4]
        days = [i for i in numbers if len(tokens[i]) <= 2]
        if len(years) != 1 or len(days) != 1:
            return None
        return {months[0]: "m", years[0]: "y", days[0]: "d"}, False
    if len(numbers) != 3:
        return None
    a, b, c = numbers
    if len(tokens[a]) == 4:
        return {a: "y", b: "m", c: "d"}, False
    if int(tokens[a]) > 12:
        return {a: "d", b: "m", c: "y"}, False
    if int(tokens[b]) > 12:
        return {a: "m", b: "d", c: "y"}, False
    return {a: "d", b: "m", c: "y"}, True


def _date_of_birth(g, value: str) -> str:
    """Another date of birth in the same format (order, padding, separators, month names, ordinals)."""
    tokens = re.findall(r"\d+|[A-Za-z]+|[^A-Za-z\d]+", value)
    found = _date_roles(tokens)
    if found is None:
        return _reshape(g, value)
    roles, ambiguous = found
    born = g.date_between_dates(*BIRTH_RANGE)
    if ambiguous:  # 03/04/1985: a day that is a valid month too, so either reading is a valid date
        born = born.replace(day=1 + born.day % 12)
    out = list(tokens)
    for i, role in roles.items():
        original = tokens[i]
        if role == "y":
            out[i] = str(born.year) if len(original) == 4 else f"{born.year % 100:02d}"
        elif role == "m" and original.isalpha():
            name = MONTHS[born.month - 1]
            out[i] = _same_case(name if len(original) > 4 else name[:len(original)], original)
        else:
            number = born.month if role == "m" else born.day
            out[i] = f"{number:0{len(original)}d}" if len(original) == 2 else str(number)
            ordinal = tokens[i + 1] if i + 1 < len(tokens) else ""
            if role == "d" and ordinal.lower() in ("st", "nd", "rd", "th"):
                suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
                out[i + 1] = _same_case(suffix, ordinal)
    return "".join(out)


GENERATORS: dict[str, Callable] = {
    "PERSON": _person, "NAME": _person, "ORGANIZATION": _organization, "LOCATION": _location,
    "STREET_ADDRESS": _street_address,
    "EMAIL": _email, "PHONE": _phone, "CREDIT_CARD": _credit_card, "IBAN": _iban, "IP_ADDRESS": _ip_address,
    "SSN": _ssn, "URL": _url, "DATE_OF_BIRTH": _date_of_birth, "API_KEY": _secret, "BEARER_TOKEN": _secret,
    "PASSWORD": _secret,
}


class Surrogates:
    """Keyed surrogate values; shared by all calls of a run (a bounded memo of the values drawn)."""

    def __init__(self, key: bytes) -> None:
        from faker import Factory

        self.key = key
        self.faker = Factory.create("en_US")
        self.memo: dict[tuple[str, str, int], str] = {}

    def value(self, entity: str, original: str, attempt: int = 0) -> str:
        """The surrogate of `original`; `attempt` > 0 draws another one (the caller's value was taken)."""
        memo_key = (entity, original, attempt)
        if memo_key not in self.memo:
            if len(self.memo) >= MEMO_LIMIT:
                self.memo.clear()
            self.memo[memo_key] = self._draw(entity, original, attempt)
        return self.memo[memo_key]

    def _draw(self, entity: str, original: str, attempt: int) -> str:
        message = f"{entity}\x1f{original}\x1f{attempt}".encode()
        self.faker.seed_instance(int.from_bytes(hmac.new(self.key, message, hashlib.sha256).digest()[:16], "big"))
        generate = GENERATORS.get(entity, _reshape)
        for _ in range(TRIES):  # the seeded stream goes on, so a retry is as reproducible as the first draw
            new = UNSAFE.sub("", generate(self.faker, original))
            if new and new.casefold() != original.casefold():
                return new
        new = UNSAFE.sub("", _reshape(self.faker, original))
        return new if new and new.casefold() != original.casefold() else f"<{entity}>"
