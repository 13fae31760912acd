"""Whose name is it: a private person's (`PERSON`) or another name (`NAME`).

The tagger finds names; it cannot tell a customer's name from a footballer's, a band's or a word it mistook for a
name. The policy removes the names of private persons and keeps public ones, so every name the tagger finds is
`PERSON` only when its context says a private person owns it, and `NAME` otherwise:

- a phrase before it that introduces or addresses a person: "my name is", "first name", "I'm", "this is", "call
  me", "Dear", "Hi", "Thanks,", "Regards,", "Mr", "Dr", "my wife", "tell", "ask", "remind", "transfer ... to";
  "name is" unless a thing's name is meant ("the restaurant name is ...");
- a booking under a name: "under (the name of)", "in the name of", and "for" after a booking word ("a table for
  Ana Ruiz", "the reservation for ...");
- a JSON value whose key names a person ("first_name", "passenger", "recipient", "cardholder", ...);
- contact details beside it (an email address, phone, street address, card or account number within
  `CONTACT_WINDOW` characters on the same line): a signature or a contact block;
- the name alone on the last line of a text of several lines (a signature);
- within a call, the local part of one of its email addresses ("maria.lopez@..." makes "Maria" and "Lopez"
  private everywhere in the call; `CallScrubber` applies this one).

docs/curation.md has the measured effect: the share of planted and source-labelled private names that stay
`PERSON`, and of the names in real public text (tweets, Wikipedia) that become `NAME`.
"""

from __future__ import annotations

import re

from llm2slm.curation.patterns import looks_like_address

PERSON = "PERSON"
NAME = "NAME"
NAMED = frozenset({PERSON, "LOCATION", "ORGANIZATION"})  # the tagger's types
CONTACT_TYPES = frozenset({"EMAIL", "PHONE", "STREET_ADDRESS", "CREDIT_CARD", "IBAN", "SSN"})
CONTACT_WINDOW = 60  # characters between a name and a contact detail on the same line
BEFORE_WINDOW = 60  # characters before a name searched for an introducing phrase

_RELATIVES = (r"wife|husband|partner|spouse|son|daughter|kids?|child(?:ren)?|mom|mum|mother|dad|father|brother|"
              r"sister|friend|boss|colleague|co-?worker|manager|neighbou?r|doctor|patient|client|customer|"
              r"girlfriend|boyfriend|fianc[ée]e?|cousin|aunt|uncle|grand(?:ma|pa|mother|father)|tenant|landlord|"
              r"assistant|roommate|flatmate|nephew|niece|employee|teacher|nurse|lawyer|dentist|guest")
_NAME_WORDS = r"(?:(?:first|last|full|given|family|middle|sur|maiden|user)\s*)?name"
_INTRODUCING = re.compile(
    rf"""(?ix)(?:
        \b(?:my|his|her|their|our|your|the|a|guest|customer|passenger|patient|contact|account|card)(?:'s)?\s+
            {_NAME_WORDS}(?:\s+(?:is|was|will\s+be|should\s+be))?
      | \b(?:first|last|full|given|family|middle|sur|maiden)\s*name(?:\s+(?:is|was))?
      | \b(?:i\s+am|i['’]?m|this\s+is|it['’]?s|it\s+is|here\s+is|call\s+me|signed)
      | \b(?:dear|hi|hello|hey|thanks|thank\s+you|thx|regards|sincerely)\s*[,:]?
      | \b(?:best|cheers|love|yours|from|to|cc|attn|attention)\s*[,:]
      | \b(?:mr|mrs|ms|miss|mx|dr|prof|sir|madam)\.?
      | \b(?:my|our|his|her|their)\s+(?:{_RELATIVES})(?:\s*,)?
      | \b(?:change|update|correct|set)\s+(?:it|the\s+name|my\s+name|the\s+account\s+holder)\s+to
      | \b(?:tell|ask|remind|invite|email|e-mail|text|message|ping|contact|phone|call|pay|paid|
            forward\s+(?:it|this|that)\s+to|send(?:\s+(?:it|this|that|money|\$?[\d.,]+\s*\w*))?\s+to|
            (?:transfer|wire|give|owe)(?:\s+\S+){{0,3}}\s+to)
      | \b(?:under(?:\s+the\s+name(?:\s+of)?)?|in\s+the\s+name\s+of|on\s+(?:the\s+)?name(?:\s+of)?|
            for\s+(?:mr|mrs|ms|dr)\.?)
      | \b(?:book(?:ing|ed)?|reserv(?:e|ed|ation)|table|appointment|ticket|order|room|seat)\b
            [^.?!\n]{{0,40}}\bfor
    )\s*[,:=-]?\s*$""")
# "name is ...": a private person's name unless a thing's name is meant ("the restaurant name is ...")
_NAME_IS = re.compile(r"(?i)\bname\s+(?:is|was)\s*[:,-]?\s*$")
_THINGS = re.compile(r"(?i)\b(?:restaurant|hotel|place|company|business|shop|store|product|file|song|movie|film|"
                     r"book|album|street|road|city|town|village|country|brand|app|game|club|team|band|dish|model|"
                     r"ship|pet|dog|cat|project|event|venue|bar|cafe|pub|museum|school|user|account|domain|"
                     r"host|server|network|wifi|device|folder|variable|function|field|column|table)\b")
