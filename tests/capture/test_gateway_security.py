"""Personal data sent through the gateway is stored, yet appears nowhere in plaintext under the store's folder."""

from __future__ import annotations

import json

import httpx

from llm2slm.capture.writer import RecordWriter
from tests.capture.conftest import TOOLS, running_gateway, stored

NAME, EMAIL, SSN = "Marguerite Quillfeather", "marguerite.q@example.org", "078-05-1120"
PLANTED = f"My name is {NAME}, email {EMAIL}, SSN {SSN}; where is my refund?"


def test_planted_personal_data_is_never_plaintext_on_disk(fake_upstream, store, keyring, agent_token):
    _, upstream = fake_upstream
    writer = RecordWriter(store)
    headers = {"authorization": f"Bearer {agent_token}", "x-session-id": f"session-of-{EMAIL}"}
    bodies = [
        {"model": "gpt-test", "messages": [{"role": "user", "content": PLANTED}], "user": EMAIL},
        {"model": "gpt-test", "messages": [{"role": "user", "content": PLANTED}], "tools": TOOLS, "stream": True},
        {"model": "fail-400", "messages": [{"role": "user", "content": PLANTED}]},
    ]
    with running_gateway(writer, keyring, upstream) as gateway:
        for body in bodies:
            response = httpx.post(f"{gateway}/v1/chat/completions", json=body, headers=headers)
            assert response.status_code in (200, 400)

    records = stored(store)
    assert len(records) == 3 and all(PLANTED in r.messages[0].content for r in records)  # stored, readable
    assert EMAIL in records[1].response.tool_calls[0].function.arguments

    files = [p for p in store.root.rglob("*") if p.is_file()]
    assert any(p.suffix == ".seg" for p in files)
    needles = [s.encode() for s in (NAME, EMAIL, SSN, "support-bot", "refund")]
    needles += [json.dumps(PLANTED).encode()[1:20]]  # the JSON-escaped form
    for path in files:
        data = path.read_bytes()
        for needle in needles:
            assert needle not in data, f"{needle!r} in plaintext in {path.relative_to(store.root)}"
