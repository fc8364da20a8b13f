"""Cutout services of radio surveys and the URL template each answers to.

The LoTSS-DR2 services of the survey team (https://lofar-surveys.org) take a
position in decimal degrees and a size in arcmin::

    https://lofar-surveys.org/dr2-cutout.fits?pos={ra},{dec}&size={size_arcmin}      (6")
    https://lofar-surveys.org/dr2-low-cutout.fits?pos={ra},{dec}&size={size_arcmin}  (20")

Any other service that returns a FITS image for a position and a size can be
used through a template of your own with the same fields: ``{ra}``, ``{dec}``
(deg), ``{size_arcmin}``, ``{size_arcsec}``, ``{size_deg}`` and ``{name}``
(the catalogue name, URL-quoted).
"""

import string
import urllib.parse
from dataclasses import dataclass

import astropy.units as u

from radiounet.errors import InvalidParameterError

__all__ = ["SURVEY_SERVICES", "TEMPLATE_FIELDS", "CutoutService", "get_service"]

#: The fields a URL template may use.
TEMPLATE_FIELDS = ("ra", "dec", "size_arcmin", "size_arcsec", "size_deg", "name")


@dataclass(frozen=True)
class CutoutService:
    """A survey's cutout service.

    Parameters
    ----------
    name : str
        Survey name, e.g. ``"lotss-dr2-20"``.
    url_template : str
        URL with the fields of :data:`TEMPLATE_FIELDS` in braces.
    beam : `~astropy.units.Quantity`
        Beam FWHM of the survey's images: the default cutout keeps some tens
        of beams of context around the aperture for the network and the noise estimate.
    """

    name: str
    url_template: str
    beam: u.Quantity

    def __post_init__(self):
        try:
            parsed = [(field, spec, conversion) for _, field, spec, conversion in
                      string.Formatter().parse(self.url_template) if field is not None]
            urllib.parse.urlsplit(self.url_template).port  # a port that is not a number raises ValueError
        except ValueError as exc:
            raise InvalidParameterError("url_template", self.url_template, f"not a valid template ({exc})") from None
        if any(spec or conversion for _, spec, conversion in parsed):
            raise InvalidParameterError("url_template", self.url_template,
                                        "fields take no format ({size_arcmin}, not {size_arcmin:.1f}): "
                                        "the values are formatted already")
        fields = {field or "{}" for field, _, _ in parsed}
        unknown = fields - set(TEMPLATE_FIELDS)
        if unknown or not {"ra", "dec"} <= fields:
            raise InvalidParameterError(
                "url_template", self.url_template,
                f"must contain {{ra}} and {{dec}} and may use {', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)}"
                + (f"; unknown: {', '.join(sorted(unknown))}" if unknown else ""))
        if urllib.parse.urlsplit(self.url_template).scheme not in ("http", "https"):
            raise InvalidParameterError("url_template", self.url_template, "must be an http:// or https:// URL")

    def url(self, name, ra, dec, size):
        """The URL of the cutout of ``size`` (an angle) centred on ``ra``, ``dec`` (deg).

        Examples
        --------
        >>> import astropy.units as u
        >>> get_service("lotss-dr2-20").url("PSZ2 G080.16+57.65", 224.6, 52.8, 30 * u.arcmin)
        'https://lofar-surveys.org/dr2-low-cutout.fits?pos=224.600000,52.800000&size=30.000'
        """
        size = u.Quantity(size, u.arcmin)
        return self.url_template.format(
            ra=f"{ra:.6f}", dec=f"{dec:.6f}", size_arcmin=f"{size.to_value(u.arcmin):.3f}",
            size_arcsec=f"{size.to_value(u.arcsec):.1f}", size_deg=f"{size.to_value(u.deg):.5f}",
            name=urllib.parse.quote(str(name), safe=""))


#: The services known by name.
SURVEY_SERVICES = {
    "lotss-dr2-20": CutoutService("lotss-dr2-20",
                                  "https://lofar-surveys.org/dr2-low-cutout.fits?pos={ra},{dec}&size={size_arcmin}",
                                  20 * u.arcsec),
    "lotss-dr2-6": CutoutService("lotss-dr2-6",
                                 "https://lofar-surveys.org/dr2-cutout.fits?pos={ra},{dec}&size={size_arcmin}",
                                 6 * u.arcsec),
}


def get_service(survey=None, url_template=None, beam=None):
    """The cutout service of ``survey``, with its URL template replaced by ``url_template`` if given.

    Parameters
    ----------
    survey : str, optional
        A key of :data:`SURVEY_SERVICES`. Without it, ``url_template`` is required.
    url_template : str, optional
    beam : `~astropy.units.Quantity`, optional
        Beam FWHM of the images of a custom service (default: the survey's, else 20 arcsec).

    Raises
    ------
    InvalidParameterError
        For an unknown survey, neither argument given, or a template without ``{ra}`` and ``{dec}``.
    """
    if survey is None and url_template is None:
        raise InvalidParameterError("survey", None, "give a survey or a URL template")
    if survey is not None and survey not in SURVEY_SERVICES:
        raise InvalidParameterError("survey", survey, f"must be one of {', '.join(SURVEY_SERVICES)}")
    known = SURVEY_SERVICES.get(survey)
    return CutoutService(survey or "custom", url_template or known.url_template,
                         u.Quantity(beam if beam is not None else (known.beam if known else 20 * u.arcsec), u.arcsec))
