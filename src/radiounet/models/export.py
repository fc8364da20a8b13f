"""Export a model to ONNX, so that it runs where PyTorch is not installed (ONNX Runtime, other frameworks).

The exported graph maps a batch of normalised tiles to probabilities, as
:class:`radiounet.inference.Predictor` does between its pre- and
post-processing:

* input ``image``: ``(batch, 1, height, width)`` float32, the image
  normalised as in training, ``asinh(image / rms)`` with the local noise
  ``rms`` (:func:`radiounet.inference.noise.rms_mesh`), at the model's native
  sampling (``native_sampling.beam_fwhm_pixels`` of the card); height and
  width any multiples of ``2**depth``;
* output ``probability``: ``(batch, 1 + classes, height, width)``: the
  probability of diffuse emission, then the class probabilities (class
  models; the names in the card's ``classes``).

The model card travels in the file's metadata (key ``radiounet_model_card``,
JSON), with the threshold and the native sampling. Sliding windows, the noise
mesh and regridding stay in the caller's hands.
"""

import json
import logging
import warnings
from pathlib import Path

import torch

from radiounet.errors import RadioUNetError
from radiounet.io.atomic import atomic_path, ensure_writable_directory
from radiounet.models.outputs import probabilities
from radiounet.models.store import load_model

__all__ = ["ProbabilityNetwork", "export_onnx", "ONNX_CARD_KEY"]

ONNX_CARD_KEY = "radiounet_model_card"
#: Opset of the exported graph (ONNX Runtime 1.17+ runs it).
OPSET = 18


class ProbabilityNetwork(torch.nn.Module):
    """A model's network followed by its probabilities: ``(n, 1 + classes, H, W)``."""

    def __init__(self, network, classes):
        super().__init__()
        self.network = network
        self.classes = classes

    def forward(self, image):
        return probabilities(self.network(image), self.classes)


def export_onnx(model, path):
    """Write ``model`` (shipped name or file) as an ONNX file at ``path``.

    Parameters
    ----------
    model : str or Path
    path : str or Path
        Output file (written atomically). The graph is traced on one
        training tile and takes any batch, height and width.

    Returns
    -------
    Path
    """
    try:
        import onnx
    except ImportError:
        raise RadioUNetError("ONNX export needs the onnx and onnxscript packages: "
                             "pip install 'radiounet[onnx]'") from None
    path = Path(path)
    if path.is_dir():
        raise RadioUNetError(f"{path}: is a folder; give the ONNX file's name")
    ensure_writable_directory(path.parent)  # before the tracing's seconds, not after
    network, card = load_model(model, "cpu")
    wrapped = ProbabilityNetwork(network, bool(card.get("classes"))).eval()
    example = torch.zeros(1, 1, card["tile_size"], card["tile_size"])
    dynamic = torch.export.Dim.DYNAMIC
    exporter_log = logging.getLogger("torch.onnx")
    level = exporter_log.level
    try:
        # The exporter's notes on operators this model does not use (torchvision's) are not the user's concern.
        exporter_log.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(wrapped, (example,), dynamo=True, opset_version=OPSET, verbose=False,
                                        input_names=["image"], output_names=["probability"],
                                        dynamic_shapes={"image": {0: dynamic, 2: dynamic, 3: dynamic}})
    except ImportError as exc:
        raise RadioUNetError(f"ONNX export needs {exc.name or 'onnxscript'}: pip install 'radiounet[onnx]'") from None
    finally:
        exporter_log.setLevel(level)
    proto = program.model_proto
    entry = proto.metadata_props.add()
    entry.key, entry.value = ONNX_CARD_KEY, json.dumps(card)
    with atomic_path(path) as tmp:
        onnx.save_model(proto, str(tmp))
    return path
