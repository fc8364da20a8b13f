"""A U-Net for single-channel radio image tiles.

Encoder levels halve the resolution and double the width; the decoder mirrors
them with transposed convolutions and skip connections. The output head is a
separate 1x1 convolution, so a multi-class head replaces it without touching
the rest of the network. Optionally the network also reads a compact-source
filtered copy of its input (:class:`CompactSourceFilter`), as astronomers look
at a filtered image beside the original.
"""

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

from radiounet.errors import InvalidParameterError

__all__ = ["UNetConfig", "UNet", "CompactSourceFilter"]

_NORMS = ("batch", "group", "instance", "none")


@dataclass(frozen=True)
class UNetConfig:
    """Architecture of a :class:`UNet`.

    Parameters
    ----------
    in_channels : int
        Input channels (1: the normalised image).
    out_channels : int
        Output maps: 1 for the diffuse-emission probability, more for classes.
    depth : int
        Number of down-sampling steps; tiles must be divisible by ``2**depth``.
    width : int
        Channels of the first level; level ``k`` has ``width * 2**k``.
    norm : str
        Normalisation after each convolution: batch, group (8 groups), instance or none.
    dropout : float
        Dropout probability in the bottleneck and the decoder.
    compact_filter_box : int
        Side in pixels of the square of a :class:`CompactSourceFilter` whose
        output is an extra input channel beside the image (0: none; else odd, at least 3).
    """

    in_channels: int = 1
    out_channels: int = 1
    depth: int = 4
    width: int = 16
    norm: str = "batch"
    dropout: float = 0.1
    compact_filter_box: int = 0

    def __post_init__(self):
        for name in ("in_channels", "out_channels", "depth", "width"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise InvalidParameterError(f"model.{name}", value, "must be a positive integer")
        if self.depth > 7:
            raise InvalidParameterError("model.depth", self.depth, "must be at most 7")
        if self.norm not in _NORMS:
            raise InvalidParameterError("model.norm", self.norm, f"must be one of {', '.join(_NORMS)}")
        if self.norm == "group" and self.width % 8:
            raise InvalidParameterError("model.width", self.width, "must be a multiple of 8 with group norm")
        if not 0.0 <= self.dropout < 1.0:
            raise InvalidParameterError("model.dropout", self.dropout, "must be in [0, 1)")
        box = self.compact_filter_box
        if isinstance(box, bool) or not isinstance(box, int) or box < 0 or (box and (box < 3 or box % 2 == 0)):
            raise InvalidParameterError("model.compact_filter_box", box, "must be 0 or an odd integer of at least 3")

    @property
    def network_inputs(self):
        """Channels the first convolution reads: the input's, and the filtered copy's if any."""
        return self.in_channels * (2 if self.compact_filter_box else 1)

    def to_dict(self):
        return asdict(self)


class CompactSourceFilter(nn.Module):
    """The diffuse part of an image: a grey-scale opening over a square of ``box`` pixels.

    The minimum over the square, then the maximum over it (the filter of
    Rudnick 2002, PASP 114, 427): a source narrower than the box in any
    direction is removed, emission wider than it in every direction is kept
    at its lower envelope. Outside the input counts as empty (zero) for the
    minimum, so that a source cut by the edge is removed too, and is ignored
    by the maximum, so that wide emission reaching the edge is kept. Each
    channel is filtered on its own; the output has the input's shape.
    """

    def __init__(self, box):
        super().__init__()
        self.box = box

    def _maximum(self, x, padding):
        # Two 1-D passes: 2 * box comparisons per pixel instead of box ** 2.
        x = F.max_pool2d(x, (self.box, 1), stride=1, padding=(padding, 0))
        return F.max_pool2d(x, (1, self.box), stride=1, padding=(0, padding))

    def forward(self, x):
        half = self.box // 2
        minimum = -self._maximum(F.pad(-x, (half, half, half, half), value=0.0), 0)
        return self._maximum(minimum, half)


def _norm(kind, channels):
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "group":
        return nn.GroupNorm(8, channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    return nn.Identity()


class _DoubleConv(nn.Sequential):
    def __init__(self, in_channels, out_channels, norm, dropout=0.0):
        layers = []
        for i in range(2):
            layers += [
                nn.Conv2d(in_channels if i == 0 else out_channels, out_channels, 3, padding=1,
                          padding_mode="reflect", bias=norm == "none"),
                _norm(norm, out_channels),
                nn.LeakyReLU(0.01, inplace=True),
            ]
        if dropout:
            layers.append(nn.Dropout2d(dropout))
        super().__init__(*layers)


class UNet(nn.Module):
    """U-Net returning logits of shape ``(batch, out_channels, H, W)``.

    Examples
    --------
    >>> import torch
    >>> net = UNet(UNetConfig(depth=2, width=8))
    >>> net(torch.zeros(1, 1, 64, 64)).shape
    torch.Size([1, 1, 64, 64])
    """

    def __init__(self, config=None):
        super().__init__()
        self.config = config or UNetConfig()
        c = self.config
        widths = [c.width * 2**k for k in range(c.depth + 1)]
        self.compact_filter = CompactSourceFilter(c.compact_filter_box) if c.compact_filter_box else None
        self.encoder = nn.ModuleList(
            [_DoubleConv(c.network_inputs, widths[0], c.norm)]
            + [_DoubleConv(widths[k - 1], widths[k], c.norm) for k in range(1, c.depth)]
        )
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = _DoubleConv(widths[-2], widths[-1], c.norm, c.dropout)
        self.upsample = nn.ModuleList(
            [nn.ConvTranspose2d(widths[k + 1], widths[k], 2, stride=2) for k in reversed(range(c.depth))]
        )
        self.decoder = nn.ModuleList(
            [_DoubleConv(2 * widths[k], widths[k], c.norm, c.dropout if k else 0.0)
             for k in reversed(range(c.depth))]
        )
        self.head = nn.Conv2d(widths[0], c.out_channels, 1)

    @property
    def multiple(self):
        """Tile sides must be multiples of this."""
        return 2**self.config.depth

    def features(self, x):
        """Decoder output before the head: ``(batch, width, H, W)``."""
        if x.shape[-1] % self.multiple or x.shape[-2] % self.multiple:
            raise InvalidParameterError("tile shape", tuple(x.shape[-2:]),
                                        f"must be multiples of {self.multiple} for depth {self.config.depth}")
        if self.compact_filter is not None:
            layout = torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else None
            x = torch.cat([x, self.compact_filter(x)], dim=1)
            if layout is not None:  # keep the layout the caller chose for the convolutions
                x = x.contiguous(memory_format=layout)
        skips = []
        for block in self.encoder:
            x = block(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottleneck(x)
        for up, block, skip in zip(self.upsample, self.decoder, reversed(skips)):
            x = block(torch.cat([up(x), skip], dim=1))
        return x

    def forward(self, x):
        return self.head(self.features(x))

    def encoder_parameters(self, levels=None):
        """Parameters of the first ``levels`` encoder levels (all levels and the bottleneck if None)."""
        blocks = list(self.encoder) + [self.bottleneck] if levels is None else list(self.encoder)[:levels]
        return [p for block in blocks for p in block.parameters()]
