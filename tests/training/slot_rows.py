"""A tiny synthetic slot-filling task (the shape of the sample's table-booking agent) for span-tagger tests."""

from __future__ import annotations

import json
import random

PROMPT = "Extract people, date, time, first_name, last_name from the customer's message as a JSON object."
PEOPLE = ["2 people", "four of us", "6", "three people", "9 guests", "a party of 5"]
DATES = ["Friday", "next Monday", "August 23rd", "tomorrow", "the 14th", "Sunday"]
TIMES = ["7pm", "8:30", "noon", "half past six", "19:00", "9 pm"]
FIRST = ["Anna", "James", "Priya", "Tom", "Lucia", "Omar"]
LAST = ["Smith", "Okafor", "Berg", "Nakamura", "Rossi", "Khan"]
TEMPLATES = [
    ("Can I book a table for {people} on {date} at {time}?", ("people", "date", "time")),
    ("{people} at {time} please", ("people", "time")),
    ("we would like to come {date}", ("date",)),
    ("The booking is under {first_name} {last_name}.", ("first_name", "last_name")),
    ("hi, is the terrace open?", ()),
    ("{date} at {time} for {people}, name is {first_name}", ("date", "time", "people", "first_name")),
]


def slot_rows(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    pools = {"people": PEOPLE, "date": DATES, "time": TIMES, "first_name": FIRST, "last_name": LAST}
    rows = []
    for i in range(n):
        template, slots = rng.choice(TEMPLATES)
        values = {slot: rng.choice(pools[slot]) for slot in slots}
        text = template.format(**values)
        answer = json.dumps(dict(sorted(values.items())))
        rows.append({"id": f"s{seed}-{i}", "tools": None, "answer": answer,
                     "messages": [{"role": "system", "content": PROMPT}, {"role": "user", "content": text}]})
    return rows
