"""Where the store's keys come from: the master key, the keyring, and the pipeline's curator identity.

Production sets the master key in the environment variable `capture.master_key_env` (LLM2SLM_MASTER_KEY) and gives
the pipeline a curator key in `capture.api_key_env` (LLM2SLM_API_KEY), with `capture.local_keys: false`. For local use
nothing needs setting: with `local_keys` on, a missing master key is created in a 0600 file under the run's home
(<home>/keys/master.key, logged as a WARNING), and the pipeline (the flow's export, `llm2slm stage export`) creates
and then reuses a curator key kept in <home>/keys/pipeline.key (0600).
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from llm2slm.capture.crypto import MasterKey, MasterKeyError
from llm2slm.capture.envelope import read_envelope
from llm2slm.common.files import PRIVATE_DIR, PRIVATE_FILE, atomic_write_bytes, fsync_dir, locked
from llm2slm.capture.keys import AuthError, KeyRing, Principal, Role
from llm2slm.capture.store import CallStore
from llm2slm.common.config import Config

log = logging.getLogger("llm2slm.capture")
PIPELINE_KEY_NAME = "local-pipeline"


def keys_dir(cfg: Config) -> Path:
    return cfg.paths.home / "keys"


def _resolve(cfg: Config, value: Path | None, default: Path) -> Path:
    path = Path(value) if value else default
    return path if path.is_absolute() else cfg.paths.project / path


def master_key_path(cfg: Config) -> Path:
    return _resolve(cfg, cfg.capture.master_key_file, keys_dir(cfg) / "master.key")


def keyring_path(cfg: Config) -> Path:
    return _resolve(cfg, cfg.capture.keyring, keys_dir(cfg) / "keyring.json")


def pipeline_key_path(cfg: Config) -> Path:
    return keys_dir(cfg) / "pipeline.key"


def write_secret(path: Path, text: str) -> None:
    """Write a secret to a 0600 file in a 0700 folder, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    atomic_write_bytes(path, (text + "\n").encode("ascii"), mode=PRIVATE_FILE)


def _promote_pending(pending: Path, path: Path) -> None:
    """Rename the new key file, already written and fsynced by `write_secret`, over the current one, durably."""
    os.replace(pending, path)
    fsync_dir(path.parent)


def _read_key_file(path: Path) -> MasterKey:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("master key file %s is readable by others (mode %o): chmod 600 it", path, mode)
    return MasterKey.from_text(path.read_text(encoding="ascii"), where=str(path))


def master_key_source(cfg: Config) -> str:
    """`env` when the environment variable is set, else `file`."""
    return "env" if os.environ.get(cfg.capture.master_key_env, "").strip() else "file"


def load_master_key(cfg: Config) -> MasterKey:
    """The master key from the environment variable, else the key file; created there for local use when absent."""
    env_value = os.environ.get(cfg.capture.master_key_env, "").strip()
    if env_value:
        return MasterKey.from_text(env_value, where=f"${cfg.capture.master_key_env}")
    path = master_key_path(cfg)
    envelope = read_envelope(cfg.paths.store / "envelope.json")
    if path.is_file():
        return _finish_rotation(path, _read_key_file(path), envelope.master_fingerprint if envelope else None)
    if envelope is not None:
        raise MasterKeyError(f"no master key: the store at {cfg.paths.store} was written under master key "
                             f"{envelope.master_fingerprint}; set ${cfg.capture.master_key_env} or restore {path}")
    if not cfg.capture.local_keys:
        raise MasterKeyError(f"no master key: set ${cfg.capture.master_key_env} (32 random bytes, base64)")
    path.parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    with locked(path.parent / ".master.lock"):
        if path.is_file():
            return _read_key_file(path)
        key = MasterKey.generate()
        write_secret(path, key.to_text())
    log.warning("created a local master key in %s (fingerprint %s); production should set $%s instead",
                path, key.fingerprint, cfg.capture.master_key_env)
    return key


