"""Regular expressions of the scrubber that are not Presidio's own: phones, dates of birth, street addresses by
their context and secrets.

Phone numbers need 7 to 15 digits, in groups unless they have a country prefix or 9 digits or more, and are never
dates, decimals or year ranges. A date of birth is a date that follows "born", "date of birth", "DOB" or
"birthday". Secrets: provider API keys recognisable by their prefix (OpenAI, Anthropic, GitHub, AWS, Google,
Slack, Hugging Face, Stripe), any value assigned to a key named like api_key/secret/token, bearer tokens and JWTs,
and passwords or PINs stated in text ("password: hunter2", "my pin is 4821").
"""

from __future__ import annotations

import re

PHONE_RE = re.compile(
    r"(?<![\w+./-])(?:\+\d{1,3}[ \t.-]?)?(?:\(0\)[ \t.-]?)?(?:\(\d{2,4}\)[ \t.-]?)?\d{2,12}(?:[ \t.-]\d{2,8}){0,4}"
    r"(?:[ \t]?(?:x|ext\.?)[ \t]?\d{1,5})?(?![\w]|[.,-]\d)"
)
_NOT_PHONE = re.compile(
    r"^\d{4}[-./]\d{1,2}[-./]\d{1,2}$|^\d{1,2}[-./]\d{1,2}[-./]\d{2,4}$"  # dates
    r"|^(?:19|20)\d\d[-/](?:19|20)\d\d$"  # year ranges: 2019-2020
    r"|^\d+\.\d+$"  # decimals: 33.4484
    r"|^\d{1,3}(?:\.\d{1,3}){3}$"  # IPv4 addresses
    r"|^\d{3}-\d{2}-\d{4}$"  # US social security numbers
)
# Payment cards: 12 to 19 digits, optionally in groups; the Luhn checksum decides (`luhn_valid`).
CARD_RE = re.compile(r"(?<![\d+-])(?:\d[ -]?){11,18}\d(?![\d-])")


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def looks_like_card(text: str) -> bool:
    digits = "".join(c for c in text if c.isdigit())
    return 12 <= len(digits) <= 19 and luhn_valid(digits)
_EXTENSION = re.compile(r"\s?(?:x|ext\.?)\s?")
_GROUPED = re.compile(r"\d[\s.()-]+\d")


def looks_like_phone(text: str) -> bool:
    """7 to 15 digits; one unbroken run only with a + prefix or 9+ digits; never a date."""
    main = _EXTENSION.split(text)[0]  # an extension does not count towards the length
    digits = sum(c.isdigit() for c in main)
    if not 7 <= digits <= 15 or _NOT_PHONE.match(main.strip()):
        return False
    return main.startswith("+") or bool(_GROUPED.search(main)) or digits >= 9


_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_DATE = (
    rf"\d{{1,2}}[-./]\d{{1,2}}[-./]\d{{2,4}}|\d{{4}}[-./]\d{{1,2}}[-./]\d{{1,2}}"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH},?\s+\d{{4}}|{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}"
)
DOB_RE = re.compile(
    rf"(?i)(?:born(?:\s+on)?|date\s+of\s+birth|birth\s*date|birthday|d\.?o\.?b\.?)(?:\s+is)?\s*[:=]?\s*"
    rf"(?P<value>{_DATE})"
)

# A street address by its context: what follows "address", "I live at", "coming from", "deliver to" up to the end
# of the sentence or a following card/phone/email, when it holds a house number beside a word (`looks_like_address`).
ADDRESS_RE = re.compile(
    r"(?i)\b(?:address(?:\s+is)?|i\s+live\s+(?:at|in)|(?:we|they)\s+live\s+at|lives\s+at|resides?\s+at|located\s+at|"
    r"coming\s+from|deliver(?:y|ed)?\s+to|ship(?:ped)?\s+to|send\s+it\s+to)\s*[:,]?\s+"
    r"(?P<value>[^;!?\n]*?\d[^;!?\n]*?)"
    r"(?=\s*,?\s*(?:card|phone|tel|email|e-mail)\b|\s+(?:by|before|until|tomorrow|today|tonight|please|asap)\b"
    r"|\.\s*$|\.\s+[A-Z]|\.\"|[;!?\n\"]|$)")
_HOUSE_NUMBER = re.compile(r"(?<!\S)\d{1,6}[A-Za-z]?,?\s+[^\W\d]{2,}|[^\W\d]{2,}\.?\s+\d{1,6}[A-Za-z]?(?!\S)")


_STREET = re.compile(
    r"(?i)\b(?:street|st|road|rd|avenue|ave|lane|ln|drive|boulevard|blvd|way|court|ct|place|pl|square|sq|terrace|"
    r"close|crescent|parkway|pkwy|highway|hwy|alley|row|walk|hill|park|gardens?|greens?|flat|corner|unit|box|"
    r"suite|apt|apartment|floor|rue|r[uú]a|ul|u|via|calle|avda|avenida|plaza|piazza|platz|allee|postbox|strasse|"
    r"straße|gate|tee|tér|útja|baan|wei)\b"
    r"|\w(?:strasse|straße|gatan|gata|veien|vej|vägen|weg|straat|laan|gasse|utca|ulica|katu)\b")
