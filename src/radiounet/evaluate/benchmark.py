"""The benchmark: a model measured on skies it never saw.

Every figure comes from whole images segmented exactly as ``radio-unet predict``
segments them (:meth:`radiounet.inference.Predictor.predict`: regridding to the
model's sampling, noise mesh, sliding window, the model's own threshold):

1. **surveys and scales** (:data:`BENCHMARK_SETUPS`): the project's simulator
   at LoTSS-DR2 6", 20", a 60" taper (compact sources subtracted, as such
   tapers are made) and MeerKAT MGCLS, clusters at redshifts 0.02-0.9; or
   any survey of one's own (``setups``);
2. **a held-out family**: the same setups drawn by :mod:`radiounet.sky.heldout`,
   a generator never used in training (other halos, relics, radio galaxies and noise);
3. **real noise**: mock halos injected into real survey images without a
   cluster (:mod:`radiounet.evaluate.injection`): completeness at fixed flux
   density per halo size;
4. **real skies**: labelled real images (a folder with ``labels.csv``) and the
   real images bundled with the tests, when they are there.

:func:`run_benchmark` returns a :class:`BenchmarkResult`;
:func:`radiounet.evaluate.benchmark_report.write_benchmark` writes it as
ECSV, Markdown and a PNG panel.
"""

import hashlib
import json
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.table import Table, vstack
from tqdm import tqdm

from radiounet.detect.aperture import aperture_ratio
from radiounet.errors import InvalidParameterError, RadioUNetError
from radiounet.evaluate.benchmark_figures import IMAGE_COLUMNS, INTERVAL_FIGURES, setup_figures
from radiounet.evaluate.benchmark_report import Example
from radiounet.evaluate.real_skies import bundled_real_images, read_real_labels, real_sky_table
from radiounet.evaluate.synthetic import DIFFUSE_COUNTS, add_diffuse_counts, segment_simulated_field
from radiounet.io.atomic import atomic_path
from radiounet.io.tables import write_table
from radiounet.models.store import resolve_model_path, sha256_of
from radiounet.sky import FieldConfig, SkyConfig, field_rng, get_survey, simulate_field
from radiounet.sky.survey import Survey

__all__ = ["BENCHMARK_SETUPS", "BENCHMARK_FAMILIES", "BENCHMARK_SEED", "BenchmarkPlan", "PLANS", "BenchmarkResult",
           "run_benchmark", "benchmark_fields", "setup_seed", "score_setup", "injection_completeness",
           "SETUP_COLUMNS", "IMAGE_COLUMNS"]

#: Survey presets of the benchmark (``radio-unet presets``).
BENCHMARK_SETUPS = ("lotss-dr2-6", "lotss-dr2-20", "lotss-dr2-60", "meerkat-mgcls")
#: Sky generators: the training simulator and the held-out one.
BENCHMARK_FAMILIES = ("simulator", "heldout")
#: Seed of the benchmark's images; training and the other held-out sets use other seeds.
BENCHMARK_SEED = 555_000_001
#: Version of what a part of the benchmark holds: parts of another version are measured again.
_PART_VERSION = 6

#: Columns of the per-setup table, in order.
SETUP_COLUMNS = ("family", "setup", "survey", "beam_arcsec", "pixel_arcsec", "n_diffuse", "n_radio_galaxy", "size",
                 "dice", "precision", "recall", "halo_found", "relic_found", "halo_found_median", "relic_found_median",
                 "halo_labelled_radio_galaxy", "relic_labelled_radio_galaxy", "relic_lost_to_hesitation",
                 "radio_galaxy_called_mean", "radio_galaxy_called_p90",
                 "r_accuracy", "r_recall", "r_false_positive", "n_halo_pixels", "n_relic_pixels",
                 *(f"{name}_{end}" for name in INTERVAL_FIGURES for end in ("lo", "hi")))


@dataclass(frozen=True)
class BenchmarkPlan:
    """How many images of which size, and the injection test's settings.

    Attributes
    ----------
    name : str
    size : int
        Side of the simulated images in pixels (at each survey's own pixels).
    n_diffuse, n_radio_galaxy : int
        Images per setup and family with a halo and/or relics, and with radio galaxies only.
    redshift : tuple
        Cluster redshifts, drawn uniformly.
    injection_re_kpc, injection_flux_mjy : tuple
        Halo e-folding radii and flux densities (at the image's frequency) of the injection test.
    injection_sites_per_image : int
    injection_redshift : float
    injection_m500 : Quantity
    """

    name: str
    size: int
    n_diffuse: int
    n_radio_galaxy: int
    redshift: tuple = (0.02, 0.9)
    injection_re_kpc: tuple = (100.0, 200.0, 400.0)
    injection_flux_mjy: tuple = (30.0, 100.0)
    injection_sites_per_image: int = 2
    injection_redshift: float = 0.4
    injection_m500: u.Quantity = field(default_factory=lambda: 4e14 * u.Msun)


