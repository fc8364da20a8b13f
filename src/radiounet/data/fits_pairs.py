"""Tiles from real labelled images: FITS image + FITS mask pairs, for fine-tuning."""

import numpy as np

from radiounet.data.datasets import EpochDataset, _item
from radiounet.data.normalize import blank_fill, estimate_rms
from radiounet.errors import RadioUNetError
from radiounet.io.image import read_radio_image

__all__ = ["FitsPairTiles"]


class FitsPairTiles(EpochDataset):
    """Random tiles of labelled FITS images.

    Item ``i`` is a tile at a random position of one of the images (drawn
    from ``seed`` and ``i``, so deterministic), half of them centred on a
    masked pixel so that the rare diffuse emission is seen often.
    Augmentation (flips, rotations, jitter) is applied by the training loop.

    Parameters
    ----------
    images, masks : sequence of path
        Pairs of FITS files on the same pixel grid; a mask is non-zero on
        diffuse emission.
    tiles_per_epoch : int
    tile_size : int
    seed : int
    """

    def __init__(self, images, masks, tiles_per_epoch=256, tile_size=192, seed=0):
        super().__init__(tiles_per_epoch)
        if len(images) != len(masks) or not images:
            raise RadioUNetError(f"--masks: give one mask per image ({len(images)} images, {len(masks)} masks)")
        self.pairs = []
        for image_path, mask_path in zip(images, masks):
            # Tiles are normalised by their noise, so the brightness unit does not matter here.
            with read_radio_image(image_path, pixels_only=True) as radio:
                image = blank_fill(np.array(radio.data, dtype=np.float32))
            with read_radio_image(mask_path, pixels_only=True) as radio:
                mask = np.array(radio.data, dtype=np.float32)
            if image.shape != mask.shape:
                raise RadioUNetError(f"{mask_path}: mask shape {mask.shape} differs from image {image_path} "
                                     f"{image.shape}")
            if min(image.shape) < tile_size:
                raise RadioUNetError(f"{image_path}: image {image.shape} is smaller than a tile ({tile_size}); give "
                                     "finetune --set data.tile_size=N, N a multiple of 2**depth that fits")
            values = np.unique(mask[np.isfinite(mask)])
            if len(values) > 2 or (len(values) == 2 and values[0] != 0):
                shown = ", ".join(f"{v:g}" for v in values[:6]) + (", ..." if len(values) > 6 else "")
                raise RadioUNetError(f"{mask_path}: holds the values {shown}; a mask holds 0 and one value for "
                                     "diffuse emission (class labels, as in .labels.fits, are not a mask)")
            binary = np.nan_to_num(mask) != 0
            self.pairs.append((image, binary, estimate_rms(image), np.argwhere(binary)))
        self.tile_size = int(tile_size)
        self.seed = int(seed)

    def __getitem__(self, index):
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, self.offset + index]))
        which = int(rng.integers(len(self.pairs)))
        image, mask, rms, positives = self.pairs[which]
        t = self.tile_size
        ny, nx = image.shape
        if len(positives) and rng.uniform() < 0.5:
            cy, cx = positives[rng.integers(len(positives))]
            row = int(np.clip(cy - t // 2 + rng.integers(-t // 4, t // 4 + 1), 0, ny - t))
            col = int(np.clip(cx - t // 2 + rng.integers(-t // 4, t // 4 + 1), 0, nx - t))
        else:
            row, col = int(rng.integers(0, ny - t + 1)), int(rng.integers(0, nx - t + 1))
        window = (slice(row, row + t), slice(col, col + t))
        labels = mask[window].astype(np.int64)
        return _item(image[window], mask[window], labels, rms, which)
