"""Bad input, as a new user gives it, to every command: one line naming the file and the problem, exit status 2,
nothing written; bad input that a command handles (a per-row status, a readable variant) works; and a killed
batch resumes without redoing finished work.

Each :class:`Case` of :data:`ERROR_CASES` builds its inputs in a fresh folder and returns the command line;
another command (``cutouts``) or input is one more :class:`Case` in a table, or one more table in
:data:`ERROR_CASES`.
"""

import errno
import gzip
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import astropy.units as u
import numpy as np
import pytest
import torch
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS
from safetensors.torch import load_file, safe_open, save_file

import radiounet.models.store as store
from radiounet.cli import main
from radiounet.detect.catalog import read_cluster_catalog
from radiounet.inference.predictor import Predictor
from radiounet.io.image import read_radio_image
from radiounet.io.tables import read_table
from radiounet.models import UNet, UNetConfig, save_model

PIXEL_ARCSEC = 1.5
SIZE = 64


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, tiny_card):
    """A 2-level U-Net for LoTSS 6" images (64-pixel tiles) whose card holds a training configuration, so that
    finetune can start from it."""
    torch.manual_seed(0)
    network = UNet(UNetConfig(depth=2, width=4, norm="none", dropout=0.0))
    card = tiny_card(training=dict(config={"data": {"tile_size": SIZE, "field_size": SIZE}}))
    return save_model(tmp_path_factory.mktemp("model") / "tiny.safetensors", network, card)


def _header(shape=(SIZE, SIZE), pixel_arcsec=PIXEL_ARCSEC):
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    wcs.wcs.crval = [150.0, 30.0]
    wcs.wcs.crpix = [shape[1] / 2, shape[0] / 2]
    wcs.wcs.cdelt = [-pixel_arcsec / 3600, pixel_arcsec / 3600]
    header = wcs.to_header()
    header.update(BUNIT="Jy/beam", BMAJ=6 / 3600, BMIN=6 / 3600, BPA=0.0)
    return header


def _noise(shape=(SIZE, SIZE)):
    return np.random.default_rng(0).normal(0.0, 1e-4, shape).astype(np.float32)


class Inputs:
    """The files of one case, in its own folder, and the command lines that read them.

    Parameters
    ----------
    folder : Path
    model : Path
        The tiny model file.
    monkeypatch : pytest.MonkeyPatch
        For cases that simulate the environment (a full disk, a read-only folder).
    """

    def __init__(self, folder, model, monkeypatch):
        self.folder = folder
        self.model = model
        self.monkeypatch = monkeypatch
        #: The output folder every case writes to: nothing may be left in it.
        self.out = folder / "results"

    def path(self, name):
        return self.folder / name

    def subfolder(self, name):
        """An empty folder ``name`` in the case's folder."""
        self.path(name).mkdir()
        return self.path(name)

    def image(self, name="img.fits", data=None, *, pixel_arcsec=PIXEL_ARCSEC, **cards):
        """A 64 x 64 noise image in Jy/beam with a 6" beam; ``cards`` replace header cards (None removes one)."""
        data = _noise() if data is None else data
        header = _header(data.shape[-2:], pixel_arcsec)
        for key, value in cards.items():
            if value is None:
                header.remove(key)
            else:
                header[key] = value
        fits.PrimaryHDU(data, header).writeto(self.path(name))
        return self.path(name)

    def catalog(self, filename="clusters.csv", **columns):
        """A cluster catalogue in the Planck PSZ2 columns: one cluster at the image centre unless ``columns``
        replace them (None removes one)."""
        table = dict(NAME=["A1"], RA=[150.0], DEC=[30.0], REDSHIFT=[0.2], MSZ=[4.0])
        table.update(columns)
        return self.table(filename, **{key: value for key, value in table.items() if value is not None})

    def table(self, filename, **columns):
        Table(columns).write(self.path(filename))
        return self.path(filename)

    def text(self, name, content):
        self.path(name).write_text(content)
        return self.path(name)

    def model_with(self, name, state=None, metadata=None):
        """A safetensors file with ``state`` (default: the tiny model's) and ``metadata`` (default: its card)."""
        with safe_open(str(self.model), framework="pt") as handle:
            own_state = {key: handle.get_tensor(key) for key in handle.keys()}
            own_metadata = handle.metadata()
        save_file(own_state if state is None else state, str(self.path(name)),
                  metadata=own_metadata if metadata is None else metadata)
        return self.path(name)

    def predict(self, *images, options=()):
        return ["predict", *map(str, images), "--out", str(self.out), "--model", str(self.model), "--device", "cpu",
                "--no-progress", *options]

    def detect(self, catalog, *images, options=()):
        images = images or (self.image(),)
        return ["detect", "--catalog", str(catalog), "--images", *map(str, images), "--out", str(self.out),
                "--model", str(self.model), "--device", "cpu", "--no-progress", *options]

    def inject(self, *images, options=()):
        """One random site per image, unless ``options`` hold a ``--catalog``."""
        sites = [] if "--catalog" in options else ["--sites", "1"]
        return ["inject", "--images", *map(str, images), "--out", str(self.out), "--model", str(self.model),
                "--device", "cpu", *sites, "--redshift", "0.2", "--r500", "100 kpc", "--re", "20 kpc",
                "--n-flux", "2", "--no-progress", *options]

    def simulate(self, *options):
        return ["simulate", "--out", str(self.out), "--size", str(SIZE), "--no-png", "--no-progress", *options]

    def train(self, config, *options):
        return ["train", str(config), "--out", str(self.out), "--no-progress", *options]

    def finetune(self, images, masks, *options):
        return ["finetune", "--model", str(self.model), "--images", *map(str, images), "--masks", *map(str, masks),
                "--out", str(self.out), "--epochs", "1", "--tiles-per-epoch", "2", "--batch-size", "2",
                "--no-progress", *options]

    def detections(self, filename="detections.ecsv", **columns):
        """Two measured clusters as ``radio-unet detect`` writes them, unless ``columns`` replace them."""
        return self.table(filename, **dict(dict(name=["A1", "A2"], R=[0.2, 0.001], detected=[True, False],
                                                status=["ok", "ok"]), **columns))

    def evaluate(self, detections, truth, *options):
        return ["evaluate", "--detections", str(detections), "--truth", str(truth), "--truth-column", "class",
                "--out", str(self.out), "--bootstrap", "10", *options]


@dataclass(frozen=True)
class Case:
    """A bad input: ``build(inputs)`` writes the files and returns the command line; the error line must
    hold every one of ``expected`` (the file or parameter first, then words of the problem)."""

    id: str
    build: Callable[[Inputs], list]
    expected: tuple