def _finish_rotation(path: Path, key: MasterKey, store_fingerprint: str | None) -> MasterKey:
    """The key file's key; if a rotation was interrupted after re-wrapping the store, finish it first."""
    pending = path.with_name(path.name + ".new")
    if store_fingerprint in (None, key.fingerprint) or not pending.is_file():
        return key
    new_key = _read_key_file(pending)
    if new_key.fingerprint != store_fingerprint:
        return key
    _promote_pending(pending, path)
    log.warning("finished an interrupted master-key rotation: %s now holds key %s", path, new_key.fingerprint)
    return new_key


def open_store(cfg: Config) -> CallStore:
    """The configured call store, opened with the configured master key (MasterKeyError when it is wrong)."""
    return CallStore(cfg.paths.store, load_master_key(cfg), segment_max_bytes=cfg.capture.segment_max_bytes)


def store_exists(cfg: Config) -> bool:
    """Whether the configured store was ever written (it has an envelope): a reader that only wants existing calls
    checks this first, since opening a store with no master key in place creates one."""
    return (cfg.paths.store / "envelope.json").is_file()


def open_keyring(cfg: Config) -> KeyRing:
    return KeyRing(keyring_path(cfg))


def caller_token(cfg: Config, explicit: str | None = None) -> str | None:
    """The API key given on the command line, else the one in the environment variable."""
    return explicit or os.environ.get(cfg.capture.api_key_env) or None


def pipeline_principal(cfg: Config) -> Principal:
    """The curator identity the pipeline reads the store with: $LLM2SLM_API_KEY, else (local use) the key in
    <home>/keys/pipeline.key, created on first use. AuthError when the key is refused or has another role."""
    keyring = open_keyring(cfg)
    token = caller_token(cfg)
    if token:
        return keyring.require(token, Role.CURATOR)
    if not cfg.capture.local_keys:
        raise AuthError(401, f"missing API key: set ${cfg.capture.api_key_env} to a curator key")
    path = pipeline_key_path(cfg)
    path.parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    with locked(path.parent / ".pipeline.lock"):
        if not path.is_file():
            write_secret(path, keyring.create(PIPELINE_KEY_NAME, Role.CURATOR))
            log.info("created the local pipeline's curator key (in %s)", path)
        token = path.read_text(encoding="ascii").strip()
    try:
        return keyring.require(token, Role.CURATOR)
    except AuthError as exc:
        raise AuthError(exc.status, f"the local pipeline key in {path} was refused ({exc.message}); delete the "
                                    f"file to create a new one, or set ${cfg.capture.api_key_env}") from exc


def _key_in(path: Path) -> MasterKey:
    """The key in `path`, or a new one generated into it (0600) when the file does not exist."""
    if path.is_file():
        return _read_key_file(path)
    key = MasterKey.generate()
    write_secret(path, key.to_text())
    return key


def rotate_master_key(cfg: Config, new_key_file: Path | None = None) -> tuple[CallStore, MasterKey, Path]:
    """Re-wrap the store's keys under a new master key; returns the store, the new key and the file holding it.

    `new_key_file` holds the new key, or receives a generated one when it does not exist; it is required when the
    current key comes from the environment variable (the operator then sets the variable to it). When the current
    key comes from the key file, the new key replaces that file once the store is re-wrapped; until then it waits in
    <file>.new, so a crash in between loses nothing (the next open finishes the rotation)."""
    store = open_store(cfg)
    from_env = master_key_source(cfg) == "env"
    if new_key_file is None and from_env:
        raise MasterKeyError(f"the master key comes from ${cfg.capture.master_key_env}: pass --new-key-file to say "
                             "where the new key is (or should be written), then set the variable to it")
    pending = master_key_path(cfg).with_name(master_key_path(cfg).name + ".new")
    new_key = _key_in(Path(new_key_file) if new_key_file else pending)
    if new_key.fingerprint == store.master_fingerprint:
        raise MasterKeyError(f"{new_key.origin or 'the new key file'} holds the current master key: "
                             "nothing to rotate to")
    if from_env:
        store.rotate_master(new_key)
        return store, new_key, Path(new_key_file)  # type: ignore[arg-type]
    write_secret(pending, new_key.to_text())
    store.rotate_master(new_key)
    _promote_pending(pending, master_key_path(cfg))
    return store, new_key, master_key_path(cfg)
