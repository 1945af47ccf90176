"""The web console in a real headless Chromium (Debian's chromium + chromedriver, driven by
Selenium) against `textgate serve`: sign up, create a key, send with it through the API, see
the message in the log, log out. Screenshots of each page go to test-artifacts/console/."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from procs import Server, start_server, stop_server

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"

if shutil.which(CHROMIUM) is None or shutil.which(CHROMEDRIVER) is None:
    pytest.skip(
        "Debian's chromium and chromium-driver are not installed (make test installs them)",
        allow_module_level=True,
    )

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

PASSWORD = "a long browser password"


@pytest.fixture
def console_server(tmp_path: Path) -> Iterator[Server]:
    s = start_server(tmp_path, env={"TEXTGATE_SIGNUP_CREDIT": "5"})
    yield s
    stop_server(s)


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.add_argument("--window-size=1280,900")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def shot(driver: WebDriver, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def fill(driver: WebDriver, field: str, value: str) -> None:
    element = driver.find_element(By.ID, field)
    # Every input has a label that names it (accessibility, and how a user finds it).
    label = driver.find_element(By.CSS_SELECTOR, f'label[for="{field}"]')
    assert label.text.strip()
    element.clear()
    element.send_keys(value)


def test_sign_up_key_send_log_and_log_out(console_server: Server, browser: WebDriver) -> None:
    base = console_server.url
    wait = WebDriverWait(browser, 15)

    browser.get(f"{base}/console/signup")
    shot(browser, "01-signup")
    fill(browser, "email", "browser@example.com")
    fill(browser, "password", PASSWORD)
    fill(browser, "password_again", PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()

    wait.until(ec.presence_of_element_located((By.ID, "new-key")))
    assert "Welcome" in browser.page_source
    browser.find_element(By.ID, "copy-key").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "copy-status"), "Copied"))
    shot(browser, "02-first-key")

    fill(browser, "name", "browser test")
    browser.find_element(By.XPATH, "//button[text()='Create key']").click()
    wait.until(ec.presence_of_element_located((By.ID, "new-key")))
    key = browser.find_element(By.ID, "new-key").get_attribute("value")
    assert key
    assert "browser test" in browser.find_element(By.TAG_NAME, "table").text
    shot(browser, "03-new-key")

    sent = httpx.post(
        f"{base}/api/send-sms",
        json={"phone_number": "+381690156360", "text": "hello from the browser test"},
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert sent.status_code == 200, sent.text
    message_id = sent.json()["data"]["id"]

    browser.get(f"{base}/console/messages")
    table = wait.until(ec.presence_of_element_located((By.ID, "messages")))
    assert "hello from the browser test" in table.text
    shot(browser, "04-messages")
    browser.find_element(By.LINK_TEXT, str(message_id)).click()
    wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "h1"), f"Message {message_id}"))
    assert "Status history" in browser.page_source
    shot(browser, "05-message")

    browser.get(f"{base}/console")
    assert browser.find_element(By.ID, "today").text == "1"
    assert browser.find_element(By.ID, "credits").text == "4.85"  # 5 of sign-up, less 0.15
    shot(browser, "06-dashboard")
    browser.set_window_size(390, 844)  # a phone
    browser.refresh()
    shot(browser, "07-dashboard-phone")
    browser.set_window_size(1280, 900)

    browser.find_element(By.XPATH, "//button[text()='Log out']").click()
    wait.until(ec.url_to_be(f"{base}/console/login"))
    shot(browser, "08-logged-out")
    browser.get(f"{base}/console/messages")
    assert browser.current_url == f"{base}/console/login"
