"""Idempotent training of molecular property models, tracked in MLflow."""
