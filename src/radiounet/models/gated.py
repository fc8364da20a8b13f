"""A class model whose halo and relic probabilities are gated by a binary model's diffuse probability.

The class models know radio galaxies (their lobes are rarely called diffuse)
but take the correlated noise of real survey images for faint diffuse
emission more readily than the binary model, which leaves it alone. Gated,
a pixel keeps the class model's halo and relic probability only where the
binary model sees diffuse emission too::

    gate = min(1, p_binary / gate_scale)
    P'(halo) = gate * P(halo),  P'(relic) = gate * P(relic)
    removed = (1 - gate) * (P(halo) + P(relic))

What the gate removes goes, by the model's ``gate_rule``, either

* ``"background"``: all to background (radio galaxy and compact source keep
  the class model's probabilities), or
* ``"conditional"``: to background, radio galaxy and compact source in the
  class model's own proportions among them, i.e. as the class model would
  share the pixel were it told that the pixel holds no diffuse emission. A
  radio galaxy whose lobes the class model half took for a halo is then
  labelled radio galaxy where the binary model sees no diffuse emission,
  instead of background. The diffuse probability P'(halo) + P'(relic) is the
  same under both rules.

The result is again a class model: its output holds log-probabilities, so the
softmax that every class model's output goes through gives them back, and
``predict``, ``detect`` and ``evaluate`` use it unchanged. Both networks are
stored in one safetensors file (prefixes ``classes.`` and ``binary.``).
"""

from dataclasses import dataclass

import torch
from torch import nn

from radiounet.errors import InvalidParameterError
from radiounet.models.outputs import DIFFUSE_CLASSES
from radiounet.models.unet import UNet, UNetConfig
from radiounet.classes import CLASS_NAMES

__all__ = ["GatedConfig", "GatedUNet", "gate_model", "network_from_config", "GATED", "GATE_RULES", "GATE_RULE_WORDS"]

#: ``kind`` of a gated model's architecture in its card.
GATED = "gated"
_BACKGROUND = CLASS_NAMES.index("background")
# Probabilities are clipped here before the logarithm: exp(log(1e-12)) is 0 to the precision of the maps.
_SMALLEST = 1e-12
#: Where a gate's removed halo and relic probability goes (see the module docstring), in the words of
#: ``model-info`` and the model cards.
GATE_RULE_WORDS = {
    "background": "the rest going to background; radio galaxy and compact source keep the class network's "
                  "probabilities",
    "conditional": "what they lose going to background, radio galaxy and compact source in the class network's own "
                   "proportions among them (the class network's classes given no diffuse emission)",
}
GATE_RULES = tuple(GATE_RULE_WORDS)
_NOT_DIFFUSE = [i for i in range(len(CLASS_NAMES)) if i not in DIFFUSE_CLASSES]


