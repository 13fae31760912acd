"""llm2slm: turn an AI agent's LLM calls into small specialist models.

The core, one subpackage per step of the conversion, each of pure typed functions on in-memory objects:

    S1  capture     the SDK, the gateway and the encrypted call store
    S2  curation    personal data and secrets out, unusable and duplicate calls dropped
    S3  discovery   the recurring tasks, their catalogue, the assigner, the train/val/test split
    S4  selection   the candidate small models per task, screened
    S5  training    fine-tuning on Ray Train (LoRA or full), distilling the LLM's answers
        evaluation  each specialist against the LLM; the best candidate
        registry    MLflow versions, the promotion gate, what a conversion ends with
        serving     specialists answering calls (the router)
    common          schema, configuration, environment, artifact catalogue, shared helpers
    lineage         MLflow runs and DVC dataset versions
    sample          the bundled agent trace; testing: test doubles

Above the core: `tasks/` (thin Prefect tasks), `flows/` (the wiring), `llm2slm.cli` (the `llm2slm` command).
The core never imports them (import-linter contracts in pyproject.toml). docs/architecture.md.
"""

__version__ = "0.1.0"
