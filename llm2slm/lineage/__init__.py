"""Lineage: where every artefact came from. `tracking` (MLflow: one parent run per conversion, a child run per
stage and task) and `dvc` (the datasets versioned in the project's DVC repository, cache and remote under the home)."""
