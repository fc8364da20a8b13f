"""Evaluation: metrics of a model on held-out synthetic fields (and, later, on catalogues)."""

from radiounet.evaluate.synthetic import evaluate_synthetic

__all__ = ["evaluate_synthetic"]
