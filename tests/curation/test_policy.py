"""The entity policy: which types are kept and which replaced, by which action; the agent's configuration rule;
the audit's counts per type and action; and clear refusals of a policy that names what does not exist."""

import json
import re

import pytest
from pydantic import ValidationError

from llm2slm.common.config import ENTITY_TYPES, ConfigError, CurateConfig, load_config
from llm2slm.curation.pipeline import curate_records
from tests.factories import make_record

SYSTEM = "You are the triage step of Acme Bank's in-app support assistant."
PLACEHOLDERS = {t: "placeholder" for t in ENTITY_TYPES}


@pytest.fixture(autouse=True)
def no_secret(monkeypatch):
    monkeypatch.delenv("LLM2SLM_SCRUB_SALT", raising=False)  # surrogates keyed by curate.seed: exact values


@pytest.fixture(scope="module")
def default():
    from llm2slm.curation.scrub import Scrubber

    return Scrubber(CurateConfig())


def scrubber(**cfg):
    from llm2slm.curation.scrub import Scrubber

    return Scrubber(CurateConfig(**cfg))


def test_the_default_policy():
    assert CurateConfig().policy == {
        "PERSON": "surrogate", "NAME": "keep", "LOCATION": "keep", "ORGANIZATION": "keep", "STREET_ADDRESS": "surrogate",
        "EMAIL": "surrogate", "PHONE": "surrogate", "CREDIT_CARD": "surrogate", "IBAN": "surrogate",
        "IP_ADDRESS": "surrogate", "SSN": "surrogate", "URL": "surrogate", "DATE_OF_BIRTH": "surrogate",
        "API_KEY": "surrogate", "BEARER_TOKEN": "surrogate", "PASSWORD": "surrogate"}


def test_a_name_and_a_phone_are_replaced_under_the_default_policy(default):
    call = default.call()
    text = call.text("Thanks, Maria Lopez, +44 20 7946 0958", "messages.user")
    assert text == "Thanks, Allen Franch, +44 73 7425 5883"
    assert call.actions == {("surrogate", "PERSON"): 2, ("surrogate", "PHONE"): 1}


def test_a_place_is_kept_and_a_street_address_replaced_under_the_default_policy(default):
    assert default.call().text("I moved to Boston last year.", "u") == "I moved to Boston last year."
    address = default.call().text("Send it to 742 Evergreen Terrace, Springfield 49007 by Friday.", "u")
    assert re.fullmatch(r"Send it to \d{3} [A-Z][a-z]+ [A-Z][a-z]+, [A-Z][a-z]+ \d{5} by Friday\.", address)
    assert not re.search(r"742|Evergreen|Springfield|49007", address)


def test_a_city_is_kept_under_the_default_policy(default):
    text = "the lawsuit for Pacific Gas and Electric in San Francisco"
    assert default.call().text(text, "u").endswith(" in San Francisco")


def test_a_company_and_a_city_are_kept_under_the_default_policy(default):
    text = "the lawsuit for Pacific Gas and Electric in San Francisco"
    assert default.call().text(text, "u") == text


def test_an_authorization_header_keeps_its_scheme_word(default):
    text = default.call().text("Authorization: Bearer abcdef1234567890abcdef", "u")
    assert re.fullmatch(r"Authorization: Bearer [0-9a-f]{22}", text) and "abcdef1234567890abcdef" not in text


def test_each_type_gets_its_own_action_and_types_left_out_are_not_looked_for():
    call = scrubber(policy={"EMAIL": "keep", "PHONE": "placeholder", "PERSON": "redact"}).call()
    text = call.text("Mail ann@mail.com or +44 20 7946 0958, Maria Lopez, card 4111 1111 1111 1111", "u")
    assert text == "Mail ann@mail.com or <PHONE_1>, <PERSON> <PERSON>, card 4111 1111 1111 1111"
    assert call.actions == {("keep", "EMAIL"): 1, ("placeholder", "PHONE"): 1, ("redact", "PERSON"): 2}
    assert call.counts == {("PHONE", "u"): 1, ("PERSON", "u"): 2}  # replaced values only


def test_a_name_the_tagger_takes_for_a_place_in_one_field_is_still_a_person(default):
    # "Maria" alone is tagged as a place in this sentence, and as part of a person's name in the answer
    record = make_record(1, "Hi, this is Maria Lopez, my card was declined.", answer='{"name": "Maria Lopez"}')
    clean = default.call().record(record)
    assert "Maria" not in clean.model_dump_json() and "Lopez" not in clean.model_dump_json()
    assert json.loads(clean.response.content)["name"] in clean.last_user_message()


def brand_call():
    return make_record(1, "Hi, I'm Maria Lopez and my Acme Bank card was declined.", system=SYSTEM,
                       answer="Sorry, Maria Lopez: Acme Bank will send you a new card.")


