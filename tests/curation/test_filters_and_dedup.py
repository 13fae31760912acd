from collections import Counter

from llm2slm.common.config import CurateConfig
from llm2slm.curation.dedup import NearDuplicates, distinctive_text, jaccard, shingles
from llm2slm.curation.filters import FailureFilter, tool_call_problem
from tests.factories import make_record

WEATHER = [{"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
    "required": ["city"]}}}]


def refusal_filter() -> FailureFilter:
    cfg = CurateConfig()
    return FailureFilter(cfg.drop, cfg.refusal_patterns)


def test_each_reason_is_detected_and_good_calls_pass():
    calls = {
        "error": make_record(1, "hi", answer="", status="error", finish_reason="error", error="upstream timeout"),
        "empty_response": make_record(2, "hi", answer="  "),
        "truncated": make_record(3, "write a story", answer="Once upon a", finish_reason="length"),
        "invalid_tool_call": make_record(4, "weather?", tools=WEATHER,
                                         tool_calls=[{"name": "get_weather", "arguments": {"days": 2}}]),
        "refusal": make_record(5, "hack it", answer="I'm sorry, but I can't help with that request."),
    }
    check = refusal_filter()
    assert {name: check.reason(record) for name, record in calls.items()} == {n: n for n in calls}
    fine = [make_record(6, "weather in Oslo", tools=WEATHER,
                        tool_calls=[{"name": "get_weather", "arguments": {"city": "Oslo", "days": 2}}]),
            make_record(7, "reset", answer="None of the available tools can do that: I can't answer this with it."),
            make_record(8, "hello", answer="Sorry to hear that! Here is how to reset it.")]
    assert [check.reason(r) for r in fine] == [None, None, None]


def test_tool_call_problems_are_named():
    def problem(arguments, name="get_weather"):
        record = make_record(9, "w", tools=WEATHER, tool_calls=[{"name": name, "arguments": {}}])
        record.response.tool_calls[0].function.arguments = arguments
        record.response.tool_calls[0].function.name = name
        return tool_call_problem(record, 0)

    assert problem('{"city": "Oslo"') == "arguments are not JSON"
    assert problem("[1, 2]") == "arguments are not a JSON object"
    assert "not offered" in problem('{"city": "Oslo"}', name="book_flight")
    assert "schema" in problem('{"city": "Oslo", "days": "two"}')
    assert problem('{"city": "Oslo"}') is None


def test_a_reason_that_is_not_configured_is_not_dropped():
    truncated = make_record(3, "write", answer="Once upon a", finish_reason="length")
    assert FailureFilter(["error"]).reason(truncated) is None


def test_near_duplicate_threshold_behaves():
    base = "how do i activate the new card that arrived in the mail yesterday"
    records = [make_record(1, base), make_record(2, base + "?"), make_record(3, "what is the euro rate today")]
    similarity = jaccard(*(shingles(distinctive_text(r), 5) for r in records[:2]))
    assert 0.8 < similarity < 1 and jaccard(shingles(base, 5), shingles(records[2].last_user_message(), 5)) < 0.1
    above = NearDuplicates(threshold=min(similarity + 0.01, 1.0))
    assert [above.is_duplicate(r) for r in records] == [False, False, False]
    below = NearDuplicates(threshold=similarity - 0.01)
    assert [below.is_duplicate(r) for r in records] == [False, True, False]


def test_the_next_turn_of_a_conversation_is_not_a_near_duplicate_of_the_turn_before():
    history = " ".join(f"leg {d}: from city {d * 7} to city {d * 11 + 3} for {d % 4 + 1} adults" for d in range(30))
    first = make_record(1, history, answer="Which day?", trace_id="t-1")
    second = make_record(2, history + " fifth", answer="Which time?", trace_id="t-1")
    similarity = jaccard(*(shingles(distinctive_text(r), 5) for r in (first, second)))
    assert similarity >= 0.9  # the later turn repeats the earlier one's text
    finder = NearDuplicates(threshold=0.9)
    assert [finder.is_duplicate(first), finder.is_duplicate(second)] == [False, False]
    elsewhere = make_record(3, history + " fifth!", answer="Which time?", trace_id="t-2")
    assert finder.is_duplicate(elsewhere)  # the same text sent in another conversation still is one


