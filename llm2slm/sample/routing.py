"""Intent routing (CLINC150): the router of a virtual assistant picks the skill that should handle a request."""

from __future__ import annotations

import json
import random
from pathlib import Path

from llm2slm.sample.common import Example, answer_json, assistant, read_json_gz, sample_groups, system, user

SPLITS: tuple[str, ...] = ("train", "val", "test", "oos_train", "oos_val", "oos_test")
OUT_OF_SCOPE = "oos"

PROMPT_HEAD = (
    "You are the request router of Nova, a personal voice and chat assistant. Read the user's message and choose "
    "the one intent whose skill should handle it.\n\nAllowed intents, grouped by area:\n"
)
PROMPT_TAIL = (
    '\n\nIf the message fits none of these intents, use "oos" (out of scope) and the general assistant will answer '
    "it.\nRespond with a single JSON object and nothing else, for example {\"intent\": \"weather\"}."
)


def load_utterances(sources: Path) -> dict[str, list[str]]:
    """Utterances by intent, pooled over all splits, first occurrence of each utterance kept."""
    data = read_json_gz(sources / "clinc150" / "data_full.json.gz")
    groups: dict[str, list[str]] = {}
    seen: set[str] = set()
    for split in SPLITS:
        for text, intent in data[split]:
            if text in seen:
                continue
            seen.add(text)
            groups.setdefault(intent, []).append(text)
    return groups


def system_prompt(sources: Path) -> str:
    domains: dict[str, list[str]] = json.loads((sources / "clinc150" / "domains.json").read_text(encoding="utf-8"))
    lines = [f"- {domain.replace('_', ' ')}: {', '.join(intents)}" for domain, intents in domains.items()]
    return PROMPT_HEAD + "\n".join(lines) + PROMPT_TAIL


def build_routing(sources: Path, rng: random.Random, in_scope: int, oos: int) -> list[Example]:
    groups = load_utterances(sources)
    oos_pool = groups.pop(OUT_OF_SCOPE)
    picked = sample_groups(groups, in_scope, rng, sigma=0.5)
    picked += [(OUT_OF_SCOPE, text) for text in rng.sample(oos_pool, min(oos, len(oos_pool)))]
    rng.shuffle(picked)
    prompt = system_prompt(sources)
    return [
        Example(
            kind="intent_routing",
            messages=[system(prompt), user(text)],
            response=assistant(answer_json({"intent": intent})),
            finish_reason="stop",
            label=intent,
        )
        for intent, text in picked
    ]
