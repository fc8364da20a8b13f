"""Survey cutouts: one FITS image per catalogue row from a survey's cutout service.

``services`` knows the URL forms of the LoTSS-DR2 cutout services and fills a
template; ``download`` fetches one URL into a FITS file (retries, checks,
atomic rename); ``cutouts`` runs a whole catalogue in parallel and returns a
table of what was fetched.
"""

from importlib import import_module

__all__ = ["CUTOUT_STATUSES", "SURVEY_SERVICES", "CutoutService", "DownloadResult", "default_cutout_size",
           "download_fits", "fetch_cutouts", "get_service"]

_MODULES = {"CUTOUT_STATUSES": "cutouts", "default_cutout_size": "cutouts",
            "fetch_cutouts": "cutouts", "DownloadResult": "download", "download_fits": "download",
            "SURVEY_SERVICES": "services", "CutoutService": "services", "get_service": "services"}


def __getattr__(name):
    # Imported on first use: the CLI's parser needs only the light services module to list the surveys, not the
    # tables, FITS and HTTP machinery of the others.
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"radiounet.fetch.{_MODULES[name]}"), name)
