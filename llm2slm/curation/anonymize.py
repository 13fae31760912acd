"""The actions of the entity policy (`curate.policy`), applied to the values found in one call.

- `surrogate`: a realistic value of the same type and shape (`surrogates.py`), keyed by a secret: the same value
  gets the same surrogate in every field of the call (and in every call and run under the same key).
- `placeholder`: a typed placeholder numbered per call, `<PERSON_1>`, `<EMAIL_2>`; the same value gets the same
  placeholder in every field of one call, so the model still sees that two mentions are one thing.
- `hash`: Presidio's salted SHA-256 of the value (64 hex characters). The salt comes from an environment variable
  (16+ characters), so the same value hashes the same in every call and run, and nobody without the salt can test
  guesses against the hashes.
- `redact`: the type alone, `<PERSON>`, with no number: mentions can no longer be told apart.
- `keep`: the value stays (counted in the audit).

Whatever the policy says, a value that the call's system/developer messages or tool specifications hold (of the
types in `curate.agent_config_types`) is the agent's configuration and stays everywhere in that call: it is counted
under the pseudo-action `agent_config`. Replacements contain no quotes or backslashes: a JSON string stays valid.
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from dataclasses import dataclass, field

from llm2slm.common.config import CurateConfig
from llm2slm.curation.surrogates import Surrogates

Found = tuple[int, int, str, float]  # (start, end, entity type, score); character offsets
AGENT_CONFIG = "agent_config"  # the audit's name for values kept as the agent's configuration
KEPT = ("keep", AGENT_CONFIG)
SECRET_MIN_CHARS = 16
POSSESSIVE = re.compile(r"['’]s$")

log = logging.getLogger("llm2slm.curate")


def config_key(value: str) -> str:
    """How an agent-configuration value is matched: without a possessive ("Acme Bank's" keeps "Bank")."""
    return POSSESSIVE.sub("", value)


@dataclass
class CallOperators:
    """Per-call state of the policy's actions: the value -> replacement tables and the counts."""

    policy: dict[str, str]
    salt: str | None = None
    surrogates: Surrogates | None = None
    config: set[str] = field(default_factory=set)  # agent configuration values of the call (config_key)
    originals: set[str] = field(default_factory=set)  # values found in the call: no surrogate takes one
    placeholders: dict[tuple[str, str], str] = field(default_factory=dict)
    numbers: Counter = field(default_factory=Counter)  # entity type -> placeholders handed out
    substitutes: dict[tuple[str, str], str] = field(default_factory=dict)  # (type, value) -> surrogate
    taken: set[str] = field(default_factory=set)  # surrogates handed out in this call
    counts: Counter = field(default_factory=Counter)  # (entity type, field) -> values replaced
    actions: Counter = field(default_factory=Counter)  # (action, entity type) -> values found

    def action(self, entity: str, value: str) -> str:
        if config_key(value) in self.config:
            return AGENT_CONFIG
        return self.policy.get(entity, "keep")

    def placeholder(self, entity: str, value: str) -> str:
        key = (entity, value)
        if key not in self.placeholders:
            self.numbers[entity] += 1
            self.placeholders[key] = f"<{entity}_{self.numbers[entity]}>"
        return self.placeholders[key]

    def surrogate(self, entity: str, value: str) -> str:
        """The value's surrogate; never another value of the call nor another value's surrogate."""
        key = (entity, value)
        if key not in self.substitutes:
            attempt = 0
            new = self.surrogates.value(entity, value)
            while (new in self.taken or new in self.originals) and attempt < 20:
                attempt += 1
                new = self.surrogates.value(entity, value, attempt)
            self.substitutes[key] = new
            self.taken.add(new)
        return self.substitutes[key]

    def replace(self, action: str, entity: str, value: str) -> str:
        if action == "surrogate":
            return self.surrogate(entity, value)
        if action == "placeholder":
            return self.placeholder(entity, value)
        if action == "hash":
            from presidio_anonymizer.operators import Hash

            return Hash().operate(value, {"hash_type": "sha256", "salt": self.salt})
        return f"<{entity}>"  # redact


def _secret(env_name: str) -> str | None:
    secret = os.environ.get(env_name, "")
    if secret and len(secret) < SECRET_MIN_CHARS:
        raise ValueError(f"the environment variable {env_name} holds a secret of {len(secret)} characters: "
                         f"it needs at least {SECRET_MIN_CHARS}")
    return secret or None


def hash_salt(cfg: CurateConfig) -> str | None:
    """The salt for the `hash` action, from `cfg.hash_salt_env`; a clear error when it is missing or too short."""
    if "hash" not in cfg.policy.values():
        return None
    salt = _secret(cfg.hash_salt_env)
    if salt is None:
        raise ValueError(f"curate.policy uses 'hash' but the environment variable {cfg.hash_salt_env} does not "
                         f"hold a salt of at least {SECRET_MIN_CHARS} characters")
    return salt


def surrogate_key(cfg: CurateConfig) -> bytes | None:
    """The key of the `surrogate` action: the secret in `cfg.hash_salt_env`, else `cfg.seed` (with a warning:
    anyone who knows the seed can test a guessed value against the surrogates)."""
    if "surrogate" not in cfg.policy.values():
        return None
    secret = _secret(cfg.hash_salt_env)
    if secret is not None:
        return b"secret:" + secret.encode()
    log.warning("surrogates are keyed by curate.seed (%d): %s is unset; set it to a secret for data that leaves "
                "this machine", cfg.seed, cfg.hash_salt_env)
    return f"seed:{cfg.seed}".encode()


def resolve_overlaps(found: list[Found]) -> list[Found]:
    """Non-overlapping results: higher score first, then the longer span, then the earlier start."""
    kept: list[Found] = []
    for item in sorted(found, key=lambda f: (-f[3], f[0] - f[1], f[0], f[2])):
        if all(item[1] <= k[0] or item[0] >= k[1] for k in kept):
            kept.append(item)
    return sorted(kept)


def anonymize(text: str, found: list[Found], state: CallOperators, where: str) -> str:
    """`text` with every found value handled by its type's action; counts each value per action and each
    replaced value per field. Values are replaced one by one in reading order (placeholders are numbered so)."""
    if not found:
        return text
    pieces, last = [], 0
    for start, end, entity, _ in sorted(found):
        value = text[start:end]
        action = state.action(entity, value)
        state.actions[(action, entity)] += 1
        if action in KEPT:
            continue
        pieces += [text[last:start], state.replace(action, entity, value)]
        state.counts[(entity, where)] += 1
        last = end
    return "".join(pieces) + text[last:]