@dataclass(frozen=True)
class GatedConfig:
    """Architecture of a :class:`GatedUNet`.

    Parameters
    ----------
    classes : UNetConfig
        The class model (one output per class of :data:`radiounet.classes.CLASS_NAMES`).
    binary : UNetConfig
        The binary model (one output: the diffuse-emission logit).
    gate_scale : float
        Binary probability at and above which the class model's halo and relic
        probabilities pass whole; below it they are scaled down in proportion.
    gate_rule : {"background", "conditional"}
        Where the probability the gate takes from halo and relic goes (see the
        module docstring). Cards written before the rule existed hold none and
        mean ``"background"``.
    """

    classes: UNetConfig
    binary: UNetConfig
    gate_scale: float = 0.2
    gate_rule: str = "background"

    def __post_init__(self):
        if self.classes.out_channels != len(CLASS_NAMES):
            raise InvalidParameterError("classes model outputs", self.classes.out_channels,
                                        f"must be {len(CLASS_NAMES)} ({', '.join(CLASS_NAMES)})")
        if self.binary.out_channels != 1:
            raise InvalidParameterError("binary model outputs", self.binary.out_channels, "must be 1")
        if self.classes.in_channels != self.binary.in_channels:
            raise InvalidParameterError("binary model inputs", self.binary.in_channels,
                                        f"must match the class model's ({self.classes.in_channels})")
        if not 0 < self.gate_scale <= 1:
            raise InvalidParameterError("gate_scale", self.gate_scale, "must lie in (0, 1]")
        if self.gate_rule not in GATE_RULES:
            raise InvalidParameterError("gate_rule", self.gate_rule, f"must be one of {', '.join(GATE_RULES)}")

    @property
    def in_channels(self):
        return self.classes.in_channels

    @property
    def out_channels(self):
        return self.classes.out_channels

    def to_dict(self):
        return dict(kind=GATED, classes=self.classes.to_dict(), binary=self.binary.to_dict(),
                    gate_scale=self.gate_scale, gate_rule=self.gate_rule)

    @classmethod
    def from_dict(cls, architecture):
        """The inverse of :meth:`to_dict`."""
        return cls(UNetConfig(**architecture["classes"]), UNetConfig(**architecture["binary"]),
                   float(architecture["gate_scale"]), architecture.get("gate_rule", "background"))


class GatedUNet(nn.Module):
    """A class U-Net gated by a binary U-Net; returns log class probabilities ``(batch, classes, H, W)``.

    Examples
    --------
    >>> import torch
    >>> from radiounet.models import UNet, UNetConfig
    >>> net = gate_model(UNet(UNetConfig(out_channels=5, depth=2, width=8)), UNet(UNetConfig(depth=2, width=8)))
    >>> torch.softmax(net(torch.zeros(1, 1, 64, 64)), dim=1).sum(dim=1).allclose(torch.ones(1, 64, 64))
    True
    """

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.classes = UNet(config.classes)
        self.binary = UNet(config.binary)

    @property
    def multiple(self):
        """Tile sides must be multiples of this."""
        return max(self.classes.multiple, self.binary.multiple)

    def gate(self, x):
        """The gate ``min(1, p_binary / gate_scale)``, ``(batch, 1, H, W)``."""
        return (torch.sigmoid(self.binary(x).float()) / self.config.gate_scale).clamp(max=1.0)

    def forward(self, x):
        probability = torch.softmax(self.classes(x).float(), dim=1)
        gate = self.gate(x)
        diffuse = list(DIFFUSE_CLASSES)
        removed = (1 - gate) * probability[:, diffuse].sum(dim=1, keepdim=True)
        gated = probability.clone()
        gated[:, diffuse] = probability[:, diffuse] * gate
        if self.config.gate_rule == "conditional":
            rest = probability[:, _NOT_DIFFUSE] + _SMALLEST
            gated[:, _NOT_DIFFUSE] += removed * rest / rest.sum(dim=1, keepdim=True)
        else:
            gated[:, _BACKGROUND:_BACKGROUND + 1] += removed
        return torch.log(gated.clamp(min=_SMALLEST))


def gate_model(classes, binary, gate_scale=0.2, gate_rule="background"):
    """A :class:`GatedUNet` holding (copies of the weights of) ``classes`` and ``binary``, in evaluation mode.

    Parameters
    ----------
    classes, binary : UNet
        A class model and a binary model trained at the same native sampling.
    gate_scale : float
    gate_rule : {"background", "conditional"}
        See :class:`GatedConfig`.
    """
    model = GatedUNet(GatedConfig(classes.config, binary.config, float(gate_scale), gate_rule))
    model.classes.load_state_dict(classes.state_dict())
    model.binary.load_state_dict(binary.state_dict())
    return model.eval()


def network_from_config(config):
    """A fresh network of ``config``: a :class:`GatedUNet` for a :class:`GatedConfig`, else a :class:`UNet`."""
    return GatedUNet(config) if isinstance(config, GatedConfig) else UNet(config)
