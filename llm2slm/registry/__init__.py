"""The registry: each task's specialists as MLflow model versions with `challenger` / `champion` aliases moved only
through the promotion gate (`versions`), and what a conversion ends with per task (`outcomes`)."""
