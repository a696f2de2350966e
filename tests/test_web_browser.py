"""The status page in a real browser (headless Chromium, driven with Selenium): a job submitted
with hcq appears on the open page without a reload, and a cancel clicked on the page cancels it;
signing in is a click on the sign-in link's button."""
from __future__ import annotations

import os

import pytest

from tests.support.browser import chromium, missing, sign_in
from tests.support.daemon import DaemonProcess, wait_for
from tests.support.hcq import run_hcq
from tests.support.web import web_config

# CI installs the browser (.ci/run) and sets HCSERVER_REQUIRE_BROWSER: there a missing one fails.
WHY_NOT = missing()
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(WHY_NOT is not None and not os.environ.get("HCSERVER_REQUIRE_BROWSER"),
                                 reason=f"no browser: {WHY_NOT}")]


def hcq(daemon, *args) -> str:
    return run_hcq(daemon, *args, check=True).stdout.strip()


def test_a_job_appears_without_a_reload_and_a_click_cancels_it(images, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as shown
    from selenium.webdriver.support.ui import WebDriverWait

    assert WHY_NOT is None, WHY_NOT
    daemon = DaemonProcess(web_config()).start()
    try:
        hcq(daemon, "disable", "film")   # the job waits on the page
        with chromium() as browser:
            wait = WebDriverWait(browser, 30)
            link = hcq(daemon, "web-login")
            browser.get(link)   # opening the link alone signs nobody in
            assert "Sign in as root" in browser.page_source and not browser.get_cookies()
            sign_in(browser, link)
            browser.get(browser.current_url.rstrip("/") + "/jobs")
            wait.until(shown.text_to_be_present_in_element((By.ID, "live"), "Live"))   # the event stream is open
            browser.execute_script("window.notReloaded = true")
            job = int(hcq(daemon, "submit", "-p", "film", images["CT_small.dcm"]))
            row = wait.until(shown.presence_of_element_located((By.ID, f"job-{job}")))
            assert browser.execute_script("return window.notReloaded") is True
            assert "pending" in row.text and "film" in row.text
            browser.save_screenshot(str(tmp_path / "jobs.png"))
            browser.find_element(By.XPATH, f"//tr[@id='job-{job}']//button[text()='Cancel job {job}']").click()
            wait.until(shown.text_to_be_present_in_element((By.CSS_SELECTOR, "p.notice"), f"job {job}: canceled"))
            with daemon.client() as hc:
                assert hc.show(job)["state"] == "canceled"
            wait_for(lambda: f"Cancel job {job}" not in browser.find_element(By.ID, "jobs").text,
                     what="the canceled job to lose its cancel button")
    finally:
        daemon.cleanup()
