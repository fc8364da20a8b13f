"""The classes of the label maps and of class models: the vocabulary shared by the simulator, training and
inference (kept apart from :mod:`radiounet.sky`, so that inference does not import the simulator)."""

__all__ = ["CLASS_NAMES"]

#: Label values: the index in this tuple.
CLASS_NAMES = ("background", "halo", "relic", "radio_galaxy", "compact")
