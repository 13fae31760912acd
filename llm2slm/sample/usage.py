"""Token counts and latency of a call, estimated the simple way: about four characters per token."""

from __future__ import annotations

import math
import random

from llm2slm.sample.common import Example
from llm2slm.common.schema import Usage, estimate_tokens, request_chars, response_to_text

TIMEOUT = "upstream timeout"
RATE_LIMITED = "rate limited"
MINI_SPEEDUP = 0.75  # the small model answers faster


def prompt_chars(example: Example) -> int:
    """The request's characters, the earlier turns' tool calls (name and arguments) included."""
    calls = sum(len(c.function.name) + len(c.function.arguments) for m in example.messages for c in m.tool_calls or [])
    return request_chars(example.messages, example.tools) + calls


def completion_tokens(example: Example) -> int:
    return estimate_tokens(len(response_to_text(example.response)))


def usage(example: Example, error: str | None) -> Usage:
    """Rate-limited calls were never processed (no tokens); timed-out ones consumed the prompt only."""
    prompt = 0 if error == RATE_LIMITED else estimate_tokens(prompt_chars(example))
    completion = 0 if error else completion_tokens(example)
    return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)


def latency_ms(example: Example, model: str, error: str | None, rng: random.Random) -> float:
    """Lognormal around 350 ms + 12 ms per completion token; timeouts hit the 30 s client limit."""
    if error == TIMEOUT:
        return round(30000.0 + rng.uniform(0.0, 250.0), 1)
    if error == RATE_LIMITED:
        return round(rng.lognormvariate(math.log(70.0), 0.4), 1)
    expected = 350.0 + 12.0 * completion_tokens(example)
    if "mini" in model:
        expected *= MINI_SPEEDUP
    return round(expected * rng.lognormvariate(0.0, 0.3), 1)