#: ``quick`` (tests, a first look) and ``default`` (the figures of record).
PLANS = {
    "quick": BenchmarkPlan("quick", size=128, n_diffuse=2, n_radio_galaxy=2, injection_re_kpc=(100.0,),
                           injection_flux_mjy=(100.0,), injection_sites_per_image=1),
    "default": BenchmarkPlan("default", size=512, n_diffuse=32, n_radio_galaxy=16),
}


@dataclass(repr=False)
class BenchmarkResult:
    """What :func:`run_benchmark` measured.

    Attributes
    ----------
    setups : astropy.table.Table
        One row per family and setup, columns :data:`SETUP_COLUMNS`.
    images : astropy.table.Table
        One row per simulated image, columns :data:`IMAGE_COLUMNS`.
    injection : astropy.table.Table
        Completeness per halo size and flux density (no rows without real noise images).
    real : astropy.table.Table
        One row per real image (``status`` says when one was absent).
    examples : dict
        ``(family, setup) -> {"diffuse": Example, "radio_galaxies": Example}`` and ``("real", name) -> ...``,
        for the PNG panel.
    meta : dict
        Model, plan, date, R threshold and notes (e.g. which parts were absent).
    """

    setups: Table
    images: Table
    injection: Table
    real: Table
    examples: dict
    meta: dict

    def __repr__(self):
        return (f"<BenchmarkResult of {self.meta.get('model')!r}, plan {self.meta.get('plan')!r}: "
                f"{len(self.setups)} setups, {len(self.images)} images, {len(self.injection)} injection rows, "
                f"{len(self.real)} real images>")


def benchmark_fields(family, survey, plan, diffuse, seed):
    """The ``plan``'s images of one family, setup and kind: ``SimulatedField`` objects, drawn lazily."""
    n = plan.n_diffuse if diffuse else plan.n_radio_galaxy
    if family == "simulator":
        sky = SkyConfig(fraction_diffuse=float(diffuse), fraction_radio_galaxies=float(not diffuse),
                        redshift=tuple(plan.redshift))
        config = FieldConfig(survey, shape=(plan.size, plan.size), sky=sky)
        for i in range(n):
            yield simulate_field(config, field_rng(seed, i))
    elif family == "heldout":
        from radiounet.sky.heldout import HeldOutConfig, simulate_heldout_field

        config = HeldOutConfig(survey, shape=(plan.size, plan.size), redshift=tuple(plan.redshift))
        for i in range(n):
            yield simulate_heldout_field(config, field_rng(seed, i), "diffuse" if diffuse else "radio_galaxies")
    else:
        raise InvalidParameterError("family", family, f"must be one of {', '.join(BENCHMARK_FAMILIES)}")


def _setup_index(survey):
    """The setup's place among the benchmark's seeds: a preset's own, else one drawn from the survey's description
    (4-99), so that a survey of one's own gets the same images whatever else a run measures."""
    if survey.name in BENCHMARK_SETUPS and survey.describe() == get_survey(survey.name).describe():
        return BENCHMARK_SETUPS.index(survey.name)
    return len(BENCHMARK_SETUPS) + zlib.crc32(survey.describe().encode()) % (100 - len(BENCHMARK_SETUPS))


def setup_seed(seed, family, survey, diffuse):
    """The seed of one family's, setup's and kind's images (:func:`benchmark_fields`), so that a script draws the
    very images a benchmark measured.

    Parameters
    ----------
    seed : int
        The benchmark's (:data:`BENCHMARK_SEED`, or ``meta["seed"]`` of its tables).
    family : str
        One of :data:`BENCHMARK_FAMILIES`.
    survey : radiounet.sky.Survey
    diffuse : bool
        The images with a halo and/or relics, else those with radio galaxies only.
    """
    return seed + 1000 * BENCHMARK_FAMILIES.index(family) + 10 * _setup_index(survey) + int(not diffuse)


def _as_survey(setup):
    return setup if isinstance(setup, Survey) else get_survey(setup)


