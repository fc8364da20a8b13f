"""Reading and writing: FITS images with their WCS and beam, tables, atomic file output."""

from radiounet.io.atomic import atomic_path, ensure_writable_directory
from radiounet.io.fits import image_header, write_image

__all__ = ["atomic_path", "ensure_writable_directory", "image_header", "write_image"]