def test_near_duplicates_are_only_looked_for_under_the_same_system_prompt():
    finder = NearDuplicates(threshold=0.9)
    text = "please cancel the order I placed this morning for the blue running shoes"
    assert not finder.is_duplicate(make_record(1, text, system="You route requests."))
    assert not finder.is_duplicate(make_record(2, text, system="You extract slots."))
    assert finder.is_duplicate(make_record(3, text + "!", system="You route requests."))


def test_reasons_are_counted_in_the_audit():
    from llm2slm.curation.pipeline import curate_records

    topics = ["the card that never arrived", "a refund for a cancelled hotel booking", "my exchange rate"]
    records = [make_record(i, f"I have a long question about {topic}, can you please help me today") for i, topic
               in enumerate(topics)]
    records += [make_record(10, "boom", answer="", status="error", finish_reason="error"),
                make_record(11, "long", answer="cut", finish_reason="length"),
                make_record(12, "x", answer="I cannot help with that."),
                make_record(13, records[0].last_user_message()),
                make_record(14, records[1].last_user_message() + "!")]
    curated = curate_records(records, CurateConfig(policy={}))
    kept, audit = curated.records, curated.audit
    assert [r.id for r in kept] == [r.id for r in records[:3]]
    assert Counter(audit.removed) == Counter({"error": 1, "truncated": 1, "refusal": 1, "duplicate": 1,
                                              "near_duplicate": 1})


INSTRUCTION = ("Classify the customer's message into exactly one of these categories and answer with its name:\n"
               + "\n".join(f"- category_{i}" for i in range(40)))
REQUESTS = ["turn up the lights", "what's the weather in Paris?", "cancel my order", "where is my card",
            "I want a refund", "book a table for two", "reset my password", "my parcel is late"]


def _shared_prompt_calls(n: int = 200, start: int = 0):
    """Calls of one agent that puts a long instruction above the user's words in the user turn."""
    return [make_record(start + i, f"{INSTRUCTION}\n\n{REQUESTS[i % len(REQUESTS)]} (ticket {i})",
                        answer=f"category_{i % 40}", system="You are a helpful assistant.") for i in range(n)]


def test_template_lines_are_the_recurring_lines_of_user_turns_not_the_users_words():
    from llm2slm.curation.dedup import context_key, mined_templates

    calls = _shared_prompt_calls()
    templates = mined_templates(calls)
    lines = templates.lines["user"]
    assert "- category_7" in lines and INSTRUCTION.splitlines()[0] in lines
    assert not any("ticket" in line for line in lines)
    assert distinctive_text(calls[2], templates) == "cancel my order (ticket 2) category_2"
    assert mined_templates(calls[:19]).lines == {"user": frozenset()}  # too few messages to call it a template
    # the instruction is part of the context: the same words under another instruction are not compared
    other = make_record(500, f"Translate this:\n\n{REQUESTS[2]} (ticket 2)", answer="category_2",
                        system="You are a helpful assistant.")
    assert context_key(calls[2], templates) == context_key(calls[3], templates) != context_key(other, templates)


def test_a_shared_instruction_makes_no_two_calls_near_duplicates():
    from llm2slm.curation.pipeline import curate_records

    calls = _shared_prompt_calls()
    near_copy = make_record(999, f"{INSTRUCTION}\n\nBook a table  for two (ticket 5)", answer="category_5",
                            system="You are a helpful assistant.")  # case and spacing differ: not an exact copy
    curated = curate_records([*calls, near_copy], CurateConfig(policy={}))
    assert len(curated.records) == 200 and curated.audit.removed == {"near_duplicate": 1}
    plain = NearDuplicates(0.9)  # without the template lines, the instruction makes most calls look alike
    assert sum(plain.is_duplicate(c) for c in calls) > 150


def test_a_call_a_specialist_answered_is_never_a_training_example():
    from llm2slm.common.schema import RouteInfo
    from llm2slm.curation.filters import FailureFilter

    served = make_record(1, "where is my card?", answer="card_arrival").model_copy(update={"route": RouteInfo(
        route="specialist", task_id="task-00", mode="on", model="llm2slm-task-00", version="3", confidence=0.99)})
    deferred = served.model_copy(update={"route": served.route.model_copy(update={"route": "llm"})})
    check = FailureFilter()
    assert check.reason(served) == "specialist_answer"
    assert check.reason(deferred) is None and check.reason(make_record(2, "where is my card?")) is None