def test_a_brand_in_the_system_prompt_is_kept_in_the_user_turn_and_the_answer(default):
    clean = default.call().record(brand_call())
    assert clean.messages[0].content == SYSTEM
    assert clean.last_user_message() == "Hi, I'm Allen Franch and my Acme Bank card was declined."
    assert clean.response.content == "Sorry, Allen Franch: Acme Bank will send you a new card."


def test_the_agent_configuration_is_kept_whatever_the_policy_and_only_for_its_types():
    # every type would be replaced: only the values the system prompt holds stay
    call = scrubber(policy=PLACEHOLDERS).call()
    clean = call.record(brand_call())
    assert clean.messages[0].content == SYSTEM
    assert clean.last_user_message() == "Hi, I'm <PERSON_1> <PERSON_2> and my Acme Bank card was declined."
    # "Acme" and "Bank" in the system prompt, the user turn and the answer
    assert sum(call.actions[("agent_config", t)] for t in ("PERSON", "NAME", "ORGANIZATION")) == 6
    without = scrubber(policy=PLACEHOLDERS, agent_config_types=[]).call().record(brand_call())
    assert "Acme" not in without.messages[0].content and "Acme" not in without.last_user_message()


def test_values_in_the_tool_specifications_are_kept_but_secrets_in_the_system_prompt_are_not(default):
    tools = [{"type": "function", "function": {
        "name": "open_ticket", "description": "Opens a ticket with Acme Bank support (help@acmebank.com).",
        "parameters": {"type": "object", "properties": {"email": {"type": "string"}}}}}]
    record = make_record(2, "Please write to help@acmebank.com and copy jane.doe@example.org", tools=tools,
                         system="You triage tickets. Use the key sk-proj-abcdefghijklmnopqrstuvwx12345.",
                         tool_calls=[{"name": "open_ticket", "arguments": {"email": "jane.doe@example.org",
                                                                          "cc": "help@acmebank.com"}}])
    call = default.call()
    clean = call.record(record)
    arguments = json.loads(clean.response.tool_calls[0].function.arguments)
    assert arguments["cc"] == "help@acmebank.com" and "help@acmebank.com" in clean.last_user_message()
    assert "jane.doe@example.org" not in clean.model_dump_json() and arguments["email"] in clean.last_user_message()
    assert "abcdefghijklmnopqrstuvwx" not in clean.messages[0].content  # a secret is never configuration
    assert clean.tools == record.tools  # tool specifications are read, not changed
    assert call.actions[("agent_config", "EMAIL")] == 2 and call.actions[("surrogate", "API_KEY")] == 1


def test_the_audit_counts_values_per_type_and_per_action():
    records = [make_record(1, "Thanks, Maria Lopez, +44 20 7946 0958", answer='{"name": "Maria Lopez"}'),
               make_record(2, "I moved to Boston last year.")]
    audit = curate_records(records, CurateConfig(dedup="none")).audit
    assert audit.by_action == {"keep": {"LOCATION": 1}, "surrogate": {"PERSON": 4, "PHONE": 1}}
    assert audit.replaced == {"PERSON": 4, "PHONE": 1} and audit.calls_with_pii == 1
    assert audit.replaced_by_field == {"messages.user": {"PERSON": 2, "PHONE": 1}, "response": {"PERSON": 2}}
    off = curate_records(records, CurateConfig(policy={}, dedup="none")).audit
    assert (off.by_action, off.replaced, off.ner_model) == ({}, {}, "")


@pytest.mark.parametrize("policy, message", [
    ({"EMAIL_ADDRESS": "surrogate"}, "unknown entity type 'EMAIL_ADDRESS' (entity types: PERSON, "),
    ({"PERSON": "mask"}, "PERSON: unknown action 'mask' (actions: surrogate, placeholder, hash, redact, keep)"),
])
def test_a_policy_naming_an_unknown_type_or_action_is_refused(policy, message):
    with pytest.raises(ValidationError, match=re.escape(message)):
        CurateConfig(policy=policy)


def test_a_bad_policy_in_params_yaml_is_reported_with_its_path(tmp_path):
    (tmp_path / "params.yaml").write_text("curate:\n  policy:\n    PERSON: surrogate\n    PASSPORT: redact\n")
    with pytest.raises(ConfigError, match=r"curate\.policy: unknown entity type 'PASSPORT'"):
        load_config(tmp_path)
    (tmp_path / "params.yaml").write_text("curate:\n  policy: {PERSON: pseudonym}\n")
    with pytest.raises(ConfigError, match=r"curate\.policy: PERSON: unknown action 'pseudonym'"):
        load_config(tmp_path)


def test_the_settings_the_policy_replaced_are_refused_with_their_equivalent(tmp_path):
    (tmp_path / "params.yaml").write_text("curate:\n  scrub: [EMAIL, PHONE]\n  operator: hash\n")
    with pytest.raises(ConfigError, match=re.escape("curate: `scrub` and `operator` were replaced by `policy`")) as e:
        load_config(tmp_path)
    assert "`policy: {EMAIL: hash, PHONE: hash}`" in str(e.value)
