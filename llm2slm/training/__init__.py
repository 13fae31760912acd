"""Fine-tuning and inference core: candidate catalogue, recipes, models, the Ray Train loop, MLflow logging.

Submodules import torch, transformers, peft, ray and mlflow lazily; importing this package is cheap.
"""
