"""Shared fixtures: a small LoTSS-like survey and small field configurations."""

import pytest

from radiounet.sky import FieldConfig, SkyConfig, get_survey


@pytest.fixture(scope="session")
def lotss():
    return get_survey("lotss-dr2-6")


@pytest.fixture(scope="session")
def tiny_card():
    """``tiny_card(pixels_per_beam=4.0, **extra)``: the card of a small test model (64-pixel tiles,
    threshold 0.5) for LoTSS 6" images, by default at their sampling (1.5")."""
    def card(pixels_per_beam=4.0, **extra):
        return dict(threshold=0.5, tile_size=64, **extra,
                    native_sampling=dict(beam_fwhm_pixels=pixels_per_beam, survey="lotss-dr2-6", bmaj_arcsec=6.0,
                                         pixel_arcsec=6.0 / pixels_per_beam))
    return card


@pytest.fixture(scope="session")
def small_config(lotss):
    """256x256 fields of the LoTSS 6" preset, mixed field types."""
    return FieldConfig(lotss, shape=(256, 256))


@pytest.fixture(scope="session")
def nearby_diffuse_config(lotss):
    """Diffuse-emission fields of nearby clusters, bright enough to be well above the noise."""
    sky = SkyConfig(fraction_diffuse=1.0, fraction_radio_galaxies=0.0, redshift=(0.15, 0.3),
                    halo_snr=(10.0, 20.0), relic_snr=(10.0, 20.0), radio_galaxies_mean=0.0)
    return FieldConfig(lotss, shape=(384, 384), sky=sky)
