"""Name each task from what its users ask: class-based TF-IDF keywords, plus the calls nearest its centre.

c-TF-IDF treats all user messages of one task as one document: a word scores high when it is frequent in this
task and rare across the others (term share in the class x log(1 + average words per class / word's total count)).
"""

from __future__ import annotations

import re

import numpy as np

TOKEN_PATTERN = r"(?u)\b[^\W\d_]{2,}\b"  # words of two letters or more: no numbers or <PLACEHOLDER_1> tokens
EXEMPLAR_CHARS = 240


def ctfidf_keywords(documents: list[str], top: int) -> list[list[str]]:
    """The `top` keywords of each document (one document per task), best first; ties broken alphabetically."""
    from sklearn.feature_extraction.text import CountVectorizer

    if not documents:
        return []
    vectorizer = CountVectorizer(stop_words="english", token_pattern=TOKEN_PATTERN, lowercase=True)
    try:
        counts = vectorizer.fit_transform(documents).toarray().astype(np.float64)
    except ValueError:  # no word at all survives the stop list
        return [[] for _ in documents]
    vocabulary = vectorizer.get_feature_names_out()
    per_class = counts.sum(axis=1, keepdims=True)
    term_share = np.divide(counts, per_class, out=np.zeros_like(counts), where=per_class > 0)
    average_words = counts.sum() / len(documents)
    idf = np.log1p(average_words / np.maximum(counts.sum(axis=0), 1.0))
    scores = term_share * idf
    keywords = []
    for row in scores:
        ranked = sorted((i for i in np.flatnonzero(row > 0)), key=lambda i: (-row[i], vocabulary[i]))
        keywords.append([str(vocabulary[i]) for i in ranked[:top]])
    return keywords


def task_name(keywords: list[str], fallback: str) -> str:
    """The keyword name (`card-pin-blocked`): the secondary detail of a task, and its name when its answers have
    no schema to name it by."""
    return "-".join(keywords[:3]) if keywords else fallback


NAMED_FIELDS = 3  # JSON keys or tool names a name spells out before it says "and N more"


def _listing(names: list[str], noun: str) -> str:
    """`a, b, c and 2 more <noun>s` (`noun`: singular)."""
    shown, more = ", ".join(names[:NAMED_FIELDS]), len(names) - NAMED_FIELDS
    return shown if more <= 0 else f"{shown} and {more} more {noun}{'s' if more > 1 else ''}"


def schema_name(answers: list[str], tool_names: list[list[str]], shape: str, distinct: int) -> str | None:
    """A task's name for people, from what its answers are: `classify intent (151 labels)`, `classify into 77
    labels`, `extract people, date, time and 2 more fields -> JSON`, `call get_weather, find_recipe`, `call tools
    (1,201 functions)`, `answer in text`; None when the shape says nothing more (no answers)."""
    from collections import Counter

    if not answers:
        return None
    if shape == "tool_call":
        called = Counter(name for names in tool_names for name in names)
        if not called:
            return "call tools"
        if len(called) > 2 * NAMED_FIELDS:
            return f"call tools ({len(called):,} functions)"
        return "call " + _listing([n for n, _ in called.most_common()], "tool")
    keys = Counter(key for answer in answers for key in _object_keys(answer))
    if shape == "closed_label":
        key = next(iter(keys)) if len(keys) == 1 else None  # {"intent": ...}: the one key names what is classified
        return f"classify {key} ({distinct:,} labels)" if key else f"classify into {distinct:,} labels"
    if shape in ("json", "json_spans") and keys:
        return "extract " + _listing([k for k, _ in keys.most_common()], "field") + " -> JSON"
    return "answer in text"


def _object_keys(answer: str) -> list[str]:
    import json

    try:
        value = json.loads(answer)
    except (ValueError, TypeError):
        return []
    return list(value) if isinstance(value, dict) else []


def exemplar_rows(vectors: np.ndarray, members: np.ndarray, k: int = 3, texts: list[str] | None = None) -> list[int]:
    """Row numbers of the `k` members closest to the members' centroid (ties by row number), skipping a member
    whose text (when `texts` is given) repeats one already chosen."""
    if len(members) == 0:
        return []
    centroid = vectors[members].mean(axis=0)
    distances = np.linalg.norm(vectors[members] - centroid, axis=1)
    chosen: list[int] = []
    seen: set[str] = set()
    for i in np.lexsort((members, distances)):
        row = int(members[i])
        if texts is not None:
            if texts[row] in seen:
                continue
            seen.add(texts[row])
        chosen.append(row)
        if len(chosen) == k:
            break
    return chosen


def shorten(text: str, chars: int = EXEMPLAR_CHARS) -> str:
    return text if len(text) <= chars else text[:chars - 1].rstrip() + "…"


# words every instruction uses whatever its task: they never name one
INSTRUCTION_WORDS = frozenset("""
answer answers reply respond return output json object objects text exactly written only nothing else list
message messages request requests user users customer customers assistant assistants example e.g use using
following below above one single category categories intent intents label labels field fields tool tools
function functions call calls calling provided available value values verbatim name names none fits pick
classify extract route triage file task choose select given helpful instruction format asks way spelled
briefly several needs need say instead making make follows follow oos scope fill fit serve serves right
short input latest copy copied keep mentioned missing skipping omit leave left applies
allowed reaches served grouped area read team whose skill handle access personal chat step
instructed instructions handle handles
""".split())


def instruction_topics(documents: list[list[str]], answers: list[str]) -> list[str | None]:
    """Per task, the most distinctive word of what it is told to do: c-TF-IDF over its instruction wordings (list
    lines such as a label list left out) against the other tasks', among the words found in at least half of its
    wordings, leaving out words any instruction uses and words of its own answers (a label, a key); None when no
    word is left."""
    import re

    if len(documents) < 2:
        return [None for _ in documents]
    documents = [["\n".join(line for line in re.sub(r"<[A-Za-z_]+>", " ", text).splitlines()
                             if not line.lstrip().startswith("- ")) for text in texts] for texts in documents]
    keywords = ctfidf_keywords(["\n".join(texts) for texts in documents], 30)
    topics: list[str | None] = []
    for words, texts, answer in zip(keywords, documents, answers, strict=True):
        answered = set(re.findall(r"[a-z]+", answer.lower()))
        lowered = [set(re.findall(r"[a-z]+", text.lower())) for text in texts]
        topics.append(next((w for w in words if w not in INSTRUCTION_WORDS and w not in answered
                            and 2 * sum(w in seen for seen in lowered) >= len(texts)), None))
    return topics


def with_topic(name: str, topic: str | None) -> str:
    """`classify into 79 labels` with topic `bank` -> `classify bank into 79 labels`; the verb keeps its place. A
    name that already says what is classified (`classify intent (151 labels)`) keeps it."""
    if not topic or topic in re.findall(r"[a-z_]+", name) or re.match(r"classify \w+ \(", name):
        return name
    verb, _, rest = name.partition(" ")
    if verb == "answer":
        return f"{name} ({topic})"
    return f"{verb} {topic} {rest}" if rest else f"{verb} {topic}"
