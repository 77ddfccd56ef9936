"""A real browser through the login page: Debian's headless Chromium, driven with selenium.

status page (no session) → login link → status page → "Log in with Fyers" → the simulator's Fyers
login form → callback → the token in moto's SSM → the status page shows it valid; and a forged
callback shows the error page. A screenshot of each page goes to test-output/login-browser/
(or $TICKPIPE_TEST_OUTPUT/login-browser/).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from login_helpers import start_page

from fyers.auth import read_access_token
from fyers.token_store import TokenStore
from tickpipe import names

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
INSTALL = ("install the browser with `apt-get install -y chromium chromium-driver` (Debian) and selenium with "
           "`pip install -e '.[dev]'`; .ci/run does both")
ROOT = Path(__file__).resolve().parents[2]


def _missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            return f"{path} is not installed"
    return None


pytestmark = pytest.mark.skipif(_missing() is not None, reason=f"{_missing()}: {INSTALL}")


@pytest.fixture(scope="module")
def shots() -> Path:
    """Emptied once per run, so the folder holds this run's screenshots."""
    out = Path(os.environ.get("TICKPIPE_TEST_OUTPUT") or ROOT / "test-output") / "login-browser"
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.png"):
        old.unlink()
    return out


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not look for drivers online
    opts = Options()
    opts.binary_location = CHROMIUM
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage",
                f"--user-data-dir={tmp_path / 'chromium-profile'}", "--window-size=1000,800"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture
def page(aws, fyers_sim):
    p = start_page(fyers_sim(), aws.client("ssm"))
    yield p
    p.server.stop()


def text(driver) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.TAG_NAME, "body").text


def test_a_browser_logs_in_through_the_page_and_the_status_shows_the_token_valid(browser, page, shots):
    from selenium.webdriver.common.by import By

    browser.get(page.url + "/")
    browser.save_screenshot(str(shots / "1-no-session.png"))
    assert "A login link is needed" in text(browser)

    browser.get(page.link())
    browser.save_screenshot(str(shots / "2-status-before-login.png"))
    assert browser.current_url == page.url + "/"  # the link left the address bar
    assert "no token stored yet" in text(browser)

    browser.find_element(By.ID, "login").click()
    arrived(browser, lambda url: url.startswith(page.sim.api_url + "/api/v3/generate-authcode"))
    browser.save_screenshot(str(shots / "3-fyers-login-form.png"))
    browser.find_element(By.NAME, "fy_id").send_keys(page.sim.config.fy_id)
    browser.find_element(By.NAME, "pin").send_keys(page.sim.config.pin)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

    arrived(browser, lambda url: url == page.url + "/?done=1")
    browser.save_screenshot(str(shots / "4-status-after-login.png"))
    token = TokenStore(page.ssm, page.settings.ssm_prefix).load()
    assert read_access_token(token.access_token).exp > time.time()
    status = browser.find_element(By.ID, "status").text
    assert "valid until" in status and "15.0 days left" in status
    assert "Logged in" in browser.find_element(By.ID, "notice").text


def arrived(browser, where) -> None:
    """A click on a submit button returns before the browser follows the form and its redirects: wait
    for the address (a hang guard, not a timing), then check it."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        WebDriverWait(browser, 60).until(lambda b: where(b.current_url))
    except TimeoutException:
        pass
    assert where(browser.current_url), browser.current_url


def test_a_forged_callback_in_the_browser_shows_the_error_page_and_stores_nothing(browser, page, shots):
    browser.get(page.link())
    browser.get(page.server.callback_url + "?s=ok&code=200&auth_code=forged&state=forged-state")
    browser.save_screenshot(str(shots / "5-forged-callback.png"))
    from selenium.webdriver.common.by import By

    assert "unknown or already used" in browser.find_element(By.ID, "error").text
    names_left = page.ssm.describe_parameters()["Parameters"]
    assert page.settings.ssm_name(names.SSM_TOKEN) not in {p["Name"] for p in names_left}
