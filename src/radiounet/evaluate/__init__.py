"""Evaluation: metrics of a model on held-out synthetic fields, on catalogues, and on skies it never saw
(:mod:`radiounet.evaluate.benchmark`)."""

from radiounet.evaluate.synthetic import evaluate_synthetic, evaluate_whole_images

__all__ = ["evaluate_synthetic", "evaluate_whole_images"]
