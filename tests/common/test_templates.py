"""The template miner: framing lines recur beside different inputs; the user's own words do not."""

from __future__ import annotations

from llm2slm.common.templates import INPUT, Templates, mask_line, mine_templates

INSTRUCTION = "Route the message below to one intent.\nIntents:\n- weather\n- alarm\n- music"
REQUESTS = [f"request number {i}: please {verb} the {thing}" for i, (verb, thing) in enumerate(
    (v, t) for v in ("play", "stop", "find", "set", "check") for t in ("song", "alarm", "forecast", "timer", "news"))]


def _messages(n: int = 60) -> list[tuple[str, str]]:
    return [("user", f"{INSTRUCTION}\n\nMessage:\n{REQUESTS[i % len(REQUESTS)]} ({i})") for i in range(n)]


def test_instruction_lines_are_mined_and_inputs_are_not():
    templates = mine_templates(_messages())
    assert templates.lines["user"] == {*INSTRUCTION.splitlines(), "Message:"}
    turn = templates.split("user", f"{INSTRUCTION}\nMessage:\nwake me at 7 tomorrow")
    assert turn.variable == "wake me at 7 tomorrow"
    assert turn.template == (*INSTRUCTION.splitlines(), "Message:", INPUT)
    assert turn.instruction == "\n".join(turn.template)


def test_a_question_resent_or_asked_with_other_numbers_is_no_template():
    resent = [("user", "what is my balance?")] * 200
    numbers = [("user", f"{INSTRUCTION}\ntransfer {i} dollars to savings") for i in range(100)]
    templates = mine_templates(resent + numbers)
    assert "what is my balance?" not in templates.lines["user"]
    assert "transfer 0 dollars to savings" not in templates.lines["user"]  # same remainder every time
    assert set(INSTRUCTION.splitlines()) <= templates.lines["user"]


def test_thresholds_roles_and_round_trip():
    assert mine_templates(_messages(19)).lines == {"user": frozenset()}  # fewer than 20 distinct messages
    assert mine_templates([("system", INSTRUCTION + f"\n{i}") for i in range(50)]).lines == {}
    templates = mine_templates(_messages() + [("tool", f'Result:\n{{"temp": {i}, "city": "c{i}"}}') for i in range(30)])
    assert templates.lines["tool"] == {"Result:"}
    assert Templates.from_json(templates.to_json()) == templates and len(templates) == len(INSTRUCTION.splitlines()) + 2
    assert Templates().split("user", "a\nb").variable == "a\nb" and Templates().split("user", "a").instruction == ""


def test_masking_keeps_identifiers_and_hides_values():
    assert mask_line("  Order 1234   for <PERSON_2>, mail a.b@x.org or https://x.org/a?b=1 ") == \
        "Order 0 for <PERSON>, mail <EMAIL> or <URL>"
    assert mask_line("- category_7") == "- category_7"
