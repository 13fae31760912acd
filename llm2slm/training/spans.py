"""Span tagging without torch: which request text a span tagger reads, where the LLM's JSON values sit in it,
and how tagged spans are rendered back into the JSON the LLM writes.

A span-tagger task is one whose answers are JSON objects with string (or number) values copied from the request,
e.g. `{"date": "August 23rd", "people": "9 people"}`. Each JSON key is a field; a token gets the tag O, B-<field>
(first token of a value) or I-<field> (a later token). Tag ids: 0 = O, 1 + 2i = B of field i, 2 + 2i = I of it.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from llm2slm.training.prompts import as_dict, message_text

DEFAULT_EMPTY = "{}"  # the answer when no field is found, unless the LLM's own empty answer says otherwise


class AnswerStyle(BaseModel):
    """How the LLM writes its JSON, so that rendered answers match its text exactly."""

    item_separator: str = ", "
    key_separator: str = ": "
    ensure_ascii: bool = False
    empty: str = DEFAULT_EMPTY  # the LLM's answer when there is nothing to extract
    numeric_fields: list[str] = []  # fields whose values the LLM writes as JSON numbers


def json_object(answer: str) -> dict[str, Any] | None:
    """The answer as a dict when it is a JSON object of strings or numbers, else None."""
    try:
        value = json.loads(answer)
    except (json.JSONDecodeError, TypeError):
        return None
    if not isinstance(value, dict):
        return None
    if any(isinstance(v, bool) or not isinstance(v, (str, int, float)) for v in value.values()):
        return None
    return value


def field_order(answers: Iterable[str]) -> list[str] | None:
    """The JSON keys of the answers in the order the LLM writes them (None when no answer has a key).

    Keys always written in sorted order stay sorted. Otherwise each pair of keys is ordered as it most often
    appears in answers holding both; keys never seen together keep the order of first appearance, which also
    breaks a cycle (inconsistent orders).
    """
    first_seen: dict[str, int] = {}
    before: Counter[tuple[str, str]] = Counter()
    for answer in answers:
        obj = json_object(answer)
        for i, key in enumerate(obj or {}):
            first_seen.setdefault(key, len(first_seen))
            for later in list(obj)[i + 1:]:
                before[(key, later)] += 1
    if not first_seen:
        return None
    if not any(count for (a, b), count in before.items() if a > b):  # the LLM sorts its keys
        return sorted(first_seen)
    after: dict[str, set[str]] = defaultdict(set)  # key -> keys that must come before it
    for (a, b), count in before.items():
        if count > before[(b, a)]:
            after[b].add(a)
    order: list[str] = []
    remaining = sorted(first_seen, key=first_seen.get)
    while remaining:
        ready = [k for k in remaining if not (after[k] - set(order))] or remaining[:1]
        order.append(ready[0])
        remaining.remove(ready[0])
    return order


def answer_style(answers: Sequence[str], fields: Sequence[str]) -> AnswerStyle:
    """Separators, escaping, number fields and the empty answer, as the LLM writes them."""
    objects = [a for a in answers if json_object(a)]
    compact = sum('":"' in a or '","' in a for a in objects) > len(objects) / 2
    empties = Counter(a for a in answers if not json_object(a))
    numeric = Counter(k for a in objects for k, v in json_object(a).items() if not isinstance(v, str))
    total = Counter(k for a in objects for k in json_object(a))
    return AnswerStyle(
        item_separator="," if compact else ", ",
        key_separator=":" if compact else ": ",
        ensure_ascii=any("\\u" in a for a in objects),
        empty=empties.most_common(1)[0][0] if empties else DEFAULT_EMPTY,
        numeric_fields=[f for f in fields if numeric[f] > total[f] / 2],
    )


def tagger_inputs(messages: Sequence[Any]) -> tuple[str, str]:
    """(the last user message, the assistant turn before it): values are tagged in the first; the second is
    context that tells e.g. whether a bare "6" answers "how many people?" or "what time?"."""
    msgs = [as_dict(m) for m in messages]
    user_at = next((i for i in range(len(msgs) - 1, -1, -1) if msgs[i].get("role") == "user"), None)
    if user_at is None:
        return (message_text(msgs[-1]) if msgs else ""), ""
    previous = next((msgs[i] for i in range(user_at - 1, -1, -1) if msgs[i].get("role") == "assistant"), None)
    return message_text(msgs[user_at]), (message_text(previous).strip() if previous else "")


def _at_word_edges(text: str, start: int, end: int) -> bool:
    return (start == 0 or not text[start - 1].isalnum()) and (end == len(text) or not text[end].isalnum())


def _find(text: str, value: str, taken: list[tuple[int, int]]) -> tuple[int, int] | None:
    """The first free occurrence of `value`: exact case first, then any case; whole words preferred."""
    for flags in (0, re.IGNORECASE):
        found = [(m.start(), m.end()) for m in re.finditer(re.escape(value), text, flags)]
        free = [(s, e) for s, e in found if all(e <= ts or s >= te for ts, te in taken)]
        if free:
            return sorted(free, key=lambda span: (not _at_word_edges(text, *span), span[0]))[0]
    return None


def locate_spans(text: str, values: Mapping[str, Any], fields: Sequence[str]) -> list[tuple[int, int, int]] | None:
    """[(start char, end char, field index)] of each value in `text`, or None when one cannot be placed.

    Longer values are placed first, so that "7" does not take the 7 of "7pm"."""
    index = {f: i for i, f in enumerate(fields)}
    spans: list[tuple[int, int, int]] = []
    for key, value in sorted(values.items(), key=lambda kv: -len(str(kv[1]))):
        value = str(value).strip()
        if key not in index or not value:
            return None
        found = _find(text, value, [(s, e) for s, e, _ in spans])
        if found is None:
            return None
        spans.append((found[0], found[1], index[key]))
    return sorted(spans)


def tag_rows(rows: Sequence[Mapping[str, Any]], fields: Sequence[str]) -> tuple[list[dict[str, Any]], int]:
    """Rows with `text`, `context` and `spans` added; rows whose answer is not a JSON object of the fields or
    whose values are not all in the text are left out. Returns (kept rows, rows left out)."""
    kept: list[dict[str, Any]] = []
    for row in rows:
        text, context = tagger_inputs(row.get("messages") or [])
        values = json_object(str(row.get("answer", "")))
        spans = locate_spans(text, values, fields) if values is not None else None
        if spans is not None:
            kept.append({**row, "text": text, "context": context, "spans": [list(s) for s in spans]})
    return kept, len(rows) - len(kept)


def _inside_word(text: str, start: int, previous_end: int) -> bool:
    """The token at `start` continues the word of the token that ended at `previous_end` ("Wed" + "del")."""
    return 0 < start == previous_end and text[start - 1].isalnum() and text[start].isalnum()


def decode_tags(tags: Sequence[int], offsets: Sequence[tuple[int, int]], n_fields: int,
                text: str | None = None) -> dict[int, tuple[int, int]]:
    """{field index: (start char, end char)} from per-token tags; offsets (0, 0) mark tokens to skip.

    An I tag continues the open span of its field; otherwise it opens one (a missed B). The first span of each
    field wins. With `text`, spans keep to whole words: a piece inside a word ("del" of "Weddel") follows the
    word's first piece, in its span or out of any, whatever its own tag (a rare name cut into word pieces stays
    one value)."""
    spans: dict[int, tuple[int, int]] = {}
    open_field: int | None = None
    previous_end = -1
    for tag, (start, end) in zip(tags, offsets, strict=True):
        if end <= start:
            continue
        inside, previous_end = text is not None and _inside_word(text, start, previous_end), end
        if inside:
            if open_field is not None:
                spans[open_field] = (spans[open_field][0], end)
            continue
        if tag <= 0 or tag > 2 * n_fields:
            open_field = None
            continue
        field, is_inside = (tag - 1) // 2, (tag - 1) % 2 == 1
        if is_inside and open_field == field:
            spans[field] = (spans[field][0], end)
            continue
        open_field = None
        if field not in spans:
            spans[field] = (start, end)
            open_field = field
    return spans


def deciding_tokens(offsets: Sequence[tuple[int, int]], text: str | None = None) -> list[int]:
    """Indexes of the tokens whose tags `decode_tags` reads: tokens of the user message, less (with `text`) the
    pieces inside a word, which follow the word's first piece whatever their own tag."""
    chosen: list[int] = []
    previous_end = -1
    for j, (start, end) in enumerate(offsets):
        if end <= start:
            continue
        inside, previous_end = text is not None and _inside_word(text, start, previous_end), end
        if not inside:
            chosen.append(j)
    return chosen


def render_answer(text: str, spans: Mapping[int, tuple[int, int]], fields: Sequence[str], style: AnswerStyle) -> str:
    """The JSON the LLM would write for these spans: keys in field order, absent fields left out."""
    obj: dict[str, Any] = {}
    for i, field in enumerate(fields):
        if i not in spans:
            continue
        value: Any = text[spans[i][0]:spans[i][1]].strip()
        if field in style.numeric_fields:
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                pass
        if value != "":
            obj[field] = value
    if not obj:
        return style.empty
    return json.dumps(obj, ensure_ascii=style.ensure_ascii, separators=(style.item_separator, style.key_separator))
