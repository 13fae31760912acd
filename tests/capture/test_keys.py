import json
import os
import stat
import time

import pytest

from llm2slm.capture.keys import AuthError, KeyNotFound, KeyRing, Role


@pytest.fixture
def ring(tmp_path):
    return KeyRing(tmp_path / "keys" / "keyring.json")


def test_tokens_are_stored_only_as_hashes_in_a_private_file(ring):
    tokens = [ring.create("bot", Role.AGENT), ring.create("pipeline", Role.CURATOR)]
    raw = ring.path.read_bytes()
    for token in tokens:
        secret = token.split("_", 2)[2]
        assert secret.encode() not in raw and token.encode() not in raw
    assert stat.S_IMODE(ring.path.stat().st_mode) == 0o600
    entries = json.loads(raw)["keys"]
    assert {e["role"] for e in entries} == {"agent", "curator"} and all(len(e["sha256"]) == 64 for e in entries)


def test_authenticate_returns_the_principal_and_refuses_bad_keys_with_401(ring):
    token = ring.create("support-bot", Role.AGENT)
    principal = ring.authenticate(token)
    assert (principal.name, principal.role) == ("support-bot", Role.AGENT)
    key_id = token.split("_")[1]
    cases = {None: "missing", "": "missing", "Bearer xyz": "malformed",
             f"l2s_{key_id}_wrong-secret": "unknown", "l2s_000000000000_abc": "unknown"}
    for bad, word in cases.items():
        with pytest.raises(AuthError) as caught:
            ring.authenticate(bad)
        assert caught.value.status == 401 and word in caught.value.message


def test_a_wrong_role_is_403_and_names_the_role_needed(ring):
    token = ring.create("support-bot", Role.AGENT)
    assert ring.require(token, Role.AGENT, Role.ADMIN).role is Role.AGENT
    with pytest.raises(AuthError) as caught:
        ring.require(token, Role.CURATOR)
    assert caught.value.status == 403 and "curator" in caught.value.message and "agent" in caught.value.message


def test_revoke_takes_effect_in_another_keyring_instance_reading_the_same_file(ring):
    token = ring.create("bot", Role.AGENT)
    gateway_view = KeyRing(ring.path)
    assert gateway_view.authenticate(token).name == "bot"
    ring.revoke(token.split("_")[1])
    with pytest.raises(AuthError) as caught:
        gateway_view.authenticate(token)
    assert caught.value.status == 401 and "revoked" in caught.value.message
    listed = gateway_view.list()
    assert len(listed) == 1 and listed[0].revoked and not listed[0].active
    with pytest.raises(KeyNotFound):
        ring.revoke("ffffffffffff")
    new = ring.create("bot-2", Role.AGENT)
    assert gateway_view.authenticate(new).name == "bot-2"


def test_authenticate_is_fast(ring):
    token = ring.create("bot", Role.AGENT)
    start = time.perf_counter()
    for _ in range(2000):
        ring.authenticate(token)
    per_call_us = (time.perf_counter() - start) / 2000 * 1e6
    assert per_call_us < 500, per_call_us


def test_has_active_ignores_revoked_keys(ring):
    assert not ring.has_active(Role.ADMIN)
    token = ring.create("ops", Role.ADMIN)
    assert ring.has_active(Role.ADMIN)
    ring.revoke(token.split("_")[1])
    assert not ring.has_active(Role.ADMIN) and os.path.exists(ring.path)