def score_setup(predictor, family, setup, plan, *, seed=BENCHMARK_SEED, ratio_threshold, progress=False):
    """The figures of one family and setup, its images one by one, and its two example images.

    Parameters
    ----------
    setup : str or `~radiounet.sky.survey.Survey`
        A survey preset's name (``radio-unet presets``) or a survey of one's own.

    Returns
    -------
    row : dict
        Keys :data:`SETUP_COLUMNS` (:func:`radiounet.evaluate.benchmark_figures.setup_figures`): fractions in
        [0, 1], NaN where there was nothing to count (no relic pixel, or a binary model for the labels).
        ``halo_found`` and ``relic_found`` pool the pixels of all images, so that the nearest clusters, hundreds
        of beams wide, weigh most; the ``_median`` columns give each image holding such emission one vote;
        ``NAME_lo`` and ``NAME_hi`` bound a bootstrap interval over the images.
    images : astropy.table.Table
        One row per image, columns :data:`IMAGE_COLUMNS`.
    examples : dict
        ``"diffuse"`` (the image with most diffuse pixels) and
        ``"radio_galaxies"`` (the radio-galaxy image with most pixels called diffuse).
    """
    survey = _as_survey(setup)
    images, examples = [], {}
    for diffuse in (True, False):
        fields = benchmark_fields(family, survey, plan, diffuse, setup_seed(seed, family, survey, diffuse))
        n = plan.n_diffuse if diffuse else plan.n_radio_galaxy
        kind = "diffuse" if diffuse else "radio_galaxies"
        for i, sky in enumerate(tqdm(fields, total=n, unit="image", disable=not progress, leave=False,
                                     desc=f"{family} {survey.name} {kind.replace('_', ' ')}")):
            prediction = segment_simulated_field(predictor, sky, survey, f"{family} {survey.name} image {i}")
            radius = 2.2 * sky.cluster.r500_arcsec / survey.pixel_arcsec
            counts = dict.fromkeys(DIFFUSE_COUNTS, 0)
            add_diffuse_counts(counts, prediction, sky, predictor.threshold)
            components = ", ".join(sorted({c.subtype for c in sky.components}))
            images.append(dict(family=family, setup=survey.name, kind=kind, index=i, z=float(sky.cluster.z),
                               components=components, mask_pixels=int(sky.mask.sum()), **counts,
                               called_fraction=float(prediction.mask.mean()),
                               ratio=float(aperture_ratio(prediction.probability, sky.cluster.x, sky.cluster.y,
                                                          radius).ratio)))
            score = float(sky.mask.sum()) if diffuse else images[-1]["called_fraction"]
            if kind not in examples or score > examples[kind].score:
                examples[kind] = Example(
                    title=f"{family} {survey.name}, z = {sky.cluster.z:.2f}: " + (components or "compact sources"),
                    image=sky.image / survey.rms_jy, truth=sky.mask, probability=prediction.probability,
                    called=prediction.mask, score=score,
                    labelled=(prediction.class_probability.argmax(0) if prediction.class_probability is not None
                              else None))
    images = Table(rows=images, names=IMAGE_COLUMNS)
    return _setup_row(images, survey, plan, ratio_threshold, bool(predictor.class_names)), images, examples


def _setup_row(images, survey, plan, ratio_threshold, labels):
    """The row of :data:`SETUP_COLUMNS` of one family and setup, from its per-image table."""
    figures = setup_figures(images, ratio_threshold, labels)
    row = dict(family=images["family"][0], setup=images["setup"][0], survey=survey.describe(),
               beam_arcsec=float(survey.beam.major.to_value(u.arcsec)), pixel_arcsec=survey.pixel_arcsec,
               n_diffuse=plan.n_diffuse, n_radio_galaxy=plan.n_radio_galaxy, size=plan.size)
    row.update((name, figures[name]) for name in SETUP_COLUMNS if name not in row)
    return row


