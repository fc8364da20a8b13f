"""report.html in a real browser: headless Chromium renders it, sorts and filters the gallery, opens a full view.

Needs Debian's ``chromium`` and ``chromium-driver`` (``/usr/bin/chromium``,
``/usr/bin/chromedriver``; ``.ci/run`` installs them where it can) and
selenium (the ``test`` extra); skipped without them.
"""

import math
import tempfile
from pathlib import Path

import pytest
from report_helpers import write_synthetic_report


CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
                                reason="needs Debian's chromium and chromium-driver (/usr/bin/chromium, "
                                       "/usr/bin/chromedriver); .ci/run installs them where apt-get can")
webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (pip install -e '.[test]')")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.select import Select  # noqa: E402
from selenium.webdriver.support.wait import WebDriverWait  # noqa: E402

_CHROMIUM_ARGUMENTS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                       "--disable-background-networking", "--disable-component-update", "--disable-sync",
                       "--window-size=1400,1000")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Headless Chromium, and the address of the report of the synthetic run."""
    out = tmp_path_factory.mktemp("report")
    detections = write_synthetic_report(out)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in _CHROMIUM_ARGUMENTS:
        options.add_argument(argument)
    with tempfile.TemporaryDirectory() as profile:
        options.add_argument(f"--user-data-dir={profile}")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        try:
            yield driver, detections, (out / "report.html").as_uri()
        finally:
            driver.quit()


@pytest.fixture
def page(browser):
    """The report freshly loaded, and its detections."""
    driver, detections, address = browser
    driver.get(address)
    return driver, detections


def _shown(driver):
    """(name, R) of the cards shown, in their order; R is NaN where not measured."""
    cards = driver.execute_script("return Array.from(document.querySelectorAll('.card'))"
                                  ".filter((card) => card.checkVisibility())"
                                  ".map((card) => [card.dataset.name, card.dataset.r])")
    return [(name, float(ratio or "nan")) for name, ratio in cards]


def _count(driver):
    return driver.find_element(By.ID, "shown").text


def _ratios_in_order(shown, descending):
    ratios = [r for _, r in shown]
    measured = [r for r in ratios if not math.isnan(r)]
    return measured == sorted(measured, reverse=descending) and all(math.isnan(r) for r in ratios[len(measured):])


def test_the_page_renders_its_summary_and_every_card_without_errors(page):
    driver, detections = page
    totals = [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".total .number")]
    assert totals == [str(len(detections)), "7", str(int(detections["detected"].sum()))]
    chips = [chip.text for chip in driver.find_elements(By.CSS_SELECTOR, ".chip") if chip.is_displayed()]
    assert "halo 2" in chips and "none 3" in chips and "unmeasured 3" in chips and "partial coverage 1" in chips and "error 1" in chips
    assert driver.find_element(By.CSS_SELECTOR, ".histogram svg").is_displayed()
    assert driver.find_elements(By.CSS_SELECTOR, ".histogram rect")
    assert len(_shown(driver)) == len(detections) and _count(driver) == "10 of 10 clusters shown"
    assert driver.execute_script("return document.querySelector('.card img').naturalWidth") == 320
    # The name with markup is shown as it is written, not interpreted.
    assert '<b>A&B</b> "quoted"' in [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".card h3")]
    assert [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"] == []


def test_the_gallery_sorts_by_r_name_and_redshift(page):
    driver, _ = page
    assert _ratios_in_order(_shown(driver), descending=True)  # R, highest first, by default
    sort = Select(driver.find_element(By.ID, "sort"))
    sort.select_by_value("r-asc")
    assert _ratios_in_order(_shown(driver), descending=False)
    assert _shown(driver)[0][0] == "CL 0016+16"  # R = 0
    sort.select_by_value("z-desc")
    names = [name for name, _ in _shown(driver)]
    assert names[0] == "MACS J0717.5+3745" and names[-1] == "No redshift"
    sort.select_by_value("name-asc")
    names = [name for name, _ in _shown(driver)]
    sort.select_by_value("name-desc")
    assert [name for name, _ in _shown(driver)] == names[::-1]
    assert names.index("Abell 2255") < names.index("Zw 1234")


def test_filters_hide_the_right_cards_and_update_the_count(page):
    driver, detections = page
    Select(driver.find_element(By.ID, "filter-class")).select_by_value("halo")
    assert sorted(name for name, _ in _shown(driver)) == ["Abell 2255", "RXC J1234.5+6789"]
    assert _count(driver) == "2 of 10 clusters shown"
    Select(driver.find_element(By.ID, "filter-class")).select_by_value("")
    driver.find_element(By.ID, "min-r").send_keys("0.01")
    assert {name for name, _ in _shown(driver)} == {n for n, r in zip(detections["name"], detections["R"]) if r >= 0.01}
    assert _count(driver) == "3 of 10 clusters shown"
    driver.find_element(By.ID, "search").send_keys("abell")
    assert [name for name, _ in _shown(driver)] == ["Abell 2255"]
    driver.find_element(By.ID, "reset").click()
    assert _count(driver) == "10 of 10 clusters shown"
    status_chip = driver.find_element(By.CSS_SELECTOR, '.chip[data-filter="status"][data-value="no_redshift"]')
    status_chip.click()
    assert [name for name, _ in _shown(driver)] == ["No redshift"] and "active" in status_chip.get_attribute("class")
    status_chip.click()
    assert _count(driver) == "10 of 10 clusters shown"


def test_a_click_on_a_card_opens_its_full_view(page):
    driver, _ = page
    first, second = (name for name, _ in _shown(driver)[:2])
    driver.find_element(By.CSS_SELECTOR, ".card").click()
    dialog = driver.find_element(By.ID, "view")
    assert dialog.is_displayed() and driver.find_element(By.ID, "view-title").text == first == "Abell 2255"
    full = dialog.find_element(By.CSS_SELECTOR, "img.full")
    WebDriverWait(driver, 5).until(lambda d: d.execute_script("return arguments[0].naturalWidth", full) > 0)
    assert full.is_displayed() and full.get_attribute("src").startswith("data:image/jpeg;base64,")
    assert "900 kpc" in dialog.find_element(By.CSS_SELECTOR, ".facts").text
    sources = dialog.find_elements(By.CSS_SELECTOR, ".sources tbody tr")
    assert sources and "mJy" in sources[0].text
    driver.find_element(By.ID, "next").click()
    assert driver.find_element(By.ID, "view-title").text == second
    dialog.send_keys(Keys.ESCAPE)
    assert not dialog.is_displayed()


def test_the_table_tab_sorts_its_rows_and_opens_a_cluster(page):
    driver, detections = page
    driver.find_element(By.ID, "tab-table").click()
    assert driver.find_element(By.ID, "numbers").is_displayed()
    assert not driver.find_element(By.ID, "gallery").is_displayed()
    header = driver.find_element(By.XPATH, "//section[@id='numbers']//th[normalize-space()='R']")
    column = [th.text for th in driver.find_elements(By.CSS_SELECTOR, "#numbers th")].index("R")

    def column_values():
        rows = driver.find_elements(By.CSS_SELECTOR, "#numbers tbody tr")
        return [float(row.find_elements(By.TAG_NAME, "td")[column].get_attribute("data-v") or "nan") for row in rows]

    header.click()
    assert _ratios_in_order([(None, r) for r in column_values()], descending=False)
    header.click()
    assert _ratios_in_order([(None, r) for r in column_values()], descending=True)
    assert "yes" in driver.find_element(By.CSS_SELECTOR, "#numbers tbody").text
    driver.find_element(By.LINK_TEXT, "Zw 1234").click()
    assert driver.find_element(By.ID, "view-title").text == "Zw 1234"
