"""radio-unet cutouts and detect --fetch against a local HTTP server started by the tests.

The server makes its FITS files itself and answers, per cluster name, with an
image, an error, a slow answer or a connection cut mid-file. Nothing here
reaches the internet.
"""

import gzip
import importlib.util
import io
import threading
import time
import urllib.parse
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from astropy.table import QTable
from astropy.wcs import WCS

from radiounet.cli import main
from radiounet.detect.catalog import read_cluster_catalog
from radiounet.fetch import download_fits, fetch_cutouts, get_service

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _fits_bytes(ra, dec, blank=False):
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    wcs.wcs.crval = [ra, dec]
    wcs.wcs.crpix = [32.5, 32.5]
    wcs.wcs.cdelt = [-4.5 / 3600, 4.5 / 3600]
    data = np.full((64, 64), np.nan, np.float32) if blank else \
        np.random.default_rng(0).normal(0, 1e-4, (64, 64)).astype(np.float32)
    header = wcs.to_header()
    header.update(BMAJ=20 / 3600, BMIN=20 / 3600, BPA=0.0, BUNIT="JY/BEAM")
    buffer = io.BytesIO()
    fits.PrimaryHDU(data, header).writeto(buffer)
    return buffer.getvalue()


class _Handler(BaseHTTPRequestHandler):
    """Answers by the ``name`` of the request: ``<behaviour>-<anything>``."""

    def do_GET(self):
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        name = query["name"][0]
        ra, dec = (float(v) for v in query["pos"][0].split(","))
        behaviour = name.split("-")[0]
        server = self.server
        with server.lock:
            server.requests[name] += 1
            count = server.requests[name]
        image = _fits_bytes(ra, dec, blank=behaviour == "blank")
        if behaviour == "missing":
            return self._send(404, b"<html><body>Not Found</body></html>", "text/html")
        if behaviour == "html":
            return self._send(200, b"<html><body>Welcome to the survey</body></html>", "text/html")
        if behaviour == "outside":
            return self._send(200, b"Position is outside the survey coverage", "text/plain")
        if behaviour == "bad":
            return self._send(400, b"size too large", "text/plain")
        if behaviour in ("flaky", "down") and (behaviour == "down" or count <= 2):
            return self._send(503, b"busy", "text/plain")
        if behaviour == "slow" and count == 1:
            time.sleep(1.5)
        if behaviour == "badgz":
            packed = gzip.compress(image)
            return self._send(200, packed[:20] + bytes(200) + packed[220:], "application/gzip")
        if behaviour == "gz":
            return self._send(200, gzip.compress(image), "application/gzip")
        if behaviour in ("cut", "alwayscut") and (behaviour == "alwayscut" or count == 1):
            self.send_response(200)
            self.send_header("Content-Length", str(len(image)))
            self.end_headers()
            self.wfile.write(image[: len(image) // 2])
            self.wfile.flush()
            self.close_connection = True
            return None
        return self._send(200, image, "application/fits")

    def _send(self, code, body, content_type):
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up on a slow answer
            pass
        return None

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.requests, httpd.lock = Counter(), threading.Lock()
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.template = (f"http://127.0.0.1:{httpd.server_port}/cutout.fits?"
                      "pos={ra},{dec}&size={size_arcmin}&name={name}")
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _catalog(tmp_path, names):
    path = tmp_path / "clusters.csv"
    rows = [(name, 150.0 + i, 40.0 + i, 0.2, 5.0) for i, name in enumerate(names)]
    QTable(rows=rows, names=("NAME", "RA", "DEC", "REDSHIFT", "MSZ")).write(path)
    return path


BEHAVIOURS = {  # name -> (status, attempts, file written)
    "ok-1": ("fetched", 1, True),
    "gz-1": ("fetched", 1, True),
    "flaky-1": ("fetched", 3, True),
    "slow-1": ("fetched", 2, True),
    "cut-1": ("fetched", 2, True),
    "missing-1": ("not_found", 1, False),
    "html-1": ("not_fits", 1, False),
    "badgz-1": ("not_fits", 1, False),
    "outside-1": ("outside_footprint", 1, False),
    "blank-1": ("outside_footprint", 1, False),
    "bad-1": ("http_error", 1, False),
    "down-1": ("failed", 3, False),
    "alwayscut-1": ("failed", 3, False),
}


def test_each_answer_of_the_service_gives_its_status_and_only_complete_images_on_disk(tmp_path, server):
    catalog = read_cluster_catalog(_catalog(tmp_path, list(BEHAVIOURS)))
    out = tmp_path / "cutouts"
    table = fetch_cutouts(catalog, get_service(url_template=server.template), out, workers=4, timeout=0.5,
                          retries=2, backoff=0.01, progress=False)
    by_name = {row["name"]: row for row in table}
    for name, (status, attempts, written) in BEHAVIOURS.items():
        row = by_name[name]
        assert (row["status"], row["attempts"]) == (status, attempts), (name, row["message"])
        assert (out / f"{name}.fits").exists() == written, name
        assert bool(row["file"]) == written
    assert "outside the survey coverage" in by_name["outside-1"]["message"]
    assert "HTTP 400 size too large" == by_name["bad-1"]["message"]
    assert "after 3 attempts" in by_name["down-1"]["message"]
    # Complete images only: no temporary file is left, and the gzip answer was unpacked.
    files = sorted(p.name for p in out.iterdir() if p.is_file())
    assert files == sorted(f"{n}.fits" for n, b in BEHAVIOURS.items() if b[2])
    with fits.open(out / "gz-1.fits") as hdus:
        assert hdus[0].data.shape == (64, 64)
        assert WCS(hdus[0].header).wcs.crval[0] == pytest.approx(151.0)


def test_names_that_make_the_same_file_name_get_files_of_their_own(tmp_path, server):
    catalog = read_cluster_catalog(_catalog(tmp_path, ["ok-A B", "ok-A_B", "ok-C"]))
    out = tmp_path / "cutouts"
    table = fetch_cutouts(catalog, get_service(url_template=server.template), out, size=5 * u.arcmin,
                          progress=False)
    assert list(table["status"]) == ["fetched"] * 3
    files = [Path(f) for f in table["file"]]
    assert len(set(files)) == 3 and all(f.exists() for f in files) and files[2].name == "ok-C.fits"
    with fits.open(files[0]) as first, fits.open(files[1]) as second:  # each cluster's own cutout
        assert WCS(first[0].header).wcs.crval[0] == pytest.approx(150.0)
        assert WCS(second[0].header).wcs.crval[0] == pytest.approx(151.0)
    before = Counter(server.requests)
    again = fetch_cutouts(catalog, get_service(url_template=server.template), out, size=5 * u.arcmin,
                          progress=False)
    assert list(again["status"]) == ["cached"] * 3 and server.requests == before


def test_default_size_covers_the_aperture_with_context(tmp_path, server):
    catalog = read_cluster_catalog(_catalog(tmp_path, ["ok-1"]))
    table = fetch_cutouts(catalog, get_service("lotss-dr2-20", url_template=server.template), tmp_path / "c",
                          progress=False)
    r500 = catalog["r500_arcsec"][0]
    expected = (2 * (2.2 * r500 + 24 * 20 * u.arcsec)).to_value(u.arcmin)
    assert table["size"][0].to_value(u.arcmin) == pytest.approx(expected, abs=1e-3)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(table["url"][0]).query)
    assert float(query["size"][0]) == pytest.approx(expected, abs=1e-3)
    assert query["pos"] == ["150.000000,40.000000"]


def test_a_second_run_asks_only_what_was_not_answered_for_good(tmp_path, server):
    catalog = read_cluster_catalog(_catalog(tmp_path, ["ok-1", "ok-2", "missing-1", "flaky-1"]))
    out = tmp_path / "cutouts"
    service = get_service(url_template=server.template)
    first = fetch_cutouts(catalog, service, out, size=10 * u.arcmin, retries=0, backoff=0.01, progress=False)
    assert list(first["status"]) == ["fetched", "fetched", "not_found", "failed"]
    (out / "ok-2.fits").write_bytes(b"SIMPLE  =                    T / truncated")  # damaged since
    before = Counter(server.requests)
    table = fetch_cutouts(catalog, service, out, size=10 * u.arcmin, retries=0, backoff=0.01, progress=False)
    assert list(table["status"]) == ["cached", "fetched", "not_found", "failed"]
    assert "answered before" in table["message"][2]
    assert server.requests - before == Counter({"ok-2": 1, "flaky-1": 1})
    # Another size is another request: asked again, as is everything with overwrite.
    before = Counter(server.requests)
    resized = fetch_cutouts(catalog[:1], service, out, size=12 * u.arcmin, progress=False)
    assert list(resized["status"]) == ["fetched"] and server.requests - before == Counter({"ok-1": 1})
    again = fetch_cutouts(catalog[2:3], service, out, size=10 * u.arcmin, overwrite=True, progress=False)
    assert list(again["status"]) == ["not_found"] and again["attempts"][0] == 1


def test_large_cutouts_are_capped_and_checking_them_leaves_the_warnings_alone(tmp_path, server):
    import warnings

    filters = list(warnings.filters)
    catalog = read_cluster_catalog(_catalog(tmp_path, [f"ok-{i}" for i in range(12)]))
    table = fetch_cutouts(catalog, get_service(url_template=server.template), tmp_path / "c", size=3 * u.deg,
                          max_size=90 * u.arcmin, workers=6, progress=False)
    fetch_cutouts(catalog, get_service(url_template=server.template), tmp_path / "c", size=3 * u.deg,
                  max_size=90 * u.arcmin, workers=6, progress=False)  # every file checked again, in threads
    assert warnings.filters == filters
    assert np.all(table["size"].to_value(u.arcmin) == 90) and "capped at 90 arcmin" in table["message"][0]


def test_an_unreachable_service_stops_the_run_early(tmp_path, capsys):
    status = main(["cutouts", "--catalog", str(_catalog(tmp_path, [f"ok-{i}" for i in range(30)])), "--survey",
                   "custom", "--url-template", "http://127.0.0.1:9/c.fits?pos={ra},{dec}", "--retries", "0",
                   "--out", str(tmp_path / "c"), "--no-progress"])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and "cannot reach the cutout service at 127.0.0.1:9" in err


def test_a_stop_request_ends_a_download_without_a_file(tmp_path, server):
    import threading

    from radiounet.fetch.download import DownloadStopped

    stop = threading.Event()
    url = server.template.format(ra=150, dec=40, size_arcmin=5, name="down-1")
    threading.Timer(0.2, stop.set).start()
    with pytest.raises(DownloadStopped):
        download_fits(url, tmp_path / "a.fits", retries=5, backoff=30, stop=stop)
    assert list(tmp_path.iterdir()) == []


def test_rows_the_catalogue_cannot_place_are_not_requested(tmp_path, server):
    path = tmp_path / "clusters.csv"
    QTable(rows=[("ok-1", 150.0, 40.0, 0.2, 5.0), ("ok-2", np.nan, 40.0, 0.2, 5.0), ("ok-3", 151.0, 41.0, -1, 5.0),
                 ("ok-1", 152.0, 42.0, 0.2, 5.0)],
           names=("NAME", "RA", "DEC", "REDSHIFT", "MSZ")).write(path)
    catalog = read_cluster_catalog(path)
    service = get_service(url_template=server.template)
    table = fetch_cutouts(catalog, service, tmp_path / "c", progress=False)
    assert list(table["status"]) == ["fetched", "no_position", "no_redshift", "duplicate_name"]
    assert server.requests == Counter({"ok-1": 1})
    assert "status no_redshift" in table["message"][2]
    # With a fixed size, a cluster without redshift still has a position to fetch.
    sized = fetch_cutouts(catalog, service, tmp_path / "d", size=0.2 * u.deg, progress=False)
    assert list(sized["status"]) == ["fetched", "no_position", "fetched", "duplicate_name"]
    assert sized["size"][0].to_value(u.arcmin) == pytest.approx(12.0)


def test_download_of_a_partial_file_never_leaves_it_under_its_final_name(tmp_path, server):
    url = server.template.format(ra=150, dec=40, size_arcmin=5, name="alwayscut-1")
    result = download_fits(url, tmp_path / "a.fits", timeout=1, retries=1, backoff=0.01)
    assert result.status == "failed" and "connection" in result.message
    assert list(tmp_path.iterdir()) == []


def test_cli_writes_the_summary_and_exits_2_when_downloads_failed(tmp_path, server, capsys):
    catalog = _catalog(tmp_path, ["ok-1", "missing-1", "down-1"])
    out = tmp_path / "cutouts"
    status = main(["cutouts", "--catalog", str(catalog), "--survey", "custom", "--url-template", server.template,
                   "--out", str(out), "--retries", "0", "--no-progress"])
    captured = capsys.readouterr()
    assert status == 2
    assert "1 failed, 1 fetched, 1 not_found" in captured.out
    assert captured.err.count("\n") == 1 and "1 cutouts failed" in captured.err and "again" in captured.err
    summary = QTable.read(out / "cutouts.ecsv")
    assert list(summary["status"]) == ["fetched", "not_found", "failed"]
    assert summary["size"].unit == u.arcmin and Path(summary["file"][0]).is_absolute()


def test_cli_exits_2_when_no_request_returns_a_cutout(tmp_path, server, capsys):
    status = main(["cutouts", "--catalog", str(_catalog(tmp_path, ["missing-1", "html-1"])), "--survey", "custom",
                   "--url-template", server.template, "--out", str(tmp_path / "c"), "--no-progress"])
    err = capsys.readouterr().err
    assert status == 2 and "none of the 2 requests returned a cutout" in err and "--url-template" in err


@pytest.mark.parametrize("template, message", [
    ("http://127.0.0.1:1/cutout.fits?size={size_arcmin}", "must contain {ra} and {dec}"),
    ("http://127.0.0.1:1/c?pos={ra},{dec}&band={band}", "unknown: band"),
    ("ftp://example.org/c?pos={ra},{dec}", "http:// or https://"),
    ("http://127.0.0.1:1/c?pos={ra},{dec}&size={size_arcmin:.1f}", "take no format"),
    ("http://127.0.0.1:87O1/c?pos={ra},{dec}", "Port could not be cast"),
])
def test_a_bad_url_template_is_one_line_and_exit_2(tmp_path, capsys, template, message):
    status = main(["cutouts", "--catalog", str(_catalog(tmp_path, ["ok-1"])), "--survey", "custom",
                   "--url-template", template, "--out", str(tmp_path / "c"), "--no-progress"])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and message in err and "Traceback" not in err
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("option, value", [("--factor", "0"), ("--timeout", "0"), ("--workers", "0")])
def test_a_bad_fetch_setting_is_one_line_before_any_request(tmp_path, server, capsys, option, value):
    status = main(["cutouts", "--catalog", str(_catalog(tmp_path, ["ok-1"])), "--survey", "custom",
                   "--url-template", server.template, "--out", str(tmp_path / "c"), option, value, "--no-progress"])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and option.lstrip("-") in err and "Traceback" not in err
    assert not (tmp_path / "c").exists()


def test_detect_fetch_goes_from_a_psz2_catalogue_to_detections_and_report(tmp_path):
    """The demo of the tutorial: the example server, its PSZ2-format catalogue, one command."""
    spec = importlib.util.spec_from_file_location("cutout_server", EXAMPLES / "cutout_server.py")
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    httpd = demo.start_server()
    try:
        out = tmp_path / "detect"
        template = demo.URL_TEMPLATE.format(port=httpd.server_port)
        assert main(["detect", "--catalog", str(EXAMPLES / "psz2_demo.csv"), "--fetch", "custom", "--url-template",
                     template, "--out", str(out), "--no-progress"]) == 0
    finally:
        httpd.shutdown()
        httpd.server_close()
    detections = QTable.read(out / "detections.ecsv")
    assert len(detections) == 6
    assert list(detections["status"]).count("ok") == 4
    assert detections["status"][4] == "no_redshift" and detections["status"][5] == "outside_footprint"
    assert np.all(np.isfinite(detections["R"][:4]))
    assert (out / "report.html").stat().st_size > 0
    assert len(list((out / "cutouts").glob("*.fits"))) == 4


def test_a_full_disk_stops_the_run_with_one_line_and_no_partial_cutout(tmp_path, server, monkeypatch, capsys):
    import errno

    import radiounet.io.atomic

    def full_disk(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(radiounet.io.atomic.os, "replace", full_disk)
    out = tmp_path / "cutouts"
    status = main(["cutouts", "--catalog", str(_catalog(tmp_path, ["ok-1", "ok-2"])), "--survey", "custom",
                   "--url-template", server.template, "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and "no space left on device" in err and ".fits" in err
    assert [p for p in out.rglob("*") if p.is_file()] == []


def test_detect_fetch_measures_what_it_could_fetch_and_exits_2_for_the_rest(tmp_path, server, capsys):
    out = tmp_path / "detect"
    status = main(["detect", "--catalog", str(_catalog(tmp_path, ["ok-1", "down-1"])), "--fetch", "custom",
                   "--url-template", server.template, "--size", "5", "--retries", "0", "--out", str(out),
                   "--no-progress"])
    err = capsys.readouterr().err
    assert status == 2 and "1 cutouts failed" in err
    detections = QTable.read(out / "detections.ecsv")
    assert detections["status"][1] == "failed" and np.isfinite(detections["R"][0])  # the 5' cutout: partly covered
