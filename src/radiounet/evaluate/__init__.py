"""Evaluation: metrics of a model on held-out synthetic fields (and, later, on catalogues)."""

from radiounet.evaluate.synthetic import evaluate_synthetic, evaluate_whole_images

__all__ = ["evaluate_synthetic", "evaluate_whole_images"]
