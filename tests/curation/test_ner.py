import pytest

from llm2slm.curation.ner import DEFAULT_MODEL, LABELS, HashedTagger, mark_handles, tokenize

PERSON, ORGANIZATION = LABELS.index("PERSON"), LABELS.index("ORGANIZATION")


def handles(text: str, labels: list[int] | None = None) -> tuple[list[str], list[int], list[bool]]:
    tokens = tokenize(text)
    labels = list(labels or [0] * len(tokens))
    marked = mark_handles(text, tokens, labels, PERSON)
    return [t.text for t in tokens], labels, marked


def test_a_handle_is_a_person_unless_the_model_gives_it_another_type():
    words, labels, marked = handles("thanks @Real_Liam_Payne and @acme")
    assert words == ["thanks", "@", "Real_Liam_Payne", "and", "@", "acme"]
    assert labels == [0, PERSON, PERSON, 0, PERSON, PERSON] and marked == [False, True, True, False, True, True]
    _, labels, _ = handles("thanks @acme", [0, 0, ORGANIZATION])
    assert labels == [0, ORGANIZATION, ORGANIZATION]


def test_an_email_address_and_a_lone_at_sign_are_no_handles():
    for text in ("mail jane.doe@example.org", "meet @ 5pm", "an @ sign"):
        words, labels, marked = handles(text)
        assert not any(marked) and not any(labels), (text, words)


def test_a_hashtag_sign_joins_a_found_word_only():
    _, labels, marked = handles("go #JohnSmith", [0, 0, PERSON])
    assert labels == [0, PERSON, PERSON] and not any(marked)
    _, labels, _ = handles("go #winning")
    assert labels == [0, 0, 0]


@pytest.fixture(scope="module")
def tagger():
    return HashedTagger.load(DEFAULT_MODEL)


def test_handles_become_whole_spans_in_lower_case_text_too(tagger):
    text = "@colgo hey, congrats on the win"
    assert (0, 6, "PERSON") in tagger.spans(text)
    text = "cc @Luke5SOS"
    assert tagger.spans(text) == [(3, 12, "PERSON")]
    assert not [s for s in tagger.spans("write to jane.doe@example.org today") if s[2] == "PERSON"]
