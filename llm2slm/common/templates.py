"""The invariant text of user and tool turns across many calls: template lines, mined by how many messages share them.

A framework that writes a task's instruction into the user turn ("Classify this request into one of ...", the label
list, "Request:") repeats the same lines in every call of that task, around the user's own words; a tool wraps its
result in the same framing every time. A line is a template line of its role when, after masking (numbers,
e-mail addresses, URLs and scrubbed placeholders such as `<PERSON_3>` each become one token; spaces collapse), it
occurs in at least `min_messages` distinct messages of that role (distinct as written), and in at least
`min_share` of them, beside as many different remainders (the rest of the message). Counting distinct messages and
remainders, not calls, keeps a question re-sent many times, or asked again with other numbers, from becoming a
template: a line recurs as framing only when it sits beside different inputs.

The template of one message is its template lines in order, with `<input>` where a run of other lines stands; its
variable part is those other lines. Both curation (near-duplicates compare the variable part) and discovery (the
template is structure, the variable part is content) use the same miner, and the assigner stores the mined lines
so that a live call is read the way the training calls were.

Drain (the `drain3` package) was measured first: its last release pins cachetools 4.2.1, which Prefect 3 refuses
(cachetools >= 5.3), so it cannot be installed beside the flows; and Drain groups lines by token count, which the
framing lines here (whole lines of fixed text) do not need. Limits: an instruction written on the same line as the
input ("Classify: turn up the lights") is not split from it.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Mapping

INPUT = "<input>"
FRAMED_ROLES: tuple[str, ...] = ("user", "tool")
MIN_MESSAGES = 20  # distinct messages of a role that must hold a line for it to be framing
MIN_SHARE = 0.002  # ... and at least this share of the role's distinct messages

_SPACES = re.compile(r"\s+")
_MASKS = (
    (re.compile(r"<([A-Z_]+?)_\d+>"), r"<\1>"),  # scrubbed placeholders: <PERSON_3> -> <PERSON>
    (re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b"), "<EMAIL>"),
    (re.compile(r"https?://\S+"), "<URL>"),
    (re.compile(r"\b\d+(?:[.,:]\d+)*\b"), "0"),  # numbers, not the digits of an identifier (category_7)
)


def mask_line(line: str) -> str:
    """One line with its values masked and its spaces collapsed: the form template lines are compared in."""
    text = _SPACES.sub(" ", line).strip()
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return text


def message_lines(text: str) -> list[str]:
    """The non-blank lines of a message, stripped (not masked)."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


@dataclass(frozen=True)
class Turn:
    """One message read against the templates: its template (template lines and `<input>` markers, masked) and its
    variable part (the other lines as written, joined by newlines; '' when the message is all template)."""

    template: tuple[str, ...]
    variable: str

    @property
    def instruction(self) -> str:
        """The template as one text ('' when the message holds no template line)."""
        return "\n".join(self.template) if any(line != INPUT for line in self.template) else ""


@dataclass(frozen=True)
class Templates:
    """Template lines per role (masked); `Templates()` has none, so every message is all variable."""

    lines: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def split(self, role: str, text: str) -> Turn:
        """`text` (a message of `role`) as its template and its variable part."""
        known = self.lines.get(role, frozenset())
        template: list[str] = []
        variable: list[str] = []
        for line in message_lines(text):
            masked = mask_line(line)
            if masked in known:
                template.append(masked)
            else:
                variable.append(line)
                if not template or template[-1] != INPUT:
                    template.append(INPUT)
        return Turn(tuple(template), "\n".join(variable))

    def to_json(self) -> dict[str, list[str]]:
        return {role: sorted(lines) for role, lines in sorted(self.lines.items())}

    @classmethod
    def from_json(cls, data: Mapping[str, Iterable[str]]) -> "Templates":
        return cls({role: frozenset(lines) for role, lines in data.items()})

    def __len__(self) -> int:
        return sum(len(lines) for lines in self.lines.values())


def mine_templates(messages: Iterable[tuple[str, str]], min_messages: int = MIN_MESSAGES,
                   min_share: float = MIN_SHARE) -> Templates:
    """Template lines from (role, text) pairs (see the module's docstring); roles outside `FRAMED_ROLES` are
    skipped."""
    distinct: dict[str, set[str]] = defaultdict(set)
    for role, text in messages:
        if role in FRAMED_ROLES and text.strip():
            distinct[role].add(text)
    return Templates({role: _framing_lines(sorted(texts), max(min_messages, min_share * len(texts)))
                      for role, texts in sorted(distinct.items())})


def _framing_lines(texts: list[str], floor: float) -> frozenset[str]:
    """The masked lines found in at least `floor` of the messages beside at least `floor` different remainders
    (the rest of the message as written): a line that recurs only because one question is asked with different
    numbers has the same remainder, or none, every time."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update({mask_line(line) for line in message_lines(text)})
    frequent = {line for line, n in counts.items() if n >= floor}
    remainders: dict[str, set[int]] = defaultdict(set)
    for text in texts:
        lines = message_lines(text)
        masked = [mask_line(line) for line in lines]
        if not frequent.intersection(masked):
            continue
        hashes = [hash(line) for line in lines]
        total = sum(hashes)  # an order-free hash of the message: minus one line's hash, the rest's
        for line, value in zip(masked, hashes, strict=True):
            if line in frequent:
                remainders[line].add(total - value)
    return frozenset(line for line, rest in remainders.items() if len(rest) >= floor)


def record_messages(records: Iterable) -> Iterable[tuple[str, str]]:
    """(role, text) of every message of every call record, for `mine_templates`."""
    for record in records:
        for message in record.messages:
            yield message.role, message.content or ""
