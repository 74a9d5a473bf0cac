"""Operator side: build and push the training image, run host scripts on the training host."""