def _nan_beam(inputs):
    # astropy refuses to write NaN in a header; other software writes the card "BMAJ = NaN".
    path = inputs.image("nan_beam.fits")
    raw = path.read_bytes()
    start = raw.index(b"BMAJ    =")
    path.write_bytes(raw[:start] + f"BMAJ    = {'NaN':>20}".ljust(80).encode() + raw[start + 80:])
    return inputs.predict(path)


def _five_dimensional(inputs):
    wcs = WCS(naxis=5)
    wcs.wcs.ctype = ["RA---SIN", "DEC--SIN", "FREQ", "STOKES", "TIME"]
    wcs.wcs.crval = [150.0, 30.0, 1.44e8, 1.0, 0.0]
    wcs.wcs.cdelt = [-PIXEL_ARCSEC / 3600, PIXEL_ARCSEC / 3600, 1e6, 1.0, 1.0]
    header = wcs.to_header()
    header.update(BUNIT="Jy/beam", BMAJ=6 / 3600, BMIN=6 / 3600)
    fits.PrimaryHDU(np.zeros((2, 1, 1, SIZE, SIZE), np.float32), header).writeto(inputs.path("cube5d.fits"))
    return inputs.predict(inputs.path("cube5d.fits"))


def _table_only(inputs):
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU(Table({"flux": [1.0, 2.0]}))]).writeto(
        inputs.path("sources_table.fits"))
    return inputs.predict(inputs.path("sources_table.fits"))


def _truncated(inputs):
    path = inputs.image("truncated.fits")
    path.write_bytes(path.read_bytes()[:4000])
    return inputs.predict(path)


def _corrupt_gzip(inputs):
    path = inputs.image("img.fits")
    inputs.path("corrupt.fits.gz").write_bytes(b"\x1f\x8b\x08\x00" + path.read_bytes()[:3000])
    return inputs.predict(inputs.path("corrupt.fits.gz"))


def _corrupt_header_model(inputs):
    raw = bytearray(inputs.model.read_bytes())
    raw[8:16] = b"garbage!"  # the JSON header starts after its 8-byte length
    inputs.path("bad_header.safetensors").write_bytes(bytes(raw))
    return inputs.path("bad_header.safetensors")


def _other_architecture_model(inputs):
    """The tiny model's card (depth 2) over the weights of a network one level deeper."""
    deeper = UNet(UNetConfig(depth=3, width=4, norm="none", dropout=0.0)).state_dict()
    return inputs.model_with("other_arch.safetensors", state={k: v.contiguous() for k, v in deeper.items()})


def _model_without_card(inputs):
    path = inputs.model_with("no_card.safetensors", metadata={"format": "pt"})
    return inputs.predict(inputs.image(), options=["--model", str(path)])


def _model_with_card(inputs, name, edit):
    """A copy of the tiny model whose card JSON text is ``edit(card)`` (``edit`` returns a dict or a text)."""
    with safe_open(str(inputs.model), framework="pt") as handle:
        card = json.loads(handle.metadata()[store._CARD_KEY])
    text = edit(card)
    path = inputs.model_with(name, metadata={store._CARD_KEY: text if isinstance(text, str) else json.dumps(text)})
    return inputs.predict(inputs.image(), options=["--model", str(path)])


def _checksum_mismatch(inputs):
    registry = store._registry()
    registry[store.DEFAULT_MODEL] = dict(registry[store.DEFAULT_MODEL], sha256="0" * 64)
    inputs.monkeypatch.setattr(store, "_registry", lambda: registry)
    return inputs.predict(inputs.image(), options=["--model", store.DEFAULT_MODEL])


def _full_disk(inputs):
    """Every file committed into the output folder fails as on a full disk."""
    replace = os.replace

    def full(source, target, *args, **kwargs):
        if Path(target).parent == inputs.out:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(target))
        return replace(source, target, *args, **kwargs)

    inputs.monkeypatch.setattr(os, "replace", full)


def _predict_on_a_full_disk(inputs):
    _full_disk(inputs)
    return inputs.predict(inputs.image())


def _simulate_on_a_full_disk(inputs):
    _full_disk(inputs)
    return inputs.simulate()


def _read_only_folder(inputs):
    """The output folder exists but refuses new files, as for a user without write permission (root ignores
    permissions, so the refusal is simulated)."""
    inputs.out.mkdir()
    temporary_file = tempfile.NamedTemporaryFile

    def refuse(*args, **kwargs):
        if Path(kwargs.get("dir", "")) == inputs.out:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(inputs.out))
        return temporary_file(*args, **kwargs)

    inputs.monkeypatch.setattr(tempfile, "NamedTemporaryFile", refuse)


def _simulate_into_a_read_only_folder(inputs):
    _read_only_folder(inputs)
    return inputs.simulate()


def _predict_into_a_read_only_folder(inputs):
    _read_only_folder(inputs)
    return inputs.predict(inputs.image())


def _file_as_output_folder(command):
    def build(inputs):
        inputs.out.write_text("a file where the output folder should be")
        return command(inputs)
    return build


def _finetune_pair(inputs, image_shape=(SIZE, SIZE), mask_shape=(SIZE, SIZE)):
    return (inputs.image("train.fits", _noise(image_shape)),
            inputs.image("train.mask.fits", np.zeros(mask_shape, np.float32), BUNIT=None))


def _truth(inputs, **columns):
    """Truth classes of the two clusters of :meth:`Inputs.detections`, unless ``columns`` replace them."""
    return inputs.table("truth.csv", **(columns or {"name": ["A1", "A2"], "class": ["RH", "NDE"]}))


