"""S1 capture: record an agent's LLM calls into the encrypted, append-only, pseudonymised call store.

In the agent's process, one line: `llm2slm.capture.instrument(openai_client)`; for other frameworks,
`record_call(request, response, latency_ms=...)`. Without touching the agent's code, point its base URL at the
gateway (`llm2slm gateway`, see docs/capture.md).

The store: `open_store(cfg)` opens the configured store with the configured master key; `CallStore.append` and
`CallStore.ingest` add records (durable on return), `CallStore.read(principal)` gives them back to a curator.
See docs/capture-store.md.
"""

from llm2slm.capture.crypto import MasterKey, MasterKeyError
from llm2slm.capture.imports import IngestError, IngestReport, parse_jsonl
from llm2slm.capture.local import load_master_key, open_keyring, open_store, pipeline_principal
from llm2slm.capture.sdk import capture_counts, configure, instrument, record_call
from llm2slm.capture.segments import CorruptSegmentError
from llm2slm.capture.store import AppendResult, CallStore

__all__ = [
    "AppendResult", "CallStore", "CorruptSegmentError", "IngestError", "IngestReport", "MasterKey", "MasterKeyError",
    "capture_counts", "configure", "instrument", "load_master_key", "open_keyring", "open_store", "parse_jsonl",
    "pipeline_principal", "record_call",
]
