"""llm2slm: turn an AI agent's LLM calls into small specialist models."""

__version__ = "0.1.0"
