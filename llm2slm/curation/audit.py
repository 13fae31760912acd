"""The curation audit: counts only (DVC metric, MLflow metrics), and before/after examples for admins only.

The audit JSON (`curate_audit.json`) holds how many values of each entity type were replaced, per type and per
field, how many values of each type each action of the policy handled (kept ones included), and how many calls
each filter removed; never a value. Before/after examples of scrubbed fields go to a
separate file readable only by its owner (mode 0600, in a 0700 folder under the run's home, `admin/`), which is
neither a DVC output nor an MLflow artifact.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from pydantic import BaseModel

from llm2slm.common.files import PRIVATE_FILE, atomic_write_text, private_dir


class CurateAudit(BaseModel):
    n_in: int
    n_out: int
    removed: dict[str, int]  # reason -> calls
    replaced: dict[str, int]  # entity type -> values
    replaced_by_field: dict[str, dict[str, int]]  # field -> entity type -> values
    calls_with_pii: int
    # action -> entity type -> values found: the policy's actions, and `agent_config` for values kept because the
    # call's system prompt or tool specifications hold them
    by_action: dict[str, dict[str, int]] = {}
    # which name/place/organisation tagger scrubbed the calls ("<file> sha256:<16 hex>"; "" when scrubbing is off):
    # the packaged model is versioned with the code, not as a DVC dependency, so the output names it
    ner_model: str = ""


def _nested(counts: Counter) -> dict[str, dict[str, int]]:
    """(outer, inner) -> n as {outer: {inner: n}}, both sorted."""
    nested: dict[str, Counter] = {}
    for (outer, inner), n in counts.items():
        nested.setdefault(outer, Counter())[inner] += n
    return {outer: dict(sorted(c.items())) for outer, c in sorted(nested.items())}


def build_audit(n_in: int, n_out: int, removed: Counter, counts: Counter, calls_with_pii: int,
                actions: Counter | None = None) -> CurateAudit:
    """From (entity type, field) -> values replaced and (action, entity type) -> values found."""
    by_type: Counter = Counter()
    for (entity, _), n in counts.items():
        by_type[entity] += n
    return CurateAudit(n_in=n_in, n_out=n_out, removed=dict(sorted(removed.items())),
                       replaced=dict(sorted(by_type.items())),
                       replaced_by_field=_nested(Counter({(w, e): n for (e, w), n in counts.items()})),
                       calls_with_pii=calls_with_pii, by_action=_nested(actions or Counter()))


def write_admin_examples(path: Path, examples: list[dict]) -> None:
    """Write the before/after examples readable by the owner only (file 0600, folder 0700)."""
    private_dir(Path(path).parent)
    text = "".join(json.dumps(example, ensure_ascii=False, sort_keys=True) + "\n" for example in examples)
    atomic_write_text(path, text, mode=PRIVATE_FILE)


def field_examples(record_id: str, before: dict, after: dict) -> dict:
    """One call's example: each changed field's path with its text before and after scrubbing."""
    changed = [{"field": key, "before": before[key], "after": after.get(key)}
               for key in sorted(before) if before[key] != after.get(key)]
    return {"id": record_id, "fields": changed}


def text_fields(record) -> dict[str, str]:
    """Every text field of a call by path (messages.0.content, response.tool_calls.0.arguments, ...)."""
    fields: dict[str, str] = {}
    for prefix, message in [*((f"messages.{i}", m) for i, m in enumerate(record.messages)),
                            ("response", record.response)]:
        if message.content:
            fields[f"{prefix}.content"] = message.content
        for j, call in enumerate(message.tool_calls or []):
            fields[f"{prefix}.tool_calls.{j}.arguments"] = call.function.arguments
    return fields
