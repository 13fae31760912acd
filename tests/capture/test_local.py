"""Keys on a fresh machine: the local master key and pipeline key, the environment variables, rotation."""

import logging
import stat

import pytest

from llm2slm.capture.crypto import MasterKey, MasterKeyError
from llm2slm.capture.keys import AuthError, Role
from llm2slm.capture.local import (master_key_path, open_keyring, open_store, pipeline_key_path, pipeline_principal,
                                   rotate_master_key)
from llm2slm.common.config import load_config
from tests.factories import make_record


@pytest.fixture
def cfg(tmp_path, monkeypatch):
    monkeypatch.delenv("LLM2SLM_MASTER_KEY", raising=False)
    monkeypatch.delenv("LLM2SLM_API_KEY", raising=False)
    (tmp_path / "params.yaml").write_text("{}\n")
    return load_config(tmp_path)


def test_a_fresh_home_gets_a_private_master_key_with_a_warning(cfg, caplog):
    with caplog.at_level(logging.WARNING, logger="llm2slm.capture"):
        store = open_store(cfg)
    path = master_key_path(cfg)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert any("production should set $LLM2SLM_MASTER_KEY" in r.getMessage() for r in caplog.records)
    store.append([make_record(1, "q")])
    assert open_store(cfg).master_fingerprint == store.master_fingerprint
    assert not path.is_relative_to(cfg.paths.store)


def test_the_environment_variable_wins_and_no_key_file_is_written(cfg, monkeypatch):
    key = MasterKey.generate()
    monkeypatch.setenv("LLM2SLM_MASTER_KEY", key.to_text())
    assert open_store(cfg).master_fingerprint == key.fingerprint
    assert not master_key_path(cfg).exists()
    monkeypatch.setenv("LLM2SLM_MASTER_KEY", "not-a-key")
    with pytest.raises(MasterKeyError, match="LLM2SLM_MASTER_KEY"):
        open_store(cfg)


def test_a_lost_key_file_is_an_error_not_a_new_key(cfg):
    open_store(cfg).append([make_record(1, "q")])
    master_key_path(cfg).unlink()
    with pytest.raises(MasterKeyError, match="was written under master key"):
        open_store(cfg)


def test_without_local_keys_a_missing_master_key_or_api_key_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("LLM2SLM_MASTER_KEY", raising=False)
    monkeypatch.delenv("LLM2SLM_API_KEY", raising=False)
    (tmp_path / "params.yaml").write_text("capture:\n  local_keys: false\n")
    cfg = load_config(tmp_path)
    with pytest.raises(MasterKeyError, match="set \\$LLM2SLM_MASTER_KEY"):
        open_store(cfg)
    with pytest.raises(AuthError) as caught:
        pipeline_principal(cfg)
    assert caught.value.status == 401


def test_the_pipeline_creates_then_reuses_a_local_curator_key_and_respects_revocation(cfg, monkeypatch):
    first = pipeline_principal(cfg)
    assert first.role is Role.CURATOR
    assert stat.S_IMODE(pipeline_key_path(cfg).stat().st_mode) == 0o600
    assert pipeline_principal(cfg).key_id == first.key_id and len(open_keyring(cfg).list()) == 1
    open_keyring(cfg).revoke(first.key_id)
    with pytest.raises(AuthError, match="delete the file"):
        pipeline_principal(cfg)
    agent = open_keyring(cfg).create("bot", Role.AGENT)
    monkeypatch.setenv("LLM2SLM_API_KEY", agent)
    with pytest.raises(AuthError) as caught:
        pipeline_principal(cfg)
    assert caught.value.status == 403


def test_local_rotation_replaces_the_key_file_after_rewrapping(cfg):
    store = open_store(cfg)
    store.append([make_record(i, f"q{i}") for i in range(3)])
    old = MasterKey.from_text(master_key_path(cfg).read_text())
    _, new, where = rotate_master_key(cfg)
    assert where == master_key_path(cfg) and MasterKey.from_text(where.read_text()) == new
    assert not where.with_name("master.key.new").exists()
    assert len(list(open_store(cfg).read(pipeline_principal(cfg)))) == 3
    with pytest.raises(MasterKeyError):
        type(store)(cfg.paths.store, old)


def test_an_interrupted_local_rotation_is_finished_on_the_next_open(cfg):
    store = open_store(cfg)
    store.append([make_record(1, "q")])
    pending = master_key_path(cfg).with_name("master.key.new")
    new = MasterKey.generate()
    pending.write_text(new.to_text())
    store.rotate_master(new)  # the crash came before the key file was replaced
    assert open_store(cfg).master_fingerprint == new.fingerprint
    assert not pending.exists() and MasterKey.from_text(master_key_path(cfg).read_text()) == new


def test_rotation_with_the_key_in_the_environment_needs_a_new_key_file(cfg, monkeypatch, tmp_path):
    key = MasterKey.generate()
    monkeypatch.setenv("LLM2SLM_MASTER_KEY", key.to_text())
    open_store(cfg).append([make_record(1, "q")])
    with pytest.raises(MasterKeyError, match="--new-key-file"):
        rotate_master_key(cfg)
    _, new, where = rotate_master_key(cfg, tmp_path / "next.key")
    assert stat.S_IMODE(where.stat().st_mode) == 0o600
    monkeypatch.setenv("LLM2SLM_MASTER_KEY", where.read_text())
    assert open_store(cfg).count() == 1


def test_local_rotation_to_a_given_key_also_replaces_the_key_file(cfg, tmp_path):
    open_store(cfg).append([make_record(1, "q")])
    given = MasterKey.generate()
    (tmp_path / "given.key").write_text(given.to_text())
    _, new, where = rotate_master_key(cfg, tmp_path / "given.key")
    assert new == given and where == master_key_path(cfg)
    assert open_store(cfg).master_fingerprint == given.fingerprint
    with pytest.raises(MasterKeyError, match="holds the current master key"):
        rotate_master_key(cfg, tmp_path / "given.key")
