"""Test doubles used by the tests and the benchmarks, never by the pipeline: a fake OpenAI-compatible LLM server
(`fake_llm`) and fault injection for the fine-tuning loop (`faults`). No production module imports this package."""
