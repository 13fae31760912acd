"""Evaluation: a specialist against the LLM on held-out calls. `agreement` (the LLM's answer as the reference),
`metrics` (each output shape's own figures), `costs` (per 1,000 calls), `evaluate` (the procedure and the choice of
the best candidate), `report` (the per-task Markdown and PNG)."""