def injection_completeness(predictor, images, plan, work_dir, *, seed=BENCHMARK_SEED, ratio_threshold=None,
                           progress=False):
    """Completeness of mock halos injected into real images, per halo size and flux density.

    Random sites (``plan.injection_sites_per_image`` per image) get circular
    exponential halos of each radius and flux density of the plan; each is
    detected when ``R`` within 2.2 R500 exceeds ``ratio_threshold`` (default: the model's), as in
    ``radio-unet inject``. Sites detected without a halo are left out.

    Returns
    -------
    astropy.table.Table
        ``re_kpc``, ``re_arcsec``, ``flux_mjy``, ``i0_snr`` (median central
        brightness over the local rms), ``n_sites``, ``n_detected``,
        ``completeness``, ``n_detected_without_halo`` (sites left out) and
        ``median_r_gain`` (median of ``R - R_baseline`` over all sites: what
        the halo adds to R, even where the site was detected without it).
    """
    from radiounet.evaluate.injection import random_sites, run_injections
    from radiounet.sky.cosmology import kpc_per_arcsec, r500_from_m500

    z = plan.injection_redshift
    r500_kpc = r500_from_m500(plan.injection_m500, z).to_value(u.kpc)
    # Sites at least the largest r_e from the edges, so that the halos' cores lie on the image.
    largest_re = max(plan.injection_re_kpc) / kpc_per_arcsec(z).to_value(u.kpc / u.arcsec)
    sites = random_sites(images, plan.injection_sites_per_image, z, r500_kpc, seed=seed, margin_arcsec=largest_re)
    rows = []
    for re_kpc in plan.injection_re_kpc:
        injections = run_injections(sites, predictor, np.array(plan.injection_flux_mjy) * 1e-3, re_kpc,
                                    Path(work_dir) / f"re_{re_kpc:g}kpc", ratio_threshold=ratio_threshold,
                                    progress=progress)
        usable = ~np.asarray(injections["detected_baseline"], bool)
        n_without = len(set(injections["site"][~usable]))
        flux = injections["flux"].to_value(u.mJy)
        for level in plan.injection_flux_mjy:
            at_level = np.isclose(flux, level)
            found = np.asarray(injections["detected"], bool)[at_level & usable]
            gain = np.asarray(injections["R"] - injections["R_baseline"], float)[at_level]
            rows.append(dict(re_kpc=re_kpc, re_arcsec=float(injections["re_arcsec"][0].to_value(u.arcsec)),
                             flux_mjy=level, i0_snr=float(np.median(injections["i0_snr"][at_level])),
                             n_sites=len(found), n_detected=int(found.sum()),
                             completeness=float(found.mean()) if len(found) else np.nan,
                             n_detected_without_halo=n_without, median_r_gain=float(np.median(gain))))
    return Table(rows=rows) if rows else _empty_injection()


def _empty_injection():
    names = ("re_kpc", "re_arcsec", "flux_mjy", "i0_snr", "n_sites", "n_detected", "completeness",
             "n_detected_without_halo", "median_r_gain")
    return Table(names=names, dtype=[int if n.startswith("n_") else float for n in names])


