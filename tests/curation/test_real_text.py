import gzip
import hashlib

import pytest

from llm2slm.curation import real_text
from llm2slm.curation.ner import DEFAULT_MODEL, HashedTagger, read_metadata, tokenize
from llm2slm.curation.real_text import (
    HELD_OUT_SECTIONS, REAL_TEXT_DIR, TRAIN_SECTIONS, Sentence, load_section, map_tag, read_conll, real_text_scores,
    tagger_rows, token_types)


def write_conll(path, text: str) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write(text)


def test_tags_map_to_the_tagger_labels():
    assert map_tag("B-PER") == ("PERSON", True)
    assert map_tag("I-PER") == ("PERSON", False)
    assert map_tag("B-LOC") == ("LOCATION", True)
    assert map_tag("I-ORG") == ("ORGANIZATION", False)
    for tag in ("O", "B-MISC", "I-MISC", "", "X-PER"):
        assert map_tag(tag) == ("O", False)


def test_bio_and_io_files_read_into_sentences_and_entities(tmp_path):
    write_conll(tmp_path / "btc.conll.gz", "@\tB-PER\njdoe\tB-PER\nmet\tO\nJane\tB-PER\nDoe\tI-PER\nin\tO\n"
                                           "New\tB-LOC\nYork\tI-LOC\n\nGo\tO\n \tO\nIBM\tB-ORG\n")
    first, second = read_conll(tmp_path / "btc.conll.gz")
    assert first.text == "@jdoe met Jane Doe in New York"
    assert first.labels == ("PERSON", "PERSON", "O", "PERSON", "PERSON", "O", "LOCATION", "LOCATION")
    assert [first.text[s:e] for s, e, _ in first.spans()] == ["@", "jdoe", "Jane Doe", "New York"]  # two B- tags
    assert second.text == "Go IBM" and second.labels == ("O", "ORGANIZATION")  # the whitespace token is dropped
    write_conll(tmp_path / "wiki.conll.gz", "-DOCSTART- O\n\nThe I-MISC\nBeatles I-ORG\nfrom O\nLiverpool I-LOC\n"
                                            "\n-DOCSTART- O\n\nPaul I-PER\nMcCartney I-PER\nJohn I-PER\n")
    beatles, paul = read_conll(tmp_path / "wiki.conll.gz")
    assert beatles.labels == ("O", "ORGANIZATION", "O", "LOCATION") and beatles.document == 1
    assert paul.document == 2
    # IO tags cannot split two adjacent names of one type: one span
    assert [paul.text[s:e] for s, e, _ in paul.spans()] == ["Paul McCartney John"]


@pytest.fixture(scope="module")
def sections():
    return real_text.load_sections([*TRAIN_SECTIONS, *HELD_OUT_SECTIONS])


def test_offsets_rebuild_every_source_token_exactly(sections):
    with gzip.open(REAL_TEXT_DIR / "btc_h.conll.gz", "rt", encoding="utf-8") as handle:
        source = [line.rstrip("\r\n").rpartition("\t")[0] for line in handle if line.strip("\r\n")]
    source = [token for token in source if token.strip()]
    rebuilt = [word for sentence in sections["btc_h"] for word in sentence.words()]
    assert rebuilt == source
    for sentence in (s for name in sections for s in sections[name]):
        words = sentence.words()
        assert sentence.text == "".join(w if k == 0 or words[k - 1] == "@" else " " + w for k, w in enumerate(words))
        assert len(sentence.tokens) == len(sentence.labels) == len(sentence.begins)


def test_the_held_out_split_is_fixed_and_disjoint(sections):
    assert TRAIN_SECTIONS == ("btc_a", "btc_b", "btc_e", "btc_f", "wikigold_train")
    assert HELD_OUT_SECTIONS == ("btc_g", "btc_h", "wikigold_held_out")
    counts = {name: len(sections[name]) for name in sections}
    assert counts == {"btc_a": 1000, "btc_b": 2000, "btc_e": 200, "btc_f": 2000, "wikigold_train": 1202,
                      "btc_g": 2138, "btc_h": 2000, "wikigold_held_out": 494}
    train_documents = {s.document for s in sections["wikigold_train"]}
    held_documents = {s.document for s in sections["wikigold_held_out"]}
    assert not train_documents & held_documents and max(train_documents) < min(held_documents)
    assert len(train_documents) == 100 and len(held_documents) == 45

    def digest(name: str) -> set[str]:  # sentences with a name in them (list numbers such as "4 ." recur)
        return {hashlib.sha256(s.text.encode()).hexdigest() for s in sections[name] if set(s.labels) - {"O"}}

    # no held-out WikiGold sentence with a name is a training one (tweets may repeat across BTC sections: retweets)
    assert not digest("wikigold_train") & digest("wikigold_held_out")


def test_the_model_records_which_real_text_it_held_out():
    meta = read_metadata(DEFAULT_MODEL)
    assert meta["real_text_train_sections"] == list(TRAIN_SECTIONS)
    assert meta["real_text_held_out_sections"] == list(HELD_OUT_SECTIONS)


def test_training_rows_follow_the_project_tokenizer():
    sentence = Sentence("@jdoe loves #NewYork", ((0, 1), (1, 5), (6, 11), (12, 20)),
                        ("PERSON", "PERSON", "O", "LOCATION"), (True, True, False, True), 0)
    [(words, labels)] = tagger_rows([sentence])
    assert words == [t.text for t in tokenize(sentence.text)] == ["@", "jdoe", "loves", "#", "NewYork"]
    assert labels == ["PERSON", "PERSON", "O", "LOCATION", "LOCATION"]
    [(lower, _)] = tagger_rows([sentence], lower=True)
    assert lower == ["@", "jdoe", "loves", "#", "newyork"]


def test_scores_are_token_level_and_type_aware():
    sentence = Sentence("Jane Doe visited Paris", ((0, 4), (5, 8), (9, 16), (17, 22)),
                        ("PERSON", "PERSON", "O", "LOCATION"), (True, False, False, True), 0)
    gold, predicted = token_types([sentence], lambda text: [(0, 4, "PERSON"), (17, 22, "PERSON")])
    assert gold == ["PERSON", "PERSON", "O", "LOCATION"]
    assert predicted == ["PERSON", "O", "O", "PERSON"]
    precision, recall, _ = real_text.prf(gold, predicted, "PERSON")
    assert (precision, recall) == (0.5, 0.5)


# Person recall of the packaged model on every 4th held-out sentence of each section was 0.89 (btc_g), 0.84
# (btc_h) and 0.82 (wikigold_held_out); the floors sit a little below, so a retrained model must not do worse.
PERSON_RECALL_FLOOR = {"btc_g": 0.86, "btc_h": 0.81, "wikigold_held_out": 0.79}


def test_the_packaged_tagger_finds_people_in_held_out_real_text(sections):
    tagger = HashedTagger.load(DEFAULT_MODEL)
    for name, floor in PERSON_RECALL_FLOOR.items():
        sample = sections[name][::4]
        gold, predicted = token_types(sample, tagger.spans)
        _, recall, _ = real_text.prf(gold, predicted, "PERSON")
        assert recall >= floor, (name, recall)


def test_real_text_scores_cover_each_section_and_overall():
    scores = real_text_scores(lambda text: [], sections=["wikigold_held_out"])
    assert set(scores) == {"wikigold_held_out", "overall"}
    assert scores["overall"]["PERSON"] == (0.0, 0.0, 0.0)


def test_unknown_sections_are_refused():
    with pytest.raises(ValueError):
        load_section("btc_z")
