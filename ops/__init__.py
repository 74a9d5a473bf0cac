"""Operator side: images, dispatch to the EC2 host, maintenance of the MLflow store."""
