"""Survey cutouts: one FITS image per catalogue row from a survey's cutout service.

``services`` knows the URL forms of the LoTSS-DR2 cutout services and fills a
template; ``download`` fetches one URL into a FITS file (retries, checks,
atomic rename); ``cutouts`` runs a whole catalogue in parallel and returns a
table of what was fetched.
"""

from radiounet.fetch.cutouts import CUTOUT_STATUSES, cutout_filename, default_cutout_size, fetch_cutouts
from radiounet.fetch.download import DownloadResult, download_fits
from radiounet.fetch.services import SURVEY_SERVICES, CutoutService, get_service

__all__ = ["CUTOUT_STATUSES", "SURVEY_SERVICES", "CutoutService", "DownloadResult", "cutout_filename",
           "default_cutout_size", "download_fits", "fetch_cutouts", "get_service"]
