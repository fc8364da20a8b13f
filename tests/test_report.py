"""report.html without a browser: one self-contained file, counts that match the table, rounded numbers, escaping."""

import re
from collections import Counter
from html.parser import HTMLParser

import numpy as np
import pytest
from report_helpers import THRESHOLD, synthetic_detections, write_synthetic_report

from radiounet.detect.report import r_histogram, significant, write_report
from radiounet.detect.views import PIXEL_LABELS, full_view_filename, pixel_labels, sources_filename, thumbnail_filename


class _Page(HTMLParser):
    """Every (tag, attributes) of a page, and the text of its <style> elements."""

    def __init__(self, text):
        super().__init__()
        self.elements, self.styles, self._in_style = [], [], False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.styles.append(data)

    def with_class(self, name):
        return [attrs for tag, attrs in self.elements if name in attrs.get("class", "").split()]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A class-model run of 10 clusters (7 measured) with its pictures, and its report."""
    out = tmp_path_factory.mktemp("detect")
    detections = write_synthetic_report(out)
    return detections, out, (out / "report.html").read_text(encoding="utf-8")


def test_the_page_needs_no_other_file_and_no_network(run):
    detections, out, text = run
    page = _Page(text)
    links = [(tag, attrs[key]) for tag, attrs in page.elements for key in ("src", "href") if key in attrs]
    assert links and all(value.startswith(("data:", "#")) for _, value in links), links
    assert not [tag for tag, attrs in page.elements if tag == "script" and "src" in attrs]
    assert "url(" not in "".join(page.styles) and "@import" not in "".join(page.styles)
    assert not re.search(r"https?://", text)
    # Each measured cluster's card and full view are embedded, whatever becomes of thumbnails/ later.
    measured = int(np.isfinite(detections["R"]).sum())
    assert text.count("data:image/jpeg;base64,") == 2 * measured
    assert (out / "thumbnails" / full_view_filename("Abell 2255")).is_file()
    assert (out / "thumbnails" / sources_filename("Abell 2255")).is_file()


def test_pictures_stay_small(run):
    detections, _, text = run
    pictures = re.findall(r'"(data:image/jpeg;base64,[^"]+)"', text)
    per_cluster = sum(map(len, pictures)) / np.isfinite(detections["R"]).sum()
    assert per_cluster < 150_000  # about 90 kB on real cutouts


def test_summary_counts_match_the_table(run):
    detections, _, text = run
    page = _Page(text)
    counts = {(chip["data-filter"], chip["data-value"]): int(n) for chip, n in
              zip(page.with_class("chip"), re.findall(r'class="chip".*?<b>(\d+)</b>', text, flags=re.S))}
    classes = [str(c) or "unmeasured" for c in detections["class"]]  # detect leaves the class of those empty
    assert {value: n for (kind, value), n in counts.items() if kind == "class"} == Counter(classes)
    statuses = Counter(str(s).split(":")[0] for s in detections["status"])
    assert {value: n for (kind, value), n in counts.items() if kind == "status"} == statuses
    assert 'class="number">10</span> clusters' in text and 'class="number">7</span> measured' in text
    assert f'id="n-detected">{int(detections["detected"].sum())}</span>' in text
    cards = page.with_class("card")
    assert [card["data-name"] for card in cards] == list(detections["name"])
    assert [card["data-class"] for card in cards] == classes
    assert text.count("<template id=\"view-") == len(detections)
    assert sum(1 for tag, attrs in page.elements if tag == "tr" and "data-index" in attrs) == len(detections)


def test_numbers_are_rounded_with_units(run):
    _, _, text = run
    assert "0.00667" in text and "0.006666" not in text  # the threshold, to 3 significant digits
    assert "R <b>0.21</b>" in text and "z 0.081 · R500 900 kpc" in text
    assert re.search(r"\d ± [\d.]+ mJy", text)  # the sources of a full view, in mJy with their error
    assert ">yes</td>" in text and ">no</td>" in text and ">True<" not in text and ">False<" not in text
    assert "R <b>–</b>" in text  # not measured: no number


def test_names_and_statuses_are_escaped(run):
    _, _, text = run
    assert "<b>A&B</b>" not in text
    assert "&lt;b&gt;A&amp;B&lt;/b&gt; &#34;quoted&#34;" in text
    assert 'data-status="error"' in text and "cannot read the cutout" in text


def test_a_binary_model_without_pictures_gets_no_class_columns(tmp_path):
    detections = synthetic_detections(class_model=False)
    write_report(tmp_path / "report.html", detections)
    text = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert ">P halo</th>" not in text and ">R halo</th>" not in text and ">R</th>" in text
    assert 'data-value="diffuse"' in text and "data:image" not in text
    assert text.count("no picture") == int(np.isfinite(detections["R"]).sum())


def test_a_run_without_measured_clusters_still_has_a_page(tmp_path):
    detections = synthetic_detections()[7:]
    write_report(tmp_path / "report.html", detections)
    assert "No cluster was measured." in (tmp_path / "report.html").read_text(encoding="utf-8")


def test_significant_rounds_without_exponent():
    assert [significant(v) for v in (THRESHOLD, 0.5, 1.5e-5, 0.0, 1234.5)] == ["0.00667", "0.5", "0.000015", "0",
                                                                                "1230"]
    assert significant(np.nan) == significant(None) == "–"


def test_r_histogram_has_the_threshold_as_an_edge_and_counts_every_cluster():
    ratios = [0.0, 1e-6, 0.003, THRESHOLD, 0.0068, 0.05, 0.3]  # R = threshold is not detected
    classes = ["none", "none", "none", "none", "halo", "relic", "halo"]
    edges, counts = r_histogram(ratios, classes, THRESHOLD)
    assert np.isclose(edges, THRESHOLD).any() and edges[0] <= THRESHOLD / 100 and edges[-1] >= 0.3
    assert list(counts) == ["halo", "relic", "none"]
    assert sum(c.sum() for c in counts.values()) == len(ratios)
    assert counts["none"][0] == 2  # 0 and the tiny R fall in the first bin
    at = int(np.argmin(abs(edges - THRESHOLD)))
    assert counts["none"][at:].sum() == 0 and counts["halo"][:at].sum() == 0  # each bar on one side of the line
    edges, counts = r_histogram([0.0, 0.01], ["none", "diffuse"], 0.0)  # a zero threshold: bins anchored on 0.001
    assert sum(c.sum() for c in counts.values()) == 2 and edges[0] < 0.01 <= edges[-1]


def test_pixel_labels_split_called_pixels_into_halo_and_relic():
    from types import SimpleNamespace

    planes = np.zeros((5, 1, 4), dtype=np.float32)
    planes[:, 0, 0] = [0.1, 0.6, 0.3, 0, 0]  # called, halo
    planes[:, 0, 1] = [0.1, 0.3, 0.6, 0, 0]  # called, relic
    planes[:, 0, 2] = [0.3, 0.1, 0.0, 0.6, 0]  # radio galaxy
    planes[:, 0, 3] = [0.45, 0.3, 0.0, 0, 0.25]  # a halo below the threshold: background
    prediction = SimpleNamespace(probability=planes[1] + planes[2], threshold=0.5, class_probability=planes,
                                 class_names=("background", "halo", "relic", "radio_galaxy", "compact"))
    assert [PIXEL_LABELS[k] for k in pixel_labels(prediction)[0]] == ["halo", "relic", "radio_galaxy", "background"]
    binary = SimpleNamespace(probability=planes[1] + planes[2], threshold=0.5, class_probability=None)
    assert [PIXEL_LABELS[k] for k in pixel_labels(binary)[0]] == ["diffuse", "diffuse", "background", "background"]


def test_file_names_of_a_cluster_are_portable():
    assert thumbnail_filename("PSZ2 G1+2 <x>") == "PSZ2_G1+2__x_.png"
    assert full_view_filename("A 1") == "A_1.full.png" and sources_filename("A 1") == "A_1.sources.ecsv"
