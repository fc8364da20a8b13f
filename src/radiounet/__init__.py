"""RadioUNet: find diffuse radio emission in galaxy clusters with a U-Net.

The package follows the flow of data: ``radiounet.sky`` simulates labelled
observations, ``radiounet.data`` turns them into training tiles, and the
command line interface ``radio-unet`` wraps the same functions.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("radiounet")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
