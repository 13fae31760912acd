import json
import re

import pytest

from llm2slm.common.config import ENTITY_TYPES, CurateConfig
from llm2slm.common.schema import CallRecord
from tests.factories import make_record

# One value per entity type, each in a sentence that gives it its usual context.
VALUES = {
    "PERSON": ("Maria Garcia", "Hi, I'm Maria Garcia."),
    "LOCATION": ("Boston", "I live in Boston."),
    "ORGANIZATION": ("Microsoft Corporation", "I work for Microsoft Corporation."),
    "EMAIL": ("jane.doe@example.org", "Mail jane.doe@example.org today."),
    "PHONE": ("+1 415-555-0134", "Call +1 415-555-0134 now."),
    "CREDIT_CARD": ("4111 1111 1111 1111", "My card is 4111 1111 1111 1111."),
    "IBAN": ("GB82WEST12345698765432", "Pay to GB82WEST12345698765432 please."),
    "IP_ADDRESS": ("192.168.10.24", "The server is 192.168.10.24 here."),
    "SSN": ("536-22-8402", "My ssn is 536-22-8402."),
    "URL": ("https://example.com/profile", "See https://example.com/profile for more."),
    "DATE_OF_BIRTH": ("12/03/1985", "I was born on 12/03/1985."),
    "API_KEY": ("sk-proj-abcdefghijklmnopqrstuvwx12345", "Use key sk-proj-abcdefghijklmnopqrstuvwx12345 for it."),
    "BEARER_TOKEN": ("abcdef1234567890abcdef", "Send Authorization: Bearer abcdef1234567890abcdef with it."),
    "PASSWORD": ("hunter2pass", "My password is hunter2pass okay."),
}
TEXT = " ".join(sentence for _, sentence in VALUES.values())
PLACEHOLDER = re.compile(r"<([A-Z_]+)_\d+>")
# every type replaced by a placeholder, and nothing kept as the agent's configuration: what is found shows
PLACEHOLDERS = CurateConfig(policy={t: "placeholder" for t in ENTITY_TYPES}, agent_config_types=[])


@pytest.fixture(scope="module")
def scrubber():
    from llm2slm.curation.scrub import Scrubber

    return Scrubber(PLACEHOLDERS)


def record_with_text_everywhere(text: str) -> CallRecord:
    """Every field of a call holds `text`: system, user, assistant history with a tool call, tool result,
    and a response with text and a tool call."""
    record = make_record(1, text, system=text, tool_calls=[{"name": "note", "arguments": {"note": text}}])
    data = record.model_dump()
    data["messages"] += [
        {"role": "assistant", "content": text, "tool_calls": [
            {"id": "h0", "type": "function", "function": {"name": "look_up", "arguments": json.dumps({"q": text})}}]},
        {"role": "tool", "tool_call_id": "h0", "content": json.dumps({"result": text})},
    ]
    data["response"]["content"] = text
    return CallRecord.model_validate(data)


FIELDS = ("messages.system", "messages.user", "messages.assistant", "messages.assistant.tool_arguments",
          "messages.tool", "response", "response.tool_arguments")


def test_every_entity_type_is_replaced_in_every_field(scrubber):
    call = scrubber.call()
    clean = call.record(record_with_text_everywhere(TEXT))
    dumped = clean.model_dump_json()
    for kind, (value, _) in VALUES.items():
        assert value not in dumped, kind
        for where in FIELDS:
            assert call.counts[(kind, where)] >= 1, (kind, where)
    for message in [*clean.messages, clean.response]:
        for tool_call in message.tool_calls or []:
            json.loads(tool_call.function.arguments)  # still valid JSON
    user = clean.last_user_message()
    assert set(PLACEHOLDER.findall(user)) == set(VALUES)


def test_placeholders_are_consistent_inside_a_call_and_restart_in_the_next(scrubber):
    record = make_record(1, "Write to ann@mail.com and bob@mail.com; again ann@mail.com",
                         answer="Sent to ann@mail.com", tool_calls=None)
    call = scrubber.call()
    clean = call.record(record)
    assert clean.last_user_message() == "Write to <EMAIL_1> and <EMAIL_2>; again <EMAIL_1>"
    assert clean.response.content == "Sent to <EMAIL_1>"
    other = scrubber.call().record(make_record(2, "Write to bob@mail.com"))
    assert other.last_user_message() == "Write to <EMAIL_1>"


