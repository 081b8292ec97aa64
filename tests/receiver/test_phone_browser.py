"""The signed link in a real browser: Debian's Chromium on a phone-sized screen.

The receiver runs under gunicorn (the real CLI); a critical wedding-day alert is
posted; the link in alice's SMS is opened in headless Chromium emulating a phone;
she sees the incident and taps Acknowledge; escalation stops. The page's
screenshot is written to ``docs/images/`` when ``UPDATE_SCREENSHOTS=1``.
"""

from __future__ import annotations

import os
import re
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from receiver.migrate import migrate

from ..support.postgres import PostgresServer
from ..support.receiver_stack import REPO, TOKEN, Gunicorn, make_policy, receiver_env, write_policy
from .payloads import body, firing

pytestmark = pytest.mark.slow
PHONE = {"deviceMetrics": {"width": 390, "height": 844, "pixelRatio": 2},
         "userAgent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"}
SCREENSHOT = REPO / "docs" / "images" / "receiver-incident-page.png"


@pytest.fixture
def phone(monkeypatch: pytest.MonkeyPatch) -> Iterator[webdriver.Chrome]:
    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager must never download a browser
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.add_experimental_option("mobileEmulation", PHONE)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")
                                              or "/usr/bin/chromedriver"), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_a_paged_person_opens_the_link_on_a_phone_and_acknowledges(
        pg_server: PostgresServer, tmp_path: Path, phone: webdriver.Chrome) -> None:
    dsn = pg_server.create_database("receiver_browser")
    migrate(dsn, progress=lambda _msg: None)
    server = Gunicorn(receiver_env(dsn, write_policy(make_policy(), tmp_path)), workers=1)
    server.env.update(RECEIVER_PUBLIC_BASE_URL=server.url,
                      RECEIVER_LINK_SECRET="browser-link-secret-0123456789abcdef")
    server.start()
    try:
        request = urllib.request.Request(
            f"{server.url}/api/v1/alerts", data=body(firing()), method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 200
        with psycopg.connect(dsn, autocommit=True) as sql:
            text = sql.execute("SELECT body FROM receiver_outbox WHERE channel = 'sms'"
                               " AND recipient_key = 'alice'").fetchone()
            assert text is not None
            link = re.search(re.escape(server.url) + r"/i/\S+", str(text[0]))
            assert link, text

            phone.get(link.group(0))
            assert phone.title.startswith("Incident 1: PostgresReplicationLagHigh")
            button = phone.find_element(By.ID, "ack")
            assert button.text == "Acknowledge as alice" and button.is_displayed()
            width = phone.execute_script("return document.documentElement.clientWidth")
            assert width <= 390 and button.rect["width"] <= width, "fits a phone screen"
            shot = tmp_path / "incident.png"
            assert phone.save_screenshot(str(shot)) and shot.read_bytes()[:4] == b"\x89PNG"
            if os.environ.get("UPDATE_SCREENSHOTS") == "1":
                SCREENSHOT.parent.mkdir(exist_ok=True)
                shutil.copyfile(shot, SCREENSHOT)
            assert sql.execute("SELECT state FROM receiver_incidents").fetchone() == ("open",), \
                "opening the link acknowledges nothing"

            button.click()
            WebDriverWait(phone, 15).until(
                expected_conditions.presence_of_element_located((By.ID, "acked")))
            assert "Acknowledged: escalation stopped." in phone.page_source
            assert sql.execute("SELECT state, acknowledged_by FROM receiver_incidents"
                               ).fetchone() == ("acknowledged", "alice (link)")
            assert sql.execute("SELECT count(*) FROM receiver_escalation_steps WHERE"
                               " status = 'pending'").fetchone() == (0,), "escalation stopped"
    finally:
        server.stop()
