"""Inference: sliding-window prediction of whole images with a trained model."""

from radiounet.inference.predictor import Prediction, Predictor
from radiounet.inference.sliding_window import sliding_window_inference

__all__ = ["Prediction", "Predictor", "sliding_window_inference"]
