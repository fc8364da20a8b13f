"""Training: configuration, losses, metrics, augmentation, checkpoints and the loop."""