def test_a_name_keeps_one_placeholder_per_word_across_the_fields_of_a_call(scrubber):
    # the tagger finds the name in the sentence; the answer's bare JSON values alone would give it no context
    record = make_record(1, "Hi, I'm Maria Garcia. Book a table for Friday at 7pm.",
                         answer='{"first_name": "Maria", "last_name": "Garcia", "date": "Friday", "time": "7pm"}')
    clean = scrubber.call().record(record)
    assert clean.last_user_message() == "Hi, I'm <PERSON_1> <PERSON_2>. Book a table for Friday at 7pm."
    answer = json.loads(clean.response.content)
    assert answer == {"first_name": "<PERSON_1>", "last_name": "<PERSON_2>", "date": "Friday", "time": "7pm"}
    # an extraction task's answer stays a copy of its request
    assert all(value in clean.last_user_message() for value in answer.values())


def test_a_call_with_no_personal_data_passes_unchanged(scrubber):
    tools = [{"type": "function", "function": {"name": "book", "parameters": {"type": "object"}}}]
    records = [
        make_record(1, "book a table for 4 people at 7:30pm on 2026-10-01, order 12345"),
        make_record(2, "How do I activate my card? It arrived yesterday.", answer="activate_my_card"),
        make_record(3, "I want to transfer money to my savings account", answer='{"intent": "transfer"}',
                    system="You route requests. Answer with JSON."),
        make_record(4, "table for two tonight", tools=tools,
                    tool_calls=[{"name": "book", "arguments": {"people": 2, "time": "19:00"}}]),
    ]
    for record in records:
        call = scrubber.call()
        assert call.record(record) == record
        assert not call.counts


def test_numbers_that_are_not_phones_are_kept_and_phone_formats_are_found(scrubber):
    for phone in ["+41 (0)62 585 51 90", "0688 843 79 56", "+447700677662", "9472 7916", "(821)593-4387"]:
        assert scrubber.call().text(f"reach me at {phone} please", "u") == "reach me at <PHONE_1> please", phone
    for text in ("the 2019-2020 season", "at 33.4484 N", "on 2026-10-01", "order 12345", "seat 9 people at 7:30"):
        assert scrubber.call().text(text, "u") == text


def test_a_street_address_is_replaced_whole_but_bare_numbers_stay(scrubber):
    text = "Send it to 742 Evergreen Terrace, Springfield 49007 by Friday."
    scrubbed = scrubber.call().text(text, "u")  # one placeholder per word, as for names
    assert scrubbed.startswith("Send it to <STREET_ADDRESS_1> ") and scrubbed.endswith("> by Friday.")
    assert not any(word in scrubbed for word in ("742", "Evergreen", "Springfield", "49007")), scrubbed
    for text in ("Book a table for 9 people at 7pm on Friday", "Room 12 please, 2 nights"):
        assert scrubber.call().text(text, "u") == text


def test_hash_and_redact_operators(monkeypatch):
    from llm2slm.curation.scrub import Scrubber

    monkeypatch.delenv("LLM2SLM_SCRUB_SALT", raising=False)
    with pytest.raises(ValueError, match="LLM2SLM_SCRUB_SALT"):
        Scrubber(CurateConfig(policy={"EMAIL": "hash"}))
    monkeypatch.setenv("LLM2SLM_SCRUB_SALT", "a-salt-of-enough-length")
    hashed = Scrubber(CurateConfig(policy={"EMAIL": "hash"}))
    first = hashed.call().text("mail ann@mail.com", "u")
    assert re.fullmatch(r"mail [0-9a-f]{64}", first) and hashed.call().text("mail ann@mail.com", "u") == first
    redacted = Scrubber(CurateConfig(policy={"EMAIL": "redact"})).call()
    assert redacted.text("mail ann@mail.com or bob@mail.com", "u") == "mail <EMAIL> or <EMAIL>"


def test_building_a_scrubber_keeps_tldextract_offline_before_presidio_is_imported(monkeypatch):
    import os

    from llm2slm.curation.scrub import Scrubber

    monkeypatch.delenv("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", raising=False)
    Scrubber(CurateConfig(policy={"EMAIL": "placeholder"}))
    assert os.environ["TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS"] == ""  # set by the scrubber, not by an import