POSTCODE_RE = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}\b|\b[A-Z]{2},?\s+\d{5}(?:-\d{4})?\b")


_CAPITAL_NUMBER = re.compile(r"(?<!\S)\d{1,6}[A-Za-z]?,?\s+[^\W\d_a-z]|[^\W\d_a-z][^\W\d]+\.?\s+\d{1,6}[A-Za-z]?(?!\S)")


def looks_like_address(value: str, introduced: bool = False) -> bool:
    """A house number beside a word and a street word or a postcode ("36 rue de Pologne", "Kuusiku 7 and Alexander
    Flat", "SW1A 1AA"); not a time, a quantity or an IP ("work at 5pm", "20 Amperes", "sea level"). `introduced`
    (after "address", "I live at"): a house number beside a capitalised word is enough ("Hoge Wei 32")."""
    if _HOUSE_NUMBER.search(value) is None:
        return False
    return bool(_STREET.search(value) or POSTCODE_RE.search(value) or (introduced and _CAPITAL_NUMBER.search(value)))


def looks_like_introduced_address(value: str) -> bool:
    return looks_like_address(value, introduced=True)


def looks_like_link(text: str, start: int, end: int) -> bool:
    """A URL worth replacing: with a scheme or "www.", or a path or query after the domain, and not the front of
    a longer word ("geodistance.find" is a function, "Foodnetwork.com" a site's public name, not personal)."""
    value = text[start:end]
    if "://" in value or value.lower().startswith("www."):
        return True
    if end < len(text) and (text[end].isalnum() or text[end] == "_"):
        return False
    return "/" in value or "?" in value


_SECRET_VALUE = r"[A-Za-z0-9_\-./+=~]{16,}"
SECRET_PATTERNS: list[tuple[str, re.Pattern[str], re.Pattern[str]]] = [
    ("API_KEY", re.compile(r"(?<![\w-])(?P<value>(?:sk-(?:proj-|ant-)?|rk_live_|sk_live_|pk_live_|hf_|ghp_|gho_|"
                           r"ghs_|github_pat_|xox[abprs]-|glpat-)[A-Za-z0-9_\-]{16,}|AKIA[0-9A-Z]{16}|"
                           r"AIza[0-9A-Za-z_\-]{35})"),
     re.compile(r"sk-|_live_|hf_|gh[pos]_|github_pat_|xox|glpat-|AKIA|AIza")),
    ("API_KEY", re.compile(r"(?i)(?:api[_-]?key|secret(?:[_-]?key)?|access[_-]?token|auth[_-]?token|client[_-]?secret)"
                           rf"[\"']?\s*[:=]\s*[\"']?(?P<value>{_SECRET_VALUE})"),
     re.compile(r"(?i)key|secret|token")),
    ("BEARER_TOKEN", re.compile(r"(?i)\bbearer\s+(?P<value>[A-Za-z0-9\-._~+/]{12,}=*)"), re.compile(r"(?i)bearer")),
    ("BEARER_TOKEN", re.compile(r"(?<![\w-])(?P<value>eyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]{8,})"), re.compile(r"eyJ")),
    ("PASSWORD", re.compile(r"(?i)\b(?:password|passwd|pwd|passcode|passphrase|pin(?:\s+code)?)[\"']?"
                            r"(?:\s+(?:is|was|=|:)|\s*[:=])\s*[\"']?(?P<value>[^\s\"']{3,})"),
     re.compile(r"(?i)pass|pwd|pin")),
]
_TRAILING = ".,;:!?)]}"


# What follows "my password is" / "PIN is" when it states the secret's condition rather than the secret.
SECRET_STATES = frozenset({
    "wrong", "incorrect", "invalid", "expired", "blocked", "locked", "unlocked", "correct", "right", "not", "too",
    "the", "my", "a", "an", "being", "still", "changed", "reset", "required", "needed", "working", "disabled",
    "enabled", "compromised", "forgotten", "lost", "stolen", "weak", "strong", "new", "old", "different", "same",
    "case", "set", "ok", "okay", "fine", "valid", "active", "inactive", "frozen", "suspended", "no", "already",
    "never", "also", "now", "just", "only", "missing", "empty", "blank", "hidden", "secure", "safe", "unknown",
    "for", "to", "of", "in", "on", "at", "and", "or", "that", "this", "it", "is", "was", "what", "which", "when"})


def looks_like_secret(value: str) -> bool:
    """Not a word for the secret's condition ("my PIN is blocked")."""
    return value.lower().rstrip(_TRAILING) not in SECRET_STATES


def trim_secret(value: str) -> str:
    """A secret without the sentence punctuation that follows it ("hunter2." -> "hunter2")."""
    return value.rstrip(_TRAILING) if len(value.rstrip(_TRAILING)) >= 3 else value