IMAGE_CASES = [
    Case("predict-beam-zero", lambda i: i.predict(i.image("zero_beam.fits", BMAJ=0.0, BMIN=0.0)),
         ("zero_beam.fits", "BMAJ=0 arcsec", "not positive", "--beam")),
    Case("predict-beam-negative", lambda i: i.predict(i.image("neg_beam.fits", BMAJ=-6 / 3600, BMIN=-6 / 3600)),
         ("neg_beam.fits", "BMAJ=-6 arcsec", "not positive")),
    Case("predict-beam-nan", _nan_beam, ("nan_beam.fits", "BMAJ", "not a number")),
    Case("predict-beam-text", lambda i: i.predict(i.image("text_beam.fits", BMIN="6 arcsec")),
         ("text_beam.fits", "BMIN", "not a number")),
    Case("predict-beam-1deg-on-7.5arcmin-image",
         lambda i: i.predict(i.image("huge_beam.fits", pixel_arcsec=450 / SIZE, BMAJ=1.0, BMIN=1.0)),
         ("huge_beam.fits", "beam (3600 arcsec)", "larger than the image", "450 x 450 arcsec")),
    Case("predict-beam-over-a-quarter-of-the-image",
         lambda i: i.predict(i.image("wide_beam.fits", BMAJ=30 / 3600, BMIN=30 / 3600)),
         ("wide_beam.fits", "beam (30 arcsec)", "larger than 1/4 of the image")),
    Case("predict-beam-smaller-than-a-pixel",
         lambda i: i.predict(i.image("tiny_beam.fits", BMAJ=0.1 / 3600, BMIN=0.1 / 3600)),
         ("tiny_beam.fits", "smaller than a pixel")),
    Case("predict-no-beam", lambda i: i.predict(i.image("no_beam.fits", BMAJ=None, BMIN=None, BPA=None)),
         ("no_beam.fits", "no beam", "--beam")),
    Case("predict-beam-option-zero", lambda i: i.predict(i.image(), options=["--beam", "0"]), ("--beam", "'0'")),
    Case("predict-inf-everywhere", lambda i: i.predict(i.image("inf.fits", np.full((SIZE, SIZE), np.inf, np.float32))),
         ("inf.fits", "every pixel is blank")),
    Case("predict-blank-everywhere",
         lambda i: i.predict(i.image("blank.fits", np.full((SIZE, SIZE), np.nan, np.float32))),
         ("blank.fits", "every pixel is blank")),
    Case("predict-constant", lambda i: i.predict(i.image("flat.fits", np.ones((SIZE, SIZE), np.float32))),
         ("flat.fits", "constant", "no noise")),
    Case("predict-one-pixel-wide", lambda i: i.predict(i.image("strip.fits", _noise((SIZE, 1))),),
         ("strip.fits", "64 x 1 pixels", "larger than the image")),
    Case("predict-5d-cube", _five_dimensional, ("cube5d.fits", "(2, 1, 1, 64, 64)", "2-D celestial plane")),
    Case("predict-unit-kelvin", lambda i: i.predict(i.image("kelvin.fits", BUNIT="K")),
         ("kelvin.fits", "BUNIT='K'", "Jy/beam")),
    Case("predict-unit-jy-per-pixel", lambda i: i.predict(i.image("per_pixel.fits", BUNIT="Jy/pixel")),
         ("per_pixel.fits", "BUNIT='Jy/pixel'")),
    Case("predict-no-cdelt", lambda i: i.predict(i.image("no_cdelt.fits", CDELT1=None, CDELT2=None)),
         ("no_cdelt.fits", "no pixel size", "CDELT1")),
    Case("predict-cdelt-zero", lambda i: i.predict(i.image("flat_grid.fits", CDELT1=0.0, CDELT2=0.0)),
         ("flat_grid.fits", "invalid WCS", "singular")),
    Case("predict-no-celestial-wcs",
         lambda i: i.predict(i.image("no_wcs.fits", CTYPE1=None, CTYPE2=None, CRVAL1=None, CRVAL2=None)),
         ("no_wcs.fits", "no celestial WCS")),
    Case("predict-table-only", _table_only, ("sources_table.fits", "no image", "BinTableHDU")),
    Case("predict-truncated", _truncated, ("truncated.fits", "truncated")),
    Case("predict-corrupt-gzip", _corrupt_gzip, ("corrupt.fits.gz", "not a readable FITS")),
    Case("predict-not-fits", lambda i: i.predict(i.text("notes.fits", "observing notes\n")),
         ("notes.fits", "not a readable FITS")),
]

MODEL_CASES = [
    Case("model-corrupt-header", lambda i: i.predict(i.image(), options=["--model", str(_corrupt_header_model(i))]),
         ("bad_header.safetensors", "not a readable safetensors")),
    Case("model-other-architecture",
         lambda i: i.predict(i.image(), options=["--model", str(_other_architecture_model(i))]),
         ("other_arch.safetensors", "another architecture")),
    Case("model-without-card", _model_without_card, ("no_card.safetensors", "without a radiounet model card")),
    Case("model-checksum-mismatch", _checksum_mismatch, (f"{store.DEFAULT_MODEL}.safetensors", "sha256",
                                                          "does not match")),
    Case("model-missing", lambda i: i.predict(i.image(), options=["--model", str(i.path("gone.safetensors"))]),
         ("gone.safetensors", "no such model file")),
    Case("model-card-not-json", lambda i: _model_with_card(i, "bad_json.safetensors", lambda card: "{not json"),
         ("bad_json.safetensors", "model card is not valid JSON")),
    Case("model-card-without-sampling",
         lambda i: _model_with_card(i, "no_sampling.safetensors", lambda card: dict(card, native_sampling=None)),
         ("no_sampling.safetensors", "lacks native_sampling")),
    Case("model-card-architecture-as-text",
         lambda i: _model_with_card(i, "text_arch.safetensors", lambda card: dict(card, architecture="unet")),
         ("text_arch.safetensors", "architecture is a str, not a dict")),
    Case("finetune-gated-model", lambda i: i.finetune(*zip(_finetune_pair(i)), "--model", "lotss-gated-v1"),
         ("lotss-gated-v1", "gated model")),
    Case("finetune-other-architecture",
         lambda i: i.finetune(*zip(_finetune_pair(i)), "--model", str(_other_architecture_model(i))),
         ("other_arch.safetensors", "another architecture")),
]

OUTPUT_CASES = [
    Case("predict-disk-full", _predict_on_a_full_disk, ("img.prob.fits", "no space left on device")),
    Case("simulate-disk-full", _simulate_on_a_full_disk, ("simulation.json", "no space left on device")),
    Case("simulate-read-only-folder", _simulate_into_a_read_only_folder, ("results", "permission denied")),
    Case("predict-read-only-folder", _predict_into_a_read_only_folder, ("results", "permission denied")),
    *([] if torch.cuda.is_available() else [
        Case("predict-device-cuda-without-gpu", lambda i: i.predict(i.image(), options=["--device", "cuda"]),
             ("device='cuda'", "sees none"))]),
    Case("predict-out-is-a-file", _file_as_output_folder(lambda i: i.predict(i.image())),
         ("results", "is a file, not a folder")),
    Case("detect-out-is-a-file", _file_as_output_folder(lambda i: i.detect(i.catalog())),
         ("results", "is a file, not a folder")),
    Case("train-out-is-a-file", _file_as_output_folder(lambda i: i.train(i.text("ok.toml", ""))),
         ("results", "is a file, not a folder")),
]

