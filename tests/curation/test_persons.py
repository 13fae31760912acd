"""Whose name is it: the private-person rules (llm2slm/curation/persons.py), alone and through the scrubber."""

import json

import pytest

from llm2slm.common.config import CurateConfig
from llm2slm.curation.persons import email_name_parts, is_private, label_names
from tests.factories import make_record


def private(text: str, name: str, contacts: list[tuple[int, int]] = ()) -> bool:
    start = text.index(name)
    return is_private(text, start, start + len(name), list(contacts))


@pytest.mark.parametrize("text, name", [
    ("Hi, my name is Ana Ruiz and I lost my card", "Ana Ruiz"),
    ("I'm Ana Ruiz", "Ana Ruiz"),
    ("Dear Ana, your card is on its way", "Ana"),
    ("Thanks, Ana Ruiz", "Ana Ruiz"),
    ("a table for 4 under the name of Ana Ruiz", "Ana Ruiz"),
    ("the reservation I made for Ana Ruiz at 8", "Ana Ruiz"),
    ("please transfer 50 pounds to Ana Ruiz", "Ana Ruiz"),
    ("I'm buying my son Bertie a starter home", "Bertie"),
    ("First name Velva", "Velva"),
    ("first_name: Velva", "Velva"),
    ("see you soon\nAna Ruiz", "Ana Ruiz"),  # a signature: alone on the last line
    ("I want to add Irenke Sörös as a beneficiary to my account", "Irenke Sörös"),
    ("Tomomi Nishiyama lives at 86036 Rua do Arenque", "Tomomi Nishiyama"),
    ("Leif, can I please speak to your manager", "Leif"),
    ("Remember me, Mary?", "Mary"),
    ("Nicole: remember me?", "Nicole"),  # a speaker's label
    ("Hi Freddy, I'm contacting you about a payment", "Hi Freddy"),  # the tagger's span took the greeting
    ("The name in the account is wrong, please change it to Soib Kishiev", "Soib Kishiev"),
])
def test_a_name_is_private_when_its_context_says_so(text, name):
    assert private(text, name)


@pytest.mark.parametrize("text, name", [
    ("the net worth of the famous footballer Lionel Messi", "Lionel Messi"),
    ("Find the lyrics to the song 'Bohemian Rhapsody' by Queen.", "Queen"),
    ("I want to inquire about a restaurant name Gourmet Burger Kitchen", "Gourmet Burger Kitchen"),
    ("the restaurant name is Blue Nile", "Blue Nile"),
    ("name: Lebron James", "Lebron James"),  # a tool argument: the key alone does not say whose
    ("Ana Ruiz", "Ana Ruiz"),  # alone in a one-line text: nothing says
    ("What is the best month to visit Hawaii?", "Hawaii"),
    ("Have you been to a Homero Portillo concert before?", "Homero Portillo"),
    ("Messi, the footballer, scored twice", "Messi"),
])
def test_other_names_are_not_private(text, name):
    assert not private(text, name)


def test_contact_details_on_the_same_line_make_a_name_private_and_not_across_lines():
    text = "Ana Ruiz +44 20 7946 0958"
    assert private(text, "Ana Ruiz", [(9, len(text))])
    split = "Ana Ruiz wrote a book.\n+44 20 7946 0958"
    assert not private(split, "Ana Ruiz", [(23, len(split))])


def test_labels_relabel_persons_by_context_and_name_continuations():
    text = "Hi, this is Maria Lopez. Songs by Taylor Swift"
    found = [(12, 17, "LOCATION", 0.35), (18, 23, "PERSON", 0.35), (34, 46, "PERSON", 0.35)]
    assert label_names(text, found) == [(12, 17, "PERSON", 0.35), (18, 23, "PERSON", 0.35),
                                        (34, 46, "NAME", 0.35)]


def test_the_words_of_an_email_local_part():
    assert email_name_parts("maria.lopez82@mail.com") == {"maria", "lopez"}
    assert email_name_parts("a_b-cd@x.org") == {"cd"}


@pytest.fixture(scope="module")
def default():
    from llm2slm.curation.scrub import Scrubber

    return Scrubber(CurateConfig())


def test_a_public_figure_is_kept_and_a_signature_is_replaced(default):
    text = "What is the net worth of the famous footballer Lionel Messi? Thanks, Maria Lopez"
    clean = default.call().text(text, "messages.user")
    assert clean.startswith("What is the net worth of the famous footballer Lionel Messi? Thanks, ")
    assert "Maria" not in clean and "Lopez" not in clean and len(clean.split()) == len(text.split())


def test_an_email_owner_is_private_in_the_whole_call(default):
    text = "The complaint about the late delivery came from Maria Lopez yesterday."
    record = make_record(1, text, answer=json.dumps({"reply_to": "maria.lopez@mail.com"}))
    assert default.call().text(text, "u") == text  # alone, nothing says the name is a private person's
    call = default.call()
    clean = call.record(record)
    assert "Maria" not in clean.model_dump_json() and "Lopez" not in clean.model_dump_json()
    assert call.actions[("surrogate", "PERSON")] == 2 and call.actions[("surrogate", "EMAIL")] == 1


def test_a_policy_can_remove_every_name(default):
    from llm2slm.curation.scrub import Scrubber

    text = "the net worth of the famous footballer Lionel Messi"
    strict = Scrubber(CurateConfig(policy={"PERSON": "placeholder", "NAME": "placeholder"}))
    assert default.call().text(text, "u") == text
    assert strict.call().text(text, "u") == "the net worth of the famous footballer <NAME_1> <NAME_2>"


def test_a_value_under_a_person_key_is_a_name_the_tagger_need_not_find(default):
    from llm2slm.curation.persons import named_by_key

    assert named_by_key("last_name", "Breiland") and named_by_key("first_name", " Ana María ")
    assert not named_by_key("restaurant_name", "Blue Nile") and not named_by_key("last_name", "12 people")
    record = make_record(1, "the booking is at 4pm under the name iraida breiland",
                         answer=json.dumps({"first_name": "iraida", "last_name": "breiland"}))
    clean = default.call().record(record)
    answer = json.loads(clean.response.content)
    assert "iraida" not in clean.model_dump_json() and "breiland" not in clean.model_dump_json()
    assert clean.last_user_message() == f"the booking is at 4pm under the name {answer['first_name']} " \
                                        f"{answer['last_name']}"
