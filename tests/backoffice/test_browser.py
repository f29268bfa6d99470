"""The back office in a real browser: headless Chromium logs into the admin of a seeded club, opens the dashboard
and a member page, checks that the charts rendered with data, and saves screenshots to var/screenshots/ (to
docs/screenshots/, the ones the README links, with UPDATE_SCREENSHOTS=1: a test run leaves the tree clean).

Chromium comes from the Debian packages `chromium` and `chromium-driver`; when they are missing and the tests run
as root, the session installs them with apt-get, else the test is skipped with the reason shown. The clock is
frozen and the data seeded from a fixed seed, so the screenshots only change when the pages do.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import Count

from backoffice.seed import demo_seed
from rewards.models import Membership

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
SCREENSHOTS = (
    Path(settings.BASE_DIR) / ("docs" if os.environ.get("UPDATE_SCREENSHOTS") == "1" else "var") / "screenshots"
)
FROZEN = datetime(2026, 11, 20, 11, 0, tzinfo=UTC)
WIDTH = 1440


def _install_chromium() -> str | None:
    """None when Chromium and its driver are there (installing them if we may), else why not."""
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return None
    if os.name != "posix" or os.geteuid() != 0 or not shutil.which("apt-get"):
        return "Chromium is missing: apt-get install chromium chromium-driver (needs root)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium", "chromium-driver"]):
        try:
            subprocess.run(command, env=env, check=True, capture_output=True, timeout=900)
        except (subprocess.SubprocessError, OSError) as exc:
            return f"Chromium could not be installed ({' '.join(command)}: {exc})"
    return None if CHROMIUM.exists() and CHROMEDRIVER.exists() else "Chromium is missing after apt-get install"


@pytest.fixture(scope="session")
def chromium_ready():
    reason = _install_chromium()
    if reason:
        pytest.skip(reason)


@pytest.fixture
def browser(chromium_ready, tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[dev]')")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'chromium'}",
        f"--window-size={WIDTH},1000",
        "--force-device-scale-factor=1",
        "--hide-scrollbars",
        "--lang=en-US",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _screenshot(driver, name: str) -> Path:
    """The whole page, at the window's width (the window's own bars count in its size, not in the page's)."""
    height, bars = driver.execute_script(
        "return [document.documentElement.scrollHeight, window.outerHeight - window.innerHeight]"
    )
    driver.set_window_size(WIDTH, min(max(height, 800), 4000) + bars)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    driver.set_window_size(WIDTH, 1000)
    return path


@pytest.mark.django_db(transaction=True, reset_sequences=True)
def test_staff_see_the_dashboard_charts_and_a_members_page_in_chromium(browser, live_server, settings):
    from selenium.webdriver.common.by import By

    # Session cookies without an expiry date: the browser's clock is not frozen.
    settings.SESSION_EXPIRE_AT_BROWSER_CLOSE = True
    settings.CSRF_COOKIE_AGE = None
    with time_machine.travel(FROZEN, tick=False):
        demo_seed(members=150, offers=40, transactions_per_member=8, now=FROZEN)
        User.objects.create_superuser("staff", "staff@example.com", "staff-password")
        member_id = (
            Membership.objects.annotate(n=Count("transactions"))
            .filter(member__offer_grants__isnull=False, member__offer_usages__isnull=False, lifetime_points__gte=500)
            .filter(transactions__type="reward_purchase")
            .filter(transactions__type="expiration")
            .order_by("-n", "member_id")
            .values_list("member_id", flat=True)
            .first()
        )

        browser.get(f"{live_server.url}/admin/login/?next=/admin/dashboard/")
        browser.find_element(By.NAME, "username").send_keys("staff")
        browser.find_element(By.NAME, "password").send_keys("staff-password")
        browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()

        assert browser.find_element(By.CSS_SELECTOR, ".bo-toolbar h1").text == "Infinity Mall"
        charts = browser.find_elements(By.CSS_SELECTOR, "svg.bo-chart")
        assert [c.get_attribute("id") for c in charts] == [
            "chart-points",
            "chart-uses",
            "chart-top-offers",
            "chart-members",
        ]
        for chart in charts:
            bars = chart.find_elements(By.CSS_SELECTOR, "rect.bo-bar")
            values = [int(bar.get_attribute("data-value")) for bar in bars]
            assert bars and sum(values) > 0, chart.get_attribute("id")
            assert chart.size["width"] > 300 and chart.size["height"] > 100  # laid out, not collapsed
            assert int(chart.get_attribute("data-total")) == sum(values)
        kpi = browser.find_element(By.CSS_SELECTOR, '[data-kpi="members"]')
        assert kpi.text == "150"
        _screenshot(browser, "dashboard")

        browser.get(f"{live_server.url}/admin/")
        assert browser.find_element(By.CSS_SELECTOR, ".bo-hero a.button").text.startswith("Open the dashboard")
        _screenshot(browser, "admin-index")

        browser.get(f"{live_server.url}/admin/loyalty/member/{member_id}/change/")
        balance = browser.find_element(By.CSS_SELECTOR, '[data-member="balance"]').text
        assert balance.replace(",", "").isdigit()
        assert browser.find_element(By.CSS_SELECTOR, '[data-member="level"] .bo-level').text
        assert browser.find_elements(By.CSS_SELECTOR, "#member-ledger tbody tr")
        assert browser.find_elements(By.CSS_SELECTOR, "#member-grants tbody tr")
        assert browser.find_elements(By.CSS_SELECTOR, "#member-usages tbody tr")
        _screenshot(browser, "member")

    for name in ("dashboard", "admin-index", "member"):
        assert (SCREENSHOTS / f"{name}.png").stat().st_size > 20_000
