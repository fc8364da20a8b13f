"""A local stand-in for the LoTSS-DR2 cutout service, serving simulated 20" cutouts.

    python examples/cutout_server.py            # serves on http://127.0.0.1:8642 until Ctrl-C

It answers ``/dr2-low-cutout.fits?pos=RA,DEC&size=ARCMIN`` as the survey
team's service does, with a simulated LoTSS-DR2 20" observation of a cluster
centred on the position (a halo, relics or radio galaxies, drawn from the
position so that the same request gives the same image). Positions south of
Dec 0 are outside its footprint, as the real survey's are: it answers with a
message instead of an image. Try it with the demo catalogue::

    radio-unet detect --catalog examples/psz2_demo.csv --fetch custom --out demo_detect \\
        --url-template "http://127.0.0.1:8642/dr2-low-cutout.fits?pos={ra},{dec}&size={size_arcmin}"
"""

import argparse
import io
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
from astropy.io import fits

from radiounet.io.fits import image_header
from radiounet.sky import FieldConfig, SkyConfig, get_survey, simulate_field

SURVEY = get_survey("lotss-dr2-20")
MAX_PIXELS = 800
URL_TEMPLATE = "http://127.0.0.1:{port}/dr2-low-cutout.fits?pos={{ra}},{{dec}}&size={{size_arcmin}}"


def simulated_cutout(ra, dec, size_arcmin):
    """FITS bytes of a simulated 20" cutout of ``size_arcmin`` centred on ``ra``, ``dec`` (deg)."""
    n = int(np.clip(round(size_arcmin * 60 / SURVEY.pixel_arcsec), 64, MAX_PIXELS))
    seed = np.random.SeedSequence([int(round(ra * 1e4)) % 2**31, int(round((dec + 90) * 1e4))])
    sky = SkyConfig(fraction_diffuse=0.7, fraction_radio_galaxies=0.3, redshift=(0.05, 0.3),
                    cluster_offset_fraction=0.0, halo_snr=(4.0, 10.0))
    field = simulate_field(FieldConfig(SURVEY, shape=(n, n), sky=sky), np.random.default_rng(seed))
    field.wcs.wcs.crval = [ra, dec]
    hdu = fits.PrimaryHDU(field.image, image_header(field.wcs, SURVEY, bunit="JY/BEAM"))
    buffer = io.BytesIO()
    hdu.writeto(buffer)
    return buffer.getvalue()


class CutoutHandler(BaseHTTPRequestHandler):
    """Answers cutout requests; anything else is a 404."""

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path != "/dr2-low-cutout.fits":
            return self._send(404, b"Not found: the cutouts are at /dr2-low-cutout.fits", "text/plain")
        query = urllib.parse.parse_qs(url.query)
        try:
            ra, dec = (float(v) for v in query["pos"][0].split(","))
            size = float(query.get("size", ["20"])[0])
        except (KeyError, ValueError):
            ra = dec = size = np.nan
        if not (np.isfinite(ra) and np.isfinite(dec) and np.isfinite(size) and size > 0):
            return self._send(400, b"Give pos=RA,DEC (deg) and size=ARCMIN", "text/plain")
        if dec < 0:
            return self._send(200, b"The position is outside the survey coverage", "text/plain")
        return self._send(200, simulated_cutout(ra, dec, size), "application/fits")

    def _send(self, code, body, content_type):
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def start_server(port=0):
    """Start the server in a background thread; returns it (``server.server_port`` is the port)."""
    server = ThreadingHTTPServer(("127.0.0.1", port), CutoutHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8642, help="port on 127.0.0.1 (default: 8642)")
    port = parser.parse_args().port
    with ThreadingHTTPServer(("127.0.0.1", port), CutoutHandler) as server:
        print(f"serving simulated LoTSS-DR2 20\" cutouts; --url-template \"{URL_TEMPLATE.format(port=port)}\"")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
