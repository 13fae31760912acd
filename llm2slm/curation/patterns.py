"""Regular expressions of the scrubber that are not Presidio's own: phones, dates of birth and secrets.

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


def trim_secret(value: str) -> str:
    """A secret without the sentence punctuation that follows it ("hunter2." -> "hunter2")."""
    return value.rstrip(_TRAILING) if len(value.rstrip(_TRAILING)) >= 3 else value
