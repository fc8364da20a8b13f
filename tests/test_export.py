"""radio-unet export: an ONNX file that gives PyTorch's probabilities, with the model card inside."""

import json

import numpy as np
import pytest
import torch

from radiounet.cli import main
from radiounet.inference import Predictor
from radiounet.models import UNet, UNetConfig, save_model
from radiounet.sky.labels import CLASS_NAMES

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")


@pytest.fixture(scope="module", params=[0, 5], ids=["image", "image-and-filtered-copy"])
def class_model(request, tmp_path_factory, tiny_card):
    torch.manual_seed(3)
    net = UNet(UNetConfig(depth=2, width=4, norm="batch", out_channels=len(CLASS_NAMES),
                          compact_filter_box=request.param))
    with torch.no_grad():  # non-trivial batch-norm statistics, as a trained model has
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    return save_model(tmp_path_factory.mktemp("model") / "classes.safetensors", net,
                      tiny_card(classes=list(CLASS_NAMES)))


def test_onnx_export_matches_pytorch_on_other_tile_shapes(tmp_path, class_model, capsys):
    out = tmp_path / "classes.onnx"
    assert main(["export", str(class_model), "--format", "onnx", "--out", str(out)]) == 0
    assert f"output 'probability': diffuse, then {', '.join(CLASS_NAMES)})" in capsys.readouterr().out
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    predictor = Predictor(class_model)
    rng = np.random.default_rng(0)
    for shape in [(1, 1, 64, 64), (3, 1, 96, 160)]:
        tiles = np.arcsinh(rng.normal(0, 1, shape) * 3).astype(np.float32)
        (onnx_probability,) = session.run(None, {"image": tiles})
        with torch.no_grad():
            torch_probability = predictor._probabilities(torch.from_numpy(tiles)).numpy()
        assert onnx_probability.shape == (shape[0], 1 + len(CLASS_NAMES)) + shape[2:]
        np.testing.assert_allclose(onnx_probability, torch_probability, atol=1e-4)
    card = json.loads({p.key: p.value for p in onnx.load(str(out)).metadata_props}["radiounet_model_card"])
    assert card["classes"] == list(CLASS_NAMES) and card["threshold"] == 0.5


def test_export_of_a_missing_model_is_a_one_line_error(tmp_path, capsys):
    assert main(["export", str(tmp_path / "none.safetensors"), "--out", str(tmp_path / "x.onnx")]) == 2
    assert "none.safetensors" in capsys.readouterr().err
    assert not (tmp_path / "x.onnx").exists()


def test_export_to_a_folder_is_refused_before_the_tracing(tmp_path, capsys, class_model, monkeypatch):
    from radiounet.models import export

    monkeypatch.setattr(export, "load_model", lambda *args: pytest.fail("the model was loaded before the check"))
    assert main(["export", str(class_model), "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip().endswith(f"{tmp_path}: is a folder; give the ONNX file's name")