OPTION_CASES = [
    Case("simulate-beam-larger-than-field", lambda i: i.simulate("--bmaj", "1 deg"),
         ("bmaj", "3600 arcsec", "larger than 1/4 of the field")),
    Case("simulate-infinite-position-angle", lambda i: i.simulate("--bpa", "inf"), ("bpa=inf", "finite angle")),
    Case("dataset-negative-seed",
         lambda i: ["dataset", "--out", str(i.out), "--n-fields", "2", "--seed", "-1", "--no-progress"],
         ("seed=-1", "non-negative")),
    Case("simulate-negative-pixel-scale", lambda i: i.simulate("--pixel-scale", "-1"), ("pixel_scale", "positive")),
    Case("simulate-reversed-redshift-range", lambda i: i.simulate("--redshift-range", "0.6", "0.1"),
         ("redshift", "0 < low <= high")),
    Case("inject-reversed-flux-range", lambda i: i.inject(i.image(), options=["--flux-range", "300,2"]),
         ("flux-range", "MIN < MAX")),
    Case("evaluate-threshold-above-1", lambda i: i.evaluate(i.detections(), _truth(i), "--threshold", "1.5"),
         ("--threshold", "between 0 and 1")),
    Case("predict-tile-below-two-bottom-pixels", lambda i: i.predict(i.image(), options=["--tile", "4"]),
         ("tile=4", "at least 8")),
    Case("predict-empty-folder", lambda i: i.predict(i.subfolder("empty")), ("no FITS image", "empty")),
    Case("predict-two-images-of-one-stem",
         lambda i: i.predict(i.image(), i.subfolder("other") / i.image("other/img.fits").name),
         ("other/img.fits", "would overwrite those of", "img.fits")),
    Case("detect-r500-unit-without-column", lambda i: i.detect(i.catalog(), options=["--r500-unit", "arcsec"]),
         ("--r500-unit", "--r500-column")),
    Case("detect-ratio-threshold-above-1", lambda i: i.detect(i.catalog(), options=["--ratio-threshold", "2"]),
         ("ratio-threshold=2.0", "below 1")),
    Case("inject-image-all-blank",
         lambda i: i.inject(i.image("blank.fits", np.full((SIZE, SIZE), np.nan, np.float32))),
         ("blank.fits", "every pixel is blank")),
    Case("inject-image-all-zero", lambda i: i.inject(i.image("zeros.fits", np.zeros((SIZE, SIZE), np.float32))),
         ("zeros.fits", "constant")),
    Case("inject-sites-with-a-catalogue",
         lambda i: i.inject(i.image(), options=["--catalog", str(i.catalog()), "--sites", "3"]),
         ("--sites and --catalog exclude each other",)),
    Case("inject-r500-and-m500", lambda i: i.inject(i.image(), options=["--m500", "5e14 Msun"]),
         ("--r500 and --m500 exclude each other",)),
    Case("inject-negative-seed", lambda i: i.inject(i.image(), options=["--seed", "-1"]), ("seed=-1", ">= 0")),
    Case("inject-negative-r500", lambda i: i.inject(i.image(), options=["--r500", "-200"]), ("r500", "positive")),
    Case("evaluate-class-both-positive-and-negative",
         lambda i: i.evaluate(i.detections(), _truth(i), "--positive", "RH,NDE", "--negative", "NDE"),
         ("--positive", "--negative", "no class both")),
    Case("evaluate-no-name-in-the-truth",
         lambda i: i.evaluate(i.detections(), _truth(i, name=["B1", "B2"], **{"class": ["RH", "NDE"]})),
         ("detections.ecsv against", "truth.csv", "no cluster with a positive or negative truth class",
          "2 have none")),
    Case("evaluate-no-truth-mask-of-the-same-stem",
         lambda i: ["evaluate", "--predictions", str(i.image("a.prob.fits")), "--truth-masks",
                    str(i.image("b.mask.fits")), "--out", str(i.out)],
         ("none of the 1 probability maps", "a.prob.fits", "b.mask.fits")),
    Case("evaluate-no-bootstrap", lambda i: i.evaluate(i.detections(), _truth(i), "--bootstrap", "0"),
         ("bootstrap=0", "positive integer")),
    Case("detect-unknown-r500-unit",
         lambda i: i.detect(i.catalog(R500=[1000.0]), options=["--r500-column", "R500", "--r500-unit", "kpcs"]),
         ("r500-unit", "'kpcs'", "length")),
]

CONFIG_CASES = [
    Case("train-unknown-preset", lambda i: i.train(i.text("ok.toml", ""), "--set", "data.preset=custom"),
         ("--set: data.preset must be 'randomised' or a survey preset", "data.source = 'shards'")),
    Case("train-unknown-key", lambda i: i.train(i.text("typo.toml", "[training]\nepoch = 3\n")),
         ("typo.toml", "unknown key training.epoch")),
    Case("train-unknown-section", lambda i: i.train(i.text("section.toml", "[trainer]\nepochs = 3\n")),
         ("section.toml", "unknown section [trainer]")),
    Case("train-text-for-integer", lambda i: i.train(i.text("text.toml", "[training]\nepochs = 'ten'\n")),
         ("text.toml", "training.epochs must be an integer", "'ten'")),
    Case("train-fraction-for-integer", lambda i: i.train(i.text("fraction.toml", "[model]\ndepth = 2.5\n")),
         ("fraction.toml", "model.depth must be an integer", "2.5")),
    Case("train-number-for-boolean", lambda i: i.train(i.text("flag.toml", "[training]\namp = 1\n")),
         ("flag.toml", "training.amp must be true or false")),
    Case("train-invalid-toml", lambda i: i.train(i.text("broken.toml", "[training\nepochs = 3\n")),
         ("broken.toml", "not valid TOML")),
    Case("train-missing-config", lambda i: i.train(i.path("absent.toml")), ("absent.toml", "no such file")),
    Case("train-set-unknown-key", lambda i: i.train(i.text("ok.toml", ""), "--set", "training.epoch=3"),
         ("--set", "unknown key training.epoch")),
    Case("train-set-without-value", lambda i: i.train(i.text("ok.toml", ""), "--set", "training.epochs"),
         ("--set", "section.key=value")),
    Case("train-zero-epochs", lambda i: i.train(i.text("zero.toml", "[training]\nepochs = 0\n")),
         ("zero.toml", "training.epochs must be positive")),
    Case("train-set-nan-learning-rate", lambda i: i.train(i.text("ok.toml", ""), "--set", "training.learning_rate=nan"),
         ("--set", "training.learning_rate must be a finite number")),
    Case("train-short-redshift-range", lambda i: i.train(i.text("short.toml", "[data]\nredshift = [0.1]\n")),
         ("short.toml", "data.redshift must be like [0.05, 0.6]")),
    Case("train-negative-workers", lambda i: i.train(i.text("ok.toml", ""), "--set", "training.workers=-3"),
         ("--set", "training.workers must be at least 0")),
    Case("model-info-set-without-config", lambda i: ["model-info", "--set", "training.epochs=3"],
         ("--set", "--config")),
    Case("train-corrupt-init-model",
         lambda i: i.train(i.text("init.toml", f"[training]\ninit_model = '{_corrupt_header_model(i)}'\n")),
         ("bad_header.safetensors", "not a readable safetensors")),
    Case("finetune-set-unknown-key", lambda i: i.finetune(*zip(_finetune_pair(i)), "--set", "training.epoch=3"),
         ("--set", "unknown key training.epoch")),
    Case("finetune-mask-on-another-grid",
         lambda i: i.finetune(*zip(_finetune_pair(i, mask_shape=(SIZE, SIZE + 8)))),
         ("train.mask.fits", "mask shape (64, 72)", "(64, 64)")),
    Case("finetune-image-smaller-than-a-tile",
         lambda i: i.finetune(*zip(_finetune_pair(i, image_shape=(32, 32), mask_shape=(32, 32)))),
         ("train.fits", "smaller than a tile")),
    Case("finetune-class-labels-as-mask",
         lambda i: i.finetune([i.image("train.fits")], [i.image(
             "train.labels.fits", (np.arange(SIZE * SIZE) % 5).reshape(SIZE, SIZE).astype(np.float32), BUNIT=None)]),
         ("train.labels.fits", "holds the values 0, 1, 2, 3, 4", "not a mask")),
    Case("finetune-validation-images-without-masks",
         lambda i: i.finetune(*zip(_finetune_pair(i)), "--val-images", str(i.image("val.fits"))),
         ("--val-images", "--val-masks")),
    Case("finetune-freeze-below-zero", lambda i: i.finetune(*zip(_finetune_pair(i)), "--freeze-levels", "-2"),
         ("freeze-levels", "between 0 and the model's depth (2)")),
    Case("finetune-one-mask-for-two-images",
         lambda i: i.finetune([_finetune_pair(i)[0], i.image("other.fits")], [i.path("train.mask.fits")]),
         ("--masks", "one mask per image")),
]