_PERSON_KEY = re.compile(
    r"""(?ix)^\s*(?:first_?name|last_?name|full_?name|given_?name|family_?name|middle_?name|surname|
        customer|passenger|guest|recipient|patient|contact|sender|attendee|user_?name|owner|card_?holder|
        holder|account_?holder|employee|person|to|from|cc|signed_by|author|beneficiary|payee|driver|traveller|
        traveler)(?:_?name)?\s*:\s*$""")
# the strongest cues: a name after them is a person's even where the tagger took it for a place or a company
_SELF_NAMING = re.compile(r"(?i)(?:\b(?:my|his|her|their|your)\s+(?:(?:first|last|full)\s+)?name\s+is|\bi['’]?m|"
                          r"\bi\s+am|\bthis\s+is|\bcall\s+me|\b(?:first|last|full)\s+name(?:\s+is)?)\s*[,:]?\s*$")
_AFTER_CONTACT = re.compile(r"(?i)^\s*[,(]?\s*(?:here|speaking|phone|tel|mobile|cell|email|e-mail)\b")
# after the name: a role in the user's own affairs ("add Ana Ruiz as a beneficiary"), where the person lives
_AFTER_ROLE = re.compile(r"(?i)^\s+(?:as\s+(?:a|an|my|the|our)?\s*(?:beneficiary|contact|recipient|payee|guest|"
                         r"member|user|owner|signatory|authori[sz]ed\s+user|emergency\s+contact|dependent|"
                         r"co-?signer|driver|tenant)|lives|lived|resides|was\s+born)\b")
# the name addresses someone: "Leif, can I ...", "Remember me, Mary?", or a speaker's label "Nicole: ..."
_VOCATIVE_AFTER = re.compile(r"(?i)^\s*(?:,\s*(?:can|could|would|will|please|i|we|you|thanks?|do|did|are|is|how|"
                             r"what|when|where|why)\b|:\s*\S)")
_GREETED = re.compile(r"(?i)(?:hi|hello|hey|dear|thanks|mr|mrs|ms|dr)\b")  # the tagger's span took the greeting


def is_private(text: str, start: int, end: int, contacts: list[tuple[int, int]]) -> bool:
    """Whether the name at text[start:end] is a private person's by its context (module docstring);
    `contacts`: the spans of contact details found in `text`."""
    before, after = text[max(0, start - BEFORE_WINDOW):start], text[end:]
    if _PERSON_KEY.match(text[:start]) or _INTRODUCING.search(before) or _GREETED.match(text[start:end]):
        return True
    if _AFTER_CONTACT.match(after) or _AFTER_ROLE.match(after):
        return True
    line_start = text.rfind("\n", 0, start) + 1
    if (not text[line_start:start].strip() and _VOCATIVE_AFTER.match(after)) or (
            before.rstrip().endswith(",") and re.match(r"\s*[?!]", after)):
        return True
    if (named := _NAME_IS.search(before)) and not _THINGS.search(before[:named.start()][-30:]):
        return True
    line_end = len(text) if (n := text.find("\n", end)) < 0 else n
    for c_start, c_end in contacts:
        same_line = line_start <= c_start and c_end <= line_end
        if same_line and (0 <= c_start - end <= CONTACT_WINDOW or 0 <= start - c_end <= CONTACT_WINDOW):
            return True
    alone = not text[line_start:start].strip(" \t-–—") and not text[end:line_end].strip(" \t.,")
    return alone and line_start > 0 and not text[line_end:].strip()


def label_names(text: str, found: list[tuple[int, int, str, float]]) -> list[tuple[int, int, str, float]]:
    """`found` with each tagger `PERSON` span that lacks a private context relabelled `NAME`, a place or
    organisation right after a self-naming phrase ("this is ...", "my name is ...") relabelled `PERSON`, and a
    span right after a name (only spaces between) taken as the rest of that name."""
    if not any(f[2] in NAMED for f in found):
        return found
    contacts = [(s, e) for s, e, t, _ in found
                if t in CONTACT_TYPES or (t == "LOCATION" and looks_like_address(text[s:e]))]
    out = []
    for start, end, entity, score in found:
        if entity not in NAMED:
            pass
        elif out and out[-1][2] in (PERSON, NAME) and not text[out[-1][1]:start].strip():
            entity = out[-1][2]  # the rest of a person's name ("Maria" tagged a person, "Lopez" a place)
        elif entity == PERSON and not is_private(text, start, end, contacts):
            entity = NAME
        elif entity != PERSON and _SELF_NAMING.search(text[max(0, start - BEFORE_WINDOW):start]):
            entity = PERSON
        out.append((start, end, entity, score))
    return out


_NAME_VALUE = re.compile(r"[^\W\d_][\w'’.-]*(?:\s+[^\W\d_][\w'’.-]*){0,3}")


def named_by_key(key: str, value: str) -> bool:
    """A JSON value that is a private person's name by its key alone ("first_name": "Breiland"): one to four
    words of letters under a key that names a person."""
    return bool(key) and _PERSON_KEY.match(f"{key}: ") is not None and _NAME_VALUE.fullmatch(value.strip()) is not None


def email_name_parts(email: str) -> set[str]:
    """The lower-cased words of an email address's local part ("maria.lopez82@x.org" -> {"maria", "lopez"})."""
    local = email.split("@", 1)[0].lower()
    return {w for w in re.split(r"[^a-z]+", local) if len(w) >= 2}
