"""S1 capture: record an agent's LLM calls into the call store.

In the agent's process, one line: `llm2slm.capture.instrument(openai_client)`; for other frameworks,
`record_call(request, response, latency_ms=...)`. Without touching the agent's code, point its base URL at the
gateway (`llm2slm gateway`, see docs/capture.md).
"""

from llm2slm.capture.sdk import capture_counts, configure, instrument, record_call

__all__ = ["capture_counts", "configure", "instrument", "record_call"]