CATALOG_CASES = [
    Case("detect-catalogue-missing-columns", lambda i: i.detect(i.catalog("no_z.csv", REDSHIFT=None)),
         ("no_z.csv", "no column REDSHIFT")),
    Case("detect-catalogue-empty", lambda i: i.detect(i.catalog("empty.csv", NAME=[], RA=[], DEC=[], REDSHIFT=[],
                                                                 MSZ=[])),
         ("empty.csv", "no rows")),
    Case("detect-catalogue-no-usable-position",
         lambda i: i.detect(i.catalog("nowhere.csv", NAME=["A1", "A2"], RA=["here", ""], DEC=[30.0, 95.0],
                                      REDSHIFT=[0.2, 0.3], MSZ=[4.0, 5.0])),
         ("nowhere.csv", "no row has a usable position", "RA", "DEC")),
    Case("detect-catalogue-nothing-measurable",
         lambda i: i.detect(i.catalog("no_redshift.csv", NAME=["A1", "A2"], RA=[150.0, 150.01], DEC=[30.0, 30.0],
                                      REDSHIFT=[-1.0, -1.0], MSZ=[4.0, 5.0])),
         ("no_redshift.csv", "none of the 2 clusters can be measured", "2 no_redshift")),
    Case("detect-catalogue-not-a-table", lambda i: i.detect(i.text("binary.csv", "\x00\x01\x02 not a table")),
         ("binary.csv", "not a readable table")),
    Case("detect-image-zero-beam", lambda i: i.detect(i.catalog(), i.image("zero_beam.fits", BMAJ=0.0, BMIN=0.0)),
         ("zero_beam.fits", "BMAJ=0 arcsec", "not positive")),
    Case("detect-image-huge-beam", lambda i: i.detect(i.catalog(), i.image("huge_beam.fits", BMAJ=1.0, BMIN=1.0)),
         ("huge_beam.fits", "larger than the image")),
    Case("inject-image-zero-beam", lambda i: i.inject(i.image("zero_beam.fits", BMAJ=0.0, BMIN=0.0)),
         ("zero_beam.fits", "BMAJ=0 arcsec", "not positive")),
    Case("inject-catalogue-nothing-measurable",
         lambda i: i.inject(i.image(), options=["--catalog", str(i.catalog("no_mass.csv", MSZ=[-3.0]))]),
         ("no_mass.csv", "none of the 1 clusters can be measured", "1 no_mass")),
    Case("evaluate-not-a-detections-table",
         lambda i: i.evaluate(i.table("detections.ecsv", name=["A1"], status=["ok"]), _truth(i)),
         ("detections.ecsv", "no column R, detected")),
    Case("evaluate-empty-detections",
         lambda i: i.evaluate(i.detections(name=[], R=[], detected=[], status=[]), _truth(i)),
         ("detections.ecsv", "no rows")),
    Case("evaluate-truth-without-class-column",
         lambda i: i.evaluate(i.detections(), _truth(i, name=["A1"], kind=["RH"])),
         ("truth.csv", "no column class")),
    Case("evaluate-unreadable-truth",
         lambda i: i.evaluate(i.detections(), i.text("truth.fits", "SIMPLE = T\n")),
         ("truth.fits", "not a readable table")),
]



def _cutouts(inputs, catalog=None, *options, template="http://127.0.0.1:9/c.fits?pos={ra},{dec}"):
    """``radio-unet cutouts`` against a port where nothing listens: every case must stop before any request."""
    return ["cutouts", "--catalog", str(catalog or inputs.catalog()), "--survey", "custom", "--url-template", template,
            "--out", str(inputs.out), "--no-progress", *options]


CUTOUT_CASES = [
    Case("cutouts-template-without-position", lambda i: _cutouts(i, template="http://127.0.0.1:9/c.fits?size=3"),
         ("url_template", "must contain {ra} and {dec}")),
    Case("cutouts-template-unknown-field", lambda i: _cutouts(i, template="http://h/c?pos={ra},{dec}&f={freq}"),
         ("url_template", "unknown: freq")),
    Case("cutouts-custom-survey-without-template",
         lambda i: ["cutouts", "--catalog", str(i.catalog()), "--survey", "custom", "--out", str(i.out)],
         ("survey", "--url-template")),
    Case("cutouts-catalogue-missing-columns", lambda i: _cutouts(i, i.catalog("no_ra.csv", RA=None)),
         ("no_ra.csv", "no column RA")),
    Case("cutouts-catalogue-empty",
         lambda i: _cutouts(i, i.catalog("empty.csv", NAME=[], RA=[], DEC=[], REDSHIFT=[], MSZ=[])),
         ("empty.csv", "no rows")),
    Case("cutouts-zero-size", lambda i: _cutouts(i, None, "--size", "0"), ("size", "positive")),
    Case("cutouts-size-not-an-angle", lambda i: _cutouts(i, None, "--size", "3 kpc"), ("size", "arcmin")),
    Case("cutouts-zero-workers", lambda i: _cutouts(i, None, "--workers", "0"), ("workers", "positive integer")),
    Case("cutouts-negative-retries", lambda i: _cutouts(i, None, "--retries", "-1"), ("retries", ">= 0")),
    Case("cutouts-out-is-a-file", _file_as_output_folder(lambda i: _cutouts(i)), ("results", "is a file")),
    Case("detect-url-template-without-fetch",
         lambda i: i.detect(i.catalog(), options=["--url-template", "http://h/c?pos={ra},{dec}"]),
         ("--url-template", "go with --fetch")),
    Case("detect-neither-images-nor-fetch",
         lambda i: ["detect", "--catalog", str(i.catalog()), "--out", str(i.out), "--no-progress"],
         ("--images", "--fetch")),
]