def run_benchmark(predictor, *, quick=False, setups=BENCHMARK_SETUPS, real_data=None, noise_images=None,
                  bundled=True, work_dir=None, seed=BENCHMARK_SEED, ratio_threshold=None, progress=True):
    """Measure ``predictor`` (a :class:`radiounet.inference.Predictor`) on every part of the benchmark.

    Parameters
    ----------
    quick : bool
        The ``quick`` plan (small images, few of them) instead of the figures of record.
    setups : sequence of str or `~radiounet.sky.survey.Survey`
        The simulated surveys, each drawn by both families: preset names or surveys of one's own
        (:func:`radiounet.sky.survey.custom_survey`), of distinct names; default: :data:`BENCHMARK_SETUPS`. A
        survey's images depend on its description alone, not on the other setups of the run, so that two
        models benchmarked on it see the same images.
    ratio_threshold : float, optional
        The R threshold of the detections (R accuracy, the injection test); default: the model's calibrated one
        (its card's), else the reference work's.
    real_data : path, optional
        Folder of labelled real images with a ``labels.csv`` (``file``, ``kind``
        = halo / radio_galaxy / compact / no_cluster, ``ra_deg``, ``dec_deg``,
        ``radius_arcmin`` of a halo, ``telescope``, ...); without it that part
        is reported absent.
    noise_images : list of path, optional
        Real survey images without a cluster for the injection test (and as
        negatives); default: the LoTSS-DR1 image bundled with the tests.
    bundled : bool
        Also measure the real images bundled with the tests (when the checkout has them).
    work_dir : path, optional
        Where each finished part is kept (``setups/``: each family and
        setup's images (one row each) and examples; ``injection/``: the injection test's
        per-site tables), so that a rerun of the same model, plan and seed
        resumes where an interrupted one stopped; default: a temporary folder.
    """
    from radiounet.detect.clusters import REFERENCE_RATIO_THRESHOLD

    plan = PLANS["quick" if quick else "default"]
    surveys = [_as_survey(setup) for setup in setups]
    names = [survey.name for survey in surveys]
    if len(set(names)) != len(names):
        raise InvalidParameterError("setups", names, "must have distinct names")
    if real_data is not None:
        read_real_labels(real_data)  # a broken labels file fails now, not after the simulated skies
    given = ratio_threshold is not None
    if not given:
        ratio_threshold = float(predictor.card.get("detection_ratio_threshold", REFERENCE_RATIO_THRESHOLD))
    rows, tables, examples, notes = [], [], {}, []
    # A setup's part keeps each image's R, not decisions: another R threshold reuses it.
    fingerprint = dict(version=_PART_VERSION, model=predictor.model_name, model_sha256=_model_sha256(predictor),
                       plan=plan.name, seed=seed, threshold=predictor.threshold)
    for family in BENCHMARK_FAMILIES:
        for survey in surveys:
            part = None if work_dir is None else Path(work_dir) / "setups" / f"{family}_{survey.name}"
            part_fingerprint = dict(fingerprint, survey=survey.describe())
            done = _read_part(part, part_fingerprint)
            if done is None:
                row, images, pictures = score_setup(predictor, family, survey, plan, seed=seed,
                                                    ratio_threshold=ratio_threshold, progress=progress)
                _write_part(part, part_fingerprint, images, pictures)
            else:
                images, pictures = done
                row = _setup_row(images, survey, plan, ratio_threshold, bool(predictor.class_names))
            rows.append(row)
            tables.append(images)
            examples[(family, survey.name)] = pictures
    bundled_images = bundled_real_images() if bundled else {}
    if noise_images is None:
        noise_images = [bundled_images["lotss-dr1"]] if "lotss-dr1" in bundled_images else []
    if noise_images:
        with tempfile.TemporaryDirectory() as scratch:
            # Site tables of another model, plan or set of images must not be reused: one folder for each.
            images = [[str(p), sha256_of(p)] for p in noise_images]
            decided = dict(fingerprint, ratio_threshold=ratio_threshold)  # the site tables hold decisions
            key = hashlib.sha256(json.dumps([decided, images], sort_keys=True).encode()).hexdigest()[:12]
            injection = injection_completeness(predictor, [str(p) for p in noise_images], plan,
                                               Path(work_dir or scratch) / "injection" / key, seed=seed,
                                               ratio_threshold=ratio_threshold, progress=progress)
    else:
        injection = _empty_injection()
        notes.append("real noise: no real survey image without a cluster was given (--noise-images) and the "
                     "bundled LoTSS-DR1 test image is not in this installation; injection test skipped")
    real, real_examples, real_notes = real_sky_table(predictor, real_data, bundled_images, noise_images)
    notes.extend(real_notes)
    examples.update({("real", name): {"real": example} for name, example in real_examples.items()})
    setups = Table(rows=rows, names=SETUP_COLUMNS)
    images = vstack(tables)
    own = [survey.describe() for survey in surveys if _setup_index(survey) >= len(BENCHMARK_SETUPS)]
    meta = dict(model=predictor.model_name, plan=plan.name, seed=seed, threshold=predictor.threshold,
                ratio_threshold=ratio_threshold,
                ratio_threshold_calibrated=given or "detection_ratio_threshold" in predictor.card,
                ratio_threshold_given=given,
                redshift=list(plan.redshift), own_setups=own, notes=notes)
    return BenchmarkResult(setups=setups, images=images, injection=injection, real=real, examples=examples,
                           meta=meta)


def _model_sha256(predictor):
    """sha256 of the predictor's model file (empty for a predictor without one)."""
    try:
        return sha256_of(resolve_model_path(predictor.model_name))
    except RadioUNetError:
        return ""


def _write_part(part, fingerprint, images, examples):
    """Keep one family and setup's images (ECSV) and example images (npz), each written atomically."""
    if part is None:
        return
    part.parent.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for kind, example in examples.items():
        arrays.update({f"{kind}.{name}": value for name, value in vars(example).items() if value is not None})
    with atomic_path(part.with_suffix(".npz")) as tmp:
        with open(tmp, "wb") as stream:
            np.savez_compressed(stream, **arrays)
    write_table(Table(images, meta=dict(fingerprint)), part.with_suffix(".ecsv"))


def _read_part(part, fingerprint):
    """The images and examples of a part finished by an earlier run of the same model, plan and seed (else None)."""
    if part is None or not part.with_suffix(".ecsv").is_file() or not part.with_suffix(".npz").is_file():
        return None
    images = Table.read(part.with_suffix(".ecsv"), format="ascii.ecsv")
    if {key: images.meta.get(key) for key in fingerprint} != fingerprint:
        return None
    images.meta.clear()
    if hasattr(images["components"], "filled"):  # ECSV reads an empty string back as masked
        images["components"] = images["components"].filled("")
    examples = {}
    with np.load(part.with_suffix(".npz")) as arrays:
        for kind in {key.split(".")[0] for key in arrays.files}:
            fields = {key.split(".", 1)[1]: arrays[key] for key in arrays.files if key.startswith(kind + ".")}
            fields["title"], fields["score"] = str(fields["title"]), float(fields["score"])
            examples[kind] = Example(**fields)
    return images, examples
