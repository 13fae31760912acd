"""The call store: encrypted, append-only, pseudonymised (implementation in llm2slm.capture).

`open_store(cfg)` opens the configured store with the configured master key; `CallStore.append` and
`CallStore.ingest` add records (durable on return), `CallStore.read(principal)` gives them back to a curator.
See docs/capture-store.md.
"""

from llm2slm.capture.crypto import MasterKey, MasterKeyError
from llm2slm.capture.imports import IngestError, IngestReport, parse_jsonl, write_jsonl
from llm2slm.capture.local import load_master_key, open_keyring, open_store, pipeline_principal
from llm2slm.capture.segments import CorruptSegmentError
from llm2slm.capture.store import AppendResult, CallStore

__all__ = [
    "AppendResult", "CallStore", "CorruptSegmentError", "IngestError", "IngestReport", "MasterKey", "MasterKeyError",
    "load_master_key", "open_keyring", "open_store", "parse_jsonl", "pipeline_principal", "write_jsonl",
]