ERROR_CASES = (IMAGE_CASES + MODEL_CASES + OUTPUT_CASES + OPTION_CASES + CONFIG_CASES + CATALOG_CASES
               + CUTOUT_CASES)


def _left_in(folder):
    """Everything under ``folder`` (an empty folder made before the error counts as nothing)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.is_dir() else []


@pytest.mark.parametrize("case", [pytest.param(case, id=case.id) for case in ERROR_CASES])
def test_bad_input_gives_one_line_exit_2_and_writes_nothing(case, tmp_path, tiny_model, monkeypatch, capsys):
    inputs = Inputs(tmp_path, tiny_model, monkeypatch)
    argv = case.build(inputs)
    status = main(argv)
    err = capsys.readouterr().err
    assert status == 2, err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("radio-unet: error: "), err
    missing = [words for words in case.expected if words.lower() not in lines[0].lower()]
    assert not missing, f"{lines[0]!r} lacks {missing}"
    assert _left_in(inputs.out) == []


def test_enough_cases_for_every_command():
    commands = {case.id.split("-")[0] for case in ERROR_CASES}
    assert len(ERROR_CASES) >= 30
    assert {"simulate", "train", "finetune", "predict", "detect", "inject", "evaluate", "cutouts"} <= commands


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_really_read_only_folder_is_refused(tmp_path, tiny_model, capsys):
    inputs = Inputs(tmp_path, tiny_model, None)
    inputs.out.mkdir(mode=0o555)
    assert main(inputs.predict(inputs.image())) == 2
    err = capsys.readouterr().err
    assert "results" in err and "permission denied" in err.lower() and len(err.splitlines()) == 1
    assert _left_in(inputs.out) == []


# Odd inputs that are not errors: each is read as a radio astronomer would expect.

def _gzip(inputs):
    path = inputs.image("field.fits")
    inputs.path("field.fits.gz").write_bytes(gzip.compress(path.read_bytes()))
    path.unlink()
    return inputs.path("field.fits.gz")


def _table_then_image(inputs):
    hdus = [fits.PrimaryHDU(), fits.BinTableHDU(Table({"flux": [1.0]})),
            fits.ImageHDU(_noise(), _header(), name="IMAGE")]
    fits.HDUList(hdus).writeto(inputs.path("field.fits"))
    return inputs.path("field.fits")


def _degenerate_5d(inputs):
    wcs = WCS(naxis=5)
    wcs.wcs.ctype = ["RA---SIN", "DEC--SIN", "FREQ", "STOKES", "TIME"]
    wcs.wcs.crval = [150.0, 30.0, 1.44e8, 1.0, 0.0]
    wcs.wcs.crpix = [SIZE / 2, SIZE / 2, 1, 1, 1]
    wcs.wcs.cdelt = [-PIXEL_ARCSEC / 3600, PIXEL_ARCSEC / 3600, 1e6, 1.0, 1.0]
    header = wcs.to_header()
    header.update(BUNIT="Jy/beam", BMAJ=6 / 3600, BMIN=6 / 3600)
    fits.PrimaryHDU(_noise()[None, None, None], header).writeto(inputs.path("field.fits"))
    return inputs.path("field.fits")


def _inf_pixels(inputs):
    data = _noise()
    data[10:20, 30:40] = np.inf
    return inputs.image("field.fits", data)


#: Read as they are: .fits.gz; the first image HDU after a table; extra axes of length 1 dropped; Inf pixels
#: blank like NaN (no probability there); BMIN > BMAJ, the same beam with its axes named the other way round.
WORKING_IMAGES = {
    "gzip-compressed": _gzip,
    "table-hdu-before-the-image": _table_then_image,
    "degenerate-5d-cube": _degenerate_5d,
    "inf-pixels-are-blanks": _inf_pixels,
    "bmin-above-bmaj": lambda i: i.image("field.fits", BMAJ=5 / 3600, BMIN=6 / 3600),
}


@pytest.mark.parametrize("build", WORKING_IMAGES.values(), ids=WORKING_IMAGES.keys())
def test_odd_but_valid_images_are_segmented(build, tmp_path, tiny_model, monkeypatch, capsys):
    inputs = Inputs(tmp_path, tiny_model, monkeypatch)
    path = build(inputs)
    assert main(inputs.predict(path)) == 0, capsys.readouterr().err
    probability = fits.getdata(inputs.out / "field.prob.fits")
    assert probability.shape == (SIZE, SIZE)
    with read_radio_image(path) as image:
        blank = ~np.isfinite(np.asarray(image.data))
        assert image.beam.major.to_value(u.arcsec) == pytest.approx(6.0)
    assert np.array_equal(np.isnan(probability), blank)


def test_beam_axes_named_the_other_way_round_turn_the_position_angle(tmp_path):
    inputs = Inputs(tmp_path, None, None)
    with read_radio_image(inputs.image(BMAJ=5 / 3600, BMIN=6 / 3600, BPA=10.0)) as image:
        beam = image.beam
    assert beam.major.to_value(u.arcsec) == pytest.approx(6.0) and beam.minor.to_value(u.arcsec) == pytest.approx(5.0)
    assert beam.pa.to_value(u.deg) == pytest.approx(100.0)


def test_unusable_catalogue_rows_get_a_status_and_sexagesimal_positions_are_read(tmp_path):
    inputs = Inputs(tmp_path, None, None)
    path = inputs.catalog(
        NAME=["ok", "nan_ra", "negative_z", "negative_mass", "ok", "sexagesimal", "dec_beyond_pole", "hms"],
        RA=["150.0", "nan", "150.0", "150.0", "151.0", "10:00:00.0", "150.0", "10h00m36s"],
        DEC=["30.0", "30.0", "30.0", "30.0", "31.0", "+30:00:00", "95.0", "-05d30m00s"],
        REDSHIFT=[0.2, 0.2, -0.1, 0.2, 0.2, 0.2, 0.2, 0.2], MSZ=[4.0, 4.0, 4.0, -2.0, 4.0, 4.0, 4.0, 4.0])
    table = read_cluster_catalog(path)
    assert list(table["status"]) == ["ok", "no_position", "no_redshift", "no_mass", "duplicate_name", "ok",
                                     "no_position", "ok"]
    assert table["ra"][5].to_value(u.deg) == pytest.approx(150.0) and table["dec"][5].to_value(u.deg) == 30.0
    assert table["ra"][7].to_value(u.deg) == pytest.approx(150.15) and table["dec"][7].to_value(u.deg) == -5.5


def test_detect_measures_the_clusters_it_can_and_exits_2_naming_the_others(tmp_path, tiny_model, capsys):
    inputs = Inputs(tmp_path, tiny_model, None)
    blank = inputs.image("blank.fits", np.full((SIZE, SIZE), np.nan, np.float32))
    catalog = inputs.catalog(NAME=["A1"], RA=[150.0], DEC=[30.0], REDSHIFT=[0.2], MSZ=[4.0])
    assert main(inputs.detect(catalog, blank)) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "1 cluster(s) could not be measured" in err[0] and "every pixel is blank" in err[0]
    table = read_table(inputs.out / "detections.ecsv")
    assert str(table["status"][0]).startswith("error:")


def test_outputs_made_otherwise_are_not_taken_for_done(tmp_path, tiny_model, capsys):
    inputs = Inputs(tmp_path, tiny_model, None)
    image = inputs.image()
    assert main(inputs.predict(image)) == 0
    assert main(inputs.predict(image, options=["--threshold", "0.3"])) == 2
    err = capsys.readouterr().err
    assert "img.prob.fits: made with model tiny.safetensors" in err and "at threshold 0.5, no --redshift, not" in err
    assert main(inputs.predict(image, options=["--threshold", "0.3", "--overwrite"])) == 0
    assert fits.getheader(inputs.out / "img.prob.fits")["RUTHRESH"] == 0.3
    weights = load_file(str(tiny_model))
    retrained = inputs.model_with("tiny.safetensors", state={k: v + 0.01 for k, v in weights.items()})
    assert main(inputs.predict(image, options=["--threshold", "0.3", "--model", str(retrained)])) == 2
    assert "made with model tiny.safetensors (sha256" in capsys.readouterr().err  # same file name, other weights
    # Sizes in kpc at another redshift, or maps without the 8 views: not the outputs asked for either.
    assert main(inputs.predict(image, options=["--threshold", "0.3", "--redshift", "0.2"])) == 2
    assert "no --redshift, not model tiny.safetensors" in capsys.readouterr().err
    assert main(inputs.predict(image, options=["--threshold", "0.3", "--redshift", "0.2", "--overwrite"])) == 0
    assert main(inputs.predict(image, options=["--threshold", "0.3", "--redshift", "0.2"])) == 0  # the same: done
    assert main(inputs.predict(image, options=["--threshold", "0.3", "--redshift", "0.2", "--tta"])) == 0
    assert main(inputs.predict(image, options=["--threshold", "0.3", "--redshift", "0.2"])) == 2
    assert "with --tta, redshift 0.2, not model" in capsys.readouterr().err
    header = fits.getheader(inputs.out / "img.prob.fits")
    assert header["RUTTA"] and header["RUZ"] == 0.2 and 0 < header["RURMS"] < 1e-2
    assert read_table(inputs.out / "img.sources.ecsv").meta["rms_jy_per_beam"] == pytest.approx(header["RURMS"])
    with fits.open(inputs.out / "img.prob.fits", mode="update") as hdul:  # maps of a version without these cards
        del hdul[0].header["RUTTA"], hdul[0].header["RUZ"]
    assert main(inputs.predict(image, options=["--threshold", "0.3", "--redshift", "0.5"])) == 0  # taken as done


def test_maps_of_a_run_model_name_its_run_and_are_told_apart_by_its_weights(tmp_path, tiny_model, capsys):
    inputs = Inputs(tmp_path, tiny_model, None)
    image = inputs.image()
    for run in ("run-a", "copy", "run-b"):
        inputs.subfolder(run)
    first = inputs.model_with("run-a/model.safetensors")
    assert main(inputs.predict(image, options=["--model", str(first)])) == 0
    assert fits.getheader(inputs.out / "img.prob.fits")["RUMODEL"] == "run-a/model.safetensors"
    copy = inputs.model_with("copy/model.safetensors")  # the same weights elsewhere: the same maps, done
    assert main(inputs.predict(image, options=["--model", str(copy)])) == 0 and "1 skipped" in capsys.readouterr().out
    weights = load_file(str(tiny_model))
    other = inputs.model_with("run-b/model.safetensors", state={k: v + 0.01 for k, v in weights.items()})
    assert main(inputs.predict(image, options=["--model", str(other)])) == 2
    assert "made with model run-a/model.safetensors (sha256" in capsys.readouterr().err


def test_sizes_no_cluster_has_are_taken_for_unit_errors(tmp_path):
    inputs = Inputs(tmp_path, None, None)
    path = inputs.catalog(NAME=["ok", "arcsec_for_arcmin", "kpc_for_pc", "z_typo"], RA=[150.0] * 4, DEC=[30.0] * 4,
                          REDSHIFT=[0.2, 0.2, 0.2, 25.0], R500=[300.0, 1e6, 1.2e6, 300.0], MSZ=None)
    table = read_cluster_catalog(path, r500="R500", r500_unit="arcsec")
    assert list(table["status"]) == ["ok", "no_r500", "no_r500", "ok"]  # an angular R500 needs no redshift
    table = read_cluster_catalog(path, r500="R500", r500_unit="kpc")
    assert list(table["status"]) == ["ok", "no_r500", "no_r500", "no_redshift"]
    assert np.isfinite(table["r500_kpc"][0]) and np.all(np.isnan(table["r500_kpc"][1:3]))  # no R500 from a unit error
    masses = read_cluster_catalog(inputs.catalog("masses.csv", NAME=["1e14", "Msun"], RA=[150.0] * 2, DEC=[30.0] * 2,
                                                 REDSHIFT=[0.2] * 2, MSZ=[4.0, 4e14]))
    assert list(masses["status"]) == ["ok", "no_mass"] and np.isnan(masses["r500_arcsec"][1])


def test_a_killed_predict_batch_resumes_without_redoing_finished_images(tmp_path, tiny_model, monkeypatch, capsys):
    inputs = Inputs(tmp_path, tiny_model, monkeypatch)
    images = [inputs.image(f"field{k}.fits", _noise() * (k + 1)) for k in range(3)]
    segmented = []
    predict = Predictor.predict

    def killed_at_the_second(self, image, **kwargs):
        segmented.append(Path(image.path).name)
        if len(segmented) == 2:
            raise KeyboardInterrupt
        return predict(self, image, **kwargs)

    def counted(self, image, **kwargs):
        segmented.append(Path(image.path).name)
        return predict(self, image, **kwargs)

    monkeypatch.setattr(Predictor, "predict", killed_at_the_second)
    assert main(inputs.predict(*images)) == 130
    assert "rerun the same command to resume" in capsys.readouterr().err
    # The first image's outputs are complete (written while the second was segmented), the second left nothing.
    assert _left_in(inputs.out) == [f"field0.{suffix}" for suffix in ("mask.fits", "png", "prob.fits", "reg",
                                                                      "sources.ecsv")]
    stamps = {p.name: p.stat().st_mtime_ns for p in inputs.out.iterdir()}
    killed = inputs.out / ".field1.prob.fits.k3x9.tmp"  # what a SIGKILL mid-write leaves
    killed.write_bytes(b"SIMPLE  =")
    segmented.clear()
    monkeypatch.setattr(Predictor, "predict", counted)
    assert main(inputs.predict(*images)) == 0
    assert segmented == ["field1.fits", "field2.fits"] and not killed.exists()
    assert {p.name: p.stat().st_mtime_ns for p in inputs.out.glob("field0.*")} == stamps
    assert "1 skipped" in capsys.readouterr().out


def test_temporary_files_of_a_killed_run_go_when_its_outputs_are_written_again(tmp_path, capsys):
    inputs = Inputs(tmp_path, None, None)
    inputs.out.mkdir()
    killed = inputs.out / ".field_00000.fits.k3x9.tmp"  # what a SIGKILL of simulate mid-write leaves
    killed.write_bytes(b"SIMPLE  =")
    at_work = inputs.out / ".field_00000.fits.w7q2.tmp"  # a writer that has just started (younger than this run)
    at_work.write_bytes(b"")
    later = time.time() + 3600
    os.utime(at_work, (later, later))
    other = inputs.out / ".notes.txt.a1b2.tmp"
    other.write_bytes(b"")
    assert main(inputs.simulate("--n-fields", "1")) == 0, capsys.readouterr().err
    assert (inputs.out / "field_00000.fits").exists()
    assert not killed.exists() and at_work.exists() and other.exists()


@pytest.mark.parametrize("bunit, jy_per_unit", [("JY/BEAM", 1.0), ("mJy/beam", 1e-3), ("Jy beam-1", 1.0),
                                                ("mJy beam-1", 1e-3), ("uJy/beam", 1e-6)])
def test_brightness_units_are_read_in_any_usual_spelling(bunit, jy_per_unit, tmp_path):
    with read_radio_image(Inputs(tmp_path, None, None).image(BUNIT=bunit)) as image:
        assert image.jy_per_unit == pytest.approx(jy_per_unit)


def test_a_mass_unit_is_given_as_a_unit_or_a_quantity(tmp_path, tiny_model, capsys):
    inputs = Inputs(tmp_path, tiny_model, None)
    image = inputs.image()
    r500 = {}
    for unit, mass in (("Msun", 4e14), ("1e14 solMass", 4.0)):
        inputs.out = tmp_path / unit.replace(" ", "_")
        catalog = inputs.catalog(f"{inputs.out.name}.csv", MSZ=[mass])
        assert main(inputs.detect(catalog, image, options=["--mass-unit", unit])) == 0, capsys.readouterr().err
        r500[unit] = read_table(inputs.out / "detections.ecsv")["r500_kpc"][0]
    assert r500["Msun"] == pytest.approx(r500["1e14 solMass"]) and 500 < r500["Msun"] < 2000
    assert main(inputs.detect(catalog, image, options=["--mass-unit", "kpc"])) == 2
    assert "invalid mass-unit='kpc'" in capsys.readouterr().err


def test_a_cd_matrix_is_regridded_as_cdelt_is_and_quietly(tmp_path, tiny_model, recwarn, capsys):
    inputs = Inputs(tmp_path, tiny_model, None)
    pixel = 2.0  # 3 pixels per beam: regridded to the model's 4
    cdelt = inputs.image("cdelt.fits", pixel_arcsec=pixel)
    cd = inputs.image("cd.fits", pixel_arcsec=pixel, CDELT1=None, CDELT2=None, CD1_1=-pixel / 3600, CD1_2=0.0,
                      CD2_1=0.0, CD2_2=pixel / 3600)
    assert main(inputs.predict(cdelt, cd)) == 0, capsys.readouterr().err
    np.testing.assert_allclose(fits.getdata(inputs.out / "cd.prob.fits"), fits.getdata(inputs.out / "cdelt.prob.fits"),
                               atol=1e-6)
    assert not [w for w in recwarn if "cd is present" in str(w.message)]


def test_an_image_without_diffuse_emission_gets_a_region_file_that_says_so(tmp_path, tiny_model, capsys):
    from regions import Regions

    inputs = Inputs(tmp_path, tiny_model, None)
    assert main(inputs.predict(inputs.image(), options=["--threshold", "0.9999"])) == 0, capsys.readouterr().err
    assert len(read_table(inputs.out / "img.sources.ecsv")) == 0
    assert (inputs.out / "img.reg").read_text().startswith("# Region file format: DS9")
    assert len(Regions.read(str(inputs.out / "img.reg"), format="ds9")) == 0


def test_the_beam_of_a_casa_image_may_come_from_its_beams_table(tmp_path):
    inputs = Inputs(tmp_path, None, None)
    header = _header()
    del header["BMAJ"], header["BMIN"], header["BPA"]
    header["CASAMBM"] = True
    beams = fits.BinTableHDU.from_columns(
        [fits.Column(name="BMAJ", format="E", unit="arcsec", array=np.array([7.5])),
         fits.Column(name="BMIN", format="E", unit="arcsec", array=np.array([6.0])),
         fits.Column(name="BPA", format="E", unit="deg", array=np.array([30.0])),
         fits.Column(name="CHAN", format="J", array=np.array([0])),
         fits.Column(name="POL", format="J", array=np.array([0]))], name="BEAMS")
    fits.HDUList([fits.PrimaryHDU(_noise(), header), beams]).writeto(inputs.path("casa.fits"))
    with read_radio_image(inputs.path("casa.fits")) as image:
        assert image.beam.major.to_value(u.arcsec) == pytest.approx(7.5)
        assert image.beam.minor.to_value(u.arcsec) == pytest.approx(6.0) and image.beam.pa.to_value(u.deg) == 30.0


def test_finetuning_images_sampled_otherwise_than_the_model_are_warned_of(tmp_path, tiny_model, capsys):
    inputs = Inputs(tmp_path, tiny_model, None)
    image = inputs.image("train.fits", _noise(), pixel_arcsec=2.0)  # 3 pixels per 6" beam; the model's are 4
    mask = inputs.image("train.mask.fits", np.zeros((SIZE, SIZE), np.float32), BUNIT=None)
    assert main(inputs.finetune([image], [mask])) == 0
    assert "train.fits: 3.0 pixels per beam FWHM, the model's 4.0; predict regrids" in capsys.readouterr().err


def test_inject_says_when_its_aperture_runs_off_the_image(tmp_path, tiny_model, capsys):
    inputs = Inputs(tmp_path, tiny_model, None)
    # R > 0 holds everywhere: every site is detected without a halo; 2.2 R500 (66") runs off a 96" image.
    assert main(inputs.inject(inputs.image(), options=["--ratio-threshold", "0"])) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "so there is no completeness curve; the aperture runs off the image (median coverage 0." in out
