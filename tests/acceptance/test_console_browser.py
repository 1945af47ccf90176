"""The web console in a real headless Chromium (Debian's chromium + chromedriver, driven by
Selenium) against `textgate serve`: sign up, create a key, send with it through the API, see
the message in the log, upload a CSV for a bulk job and follow its live progress, log out.
A second account sets a webhook (to a receiver on loopback that checks the signature), its
verification options and an opt-out, sees a code it sent in Verifications, and, once made an
operator, the Operators pages. Screenshots of each page go to test-artifacts/console/."""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from procs import Server, start_server, stop_server

from support import HookReceiver, hook_receiver
from textgate.domain import webhooks

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"

if shutil.which(CHROMIUM) is None or shutil.which(CHROMEDRIVER) is None:
    pytest.skip(
        "Debian's chromium and chromium-driver are not installed (make test installs them)",
        allow_module_level=True,
    )

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

PASSWORD = "a long browser password"
#: The console provider's cap (messages a second): a bulk job takes seconds, long enough for
#: its page to show progress live.
THROUGHPUT = 2
#: 8 to send (Serbia, 0.15 each: 1.20 in all), one invalid, one duplicate.
BULK_CSV = (
    "name,phone\n"
    + "".join(f"Person {i},+38169{i:07d}\n" for i in range(1, 9))
    + "Nobody,12345\nAgain,+381 69 000 0001\n"
)


@pytest.fixture
def console_server(tmp_path: Path) -> Iterator[Server]:
    config = tmp_path / "textgate.toml"
    config.write_text(f'[providers.console]\ntype = "console"\nthroughput = {THROUGHPUT}\n')
    # 5 credits: the single message (0.15) and the bulk job (1.20) fit.
    s = start_server(tmp_path, env={"TEXTGATE_SIGNUP_CREDIT": "5", "TEXTGATE_CONFIG": str(config)})
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


def click_to_next_page(driver: WebDriver, element: WebElement) -> None:
    """Clicks a link or submit button and waits until the next page has loaded (else a wait
    for an element could find it on the old page). The old page is marked with a script
    variable, which the new one does not have: asking an element of the old page whether it
    is stale can itself fail in chromedriver ("Node with given id does not belong to the
    document") while the pages swap."""
    driver.execute_script("window.textgateOldPage = true;")
    element.click()
    # A script run while the pages swap may fail: ask again.
    WebDriverWait(driver, 15, ignored_exceptions=(WebDriverException,)).until(
        lambda d: d.execute_script(
            "return window.textgateOldPage !== true && document.readyState === 'complete';"
        )
    )


def test_sign_up_key_send_log_bulk_and_log_out(
    console_server: Server, browser: WebDriver, tmp_path: Path
) -> None:
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
    click_to_next_page(browser, browser.find_element(By.XPATH, "//button[text()='Create key']"))
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

    bulk_job(browser, base, tmp_path)

    browser.find_element(By.XPATH, "//button[text()='Log out']").click()
    wait.until(ec.url_to_be(f"{base}/console/login"))
    shot(browser, "13-logged-out")
    browser.get(f"{base}/console/messages")
    assert browser.current_url == f"{base}/console/login"


def bulk_job(browser: WebDriver, base: str, tmp_path: Path) -> None:
    """Upload a CSV, check its preview, start the job and watch it finish without a reload."""
    wait = WebDriverWait(browser, 30)
    click_to_next_page(browser, browser.find_element(By.LINK_TEXT, "Bulk"))
    wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Bulk"))
    assert "No bulk jobs yet" in browser.page_source
    csv_file = tmp_path / "customers.csv"
    csv_file.write_text(BULK_CSV)
    assert browser.find_element(By.CSS_SELECTOR, 'label[for="file"]').text.strip()
    browser.find_element(By.ID, "file").send_keys(str(csv_file))
    fill(browser, "text", "Our shop opens at 9 tomorrow")
    shot(browser, "08-bulk")
    click_to_next_page(browser, browser.find_element(By.XPATH, "//button[text()='Preview']"))

    wait.until(ec.presence_of_element_located((By.ID, "accepted")))
    assert browser.find_element(By.ID, "accepted").text == "8"
    assert browser.find_element(By.ID, "rejected").text == "2"
    assert browser.find_element(By.ID, "price").text == "1.20"
    assert browser.find_element(By.ID, "balance-after").text == "3.65"  # 4.85 - 1.20
    reasons = browser.find_element(By.ID, "rejected-by-reason").text
    assert "invalid: 1" in reasons and "duplicate: 1" in reasons
    shot(browser, "09-bulk-preview")
    click_to_next_page(browser, browser.find_element(By.ID, "start"))

    wait.until(ec.url_matches(rf"{re.escape(base)}/console/bulk/\d+$"))
    job_id = browser.current_url.rsplit("/", 1)[1]
    browser.execute_script("window.notReloaded = true;")
    done_at_load = int(browser.find_element(By.ID, "done").text)
    assert done_at_load < 8  # 8 messages at 2 a second: the job is still running
    shot(browser, "10-bulk-job-running")
    wait.until(ec.text_to_be_present_in_element((By.ID, "state"), "finished"))
    assert browser.execute_script("return window.notReloaded === true;")  # counts came live
    assert browser.find_element(By.ID, "done").text == "8"
    assert browser.find_element(By.ID, "count-pending").text == "0"
    assert browser.find_element(By.ID, "count-submitted").text == "8"
    assert browser.find_element(By.ID, "progress-bar").get_attribute("value") == "8"
    assert not browser.find_elements(By.ID, "cancel-form")
    shot(browser, "11-bulk-job-done")

    browser.get(f"{base}/console/bulk")
    row = browser.find_element(By.ID, f"job-{job_id}")
    assert "finished" in row.text
    shot(browser, "12-bulk-list")
    browser.get(f"{base}/console")
    assert browser.find_element(By.ID, "credits").text == "3.65"


# --- settings, verifications and operators -------------------------------------------------

SETTINGS_EMAIL = "settings@example.com"
SERBIA = "+381690156360"
OPTED_OUT = "+14155550100"
#: What the webhook receiver answers: not 200, so the page is seen to show the real status.
RECEIVER_STATUS = 202


@pytest.fixture
def webhook_receiver() -> Iterator[HookReceiver]:
    """A real HTTP server on loopback that records each POST and answers RECEIVER_STATUS."""
    with hook_receiver(status=RECEIVER_STATUS) as receiver:
        yield receiver


def choose(driver: WebDriver, field: str, value: str) -> None:
    """`fill` for a <select>: picks the option of that value."""
    element = driver.find_element(By.ID, field)
    label = driver.find_element(By.CSS_SELECTOR, f'label[for="{field}"]')
    assert label.text.strip()
    Select(element).select_by_value(value)


def button(driver: WebDriver, text: str) -> WebElement:
    return driver.find_element(By.XPATH, f"//button[normalize-space()='{text}']")


def at_phone_width(driver: WebDriver, name: str) -> None:
    driver.set_window_size(390, 844)
    driver.refresh()
    shot(driver, name)
    driver.set_window_size(1280, 900)
    driver.refresh()


def test_settings_verifications_and_operators(
    console_server: Server, browser: WebDriver, webhook_receiver: HookReceiver
) -> None:
    base = console_server.url
    wait = WebDriverWait(browser, 15)

    browser.get(f"{base}/console/signup")
    fill(browser, "email", SETTINGS_EMAIL)
    fill(browser, "password", PASSWORD)
    fill(browser, "password_again", PASSWORD)
    click_to_next_page(browser, browser.find_element(By.CSS_SELECTOR, "form button[type=submit]"))
    key = wait.until(ec.presence_of_element_located((By.ID, "new-key"))).get_attribute("value")
    assert key

    settings(browser, webhook_receiver)
    verifications(browser, base, key)
    operators(browser, console_server)


def settings(browser: WebDriver, receiver: HookReceiver) -> None:
    """A webhook URL (its secret shown once, a signed test event), 8-digit codes, an opt-out."""
    wait = WebDriverWait(browser, 15)
    click_to_next_page(browser, browser.find_element(By.LINK_TEXT, "Settings"))
    wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Settings"))
    assert "No URL set" in browser.find_element(By.ID, "webhook").text
    assert "No number opted out." in browser.find_element(By.ID, "opt-outs").text

    fill(browser, "url", receiver.url)
    click_to_next_page(browser, button(browser, "Save URL"))
    secret = wait.until(ec.presence_of_element_located((By.ID, "new-secret")))
    secret_value = secret.get_attribute("value")
    assert secret_value and secret_value.startswith(webhooks.SECRET_PREFIX)
    assert browser.find_element(By.ID, "current-url").text == receiver.url
    assert "The webhook URL is saved." in browser.find_element(By.CLASS_NAME, "notice").text
    shot(browser, "20-settings-webhook-secret")

    assert not receiver.got
    click_to_next_page(browser, button(browser, "Send a test event"))
    result = wait.until(ec.presence_of_element_located((By.ID, "test-result"))).text
    assert f"HTTP {RECEIVER_STATUS}" in result
    [event] = receiver.got
    assert event.path == "/hooks"
    assert event.headers["x-textgate-event"] == "test"
    signature = event.headers["x-textgate-signature"]
    assert webhooks.verify(secret_value, event.body, signature, now=time.time()) > 0
    with pytest.raises(webhooks.InvalidSignature):
        webhooks.verify(webhooks.new_secret(), event.body, signature, now=time.time())
    payload = json.loads(event.body)
    assert payload["type"] == "test"
    assert payload["id"] in result  # the page names the event the receiver got
    assert not browser.find_elements(By.ID, "new-secret")
    assert secret_value not in browser.page_source  # the secret was shown once only
    shot(browser, "21-settings-test-event")

    assert "In force now: 6-digit codes" in browser.find_element(By.ID, "verification").text
    choose(browser, "code_length", "8")
    click_to_next_page(browser, button(browser, "Save verification options"))
    wait.until(ec.url_contains("notice=verification-saved"))
    section = browser.find_element(By.ID, "verification")
    assert "In force now: 8-digit codes" in section.text
    assert Select(browser.find_element(By.ID, "code_length")).first_selected_option.text == (
        "8 digits"
    )
    assert (
        "The verification options are saved." in browser.find_element(By.CLASS_NAME, "notice").text
    )

    fill(browser, "number", OPTED_OUT)
    click_to_next_page(browser, button(browser, "Add to the list"))
    wait.until(ec.url_contains("notice=opt-out-added"))
    assert (
        "The number is on the opt-out list." in browser.find_element(By.CLASS_NAME, "notice").text
    )
    assert OPTED_OUT in browser.find_element(By.ID, "opt-out-list").text
    assert "1 number opted out." in browser.find_element(By.ID, "opt-outs").text
    assert browser.find_element(By.ID, "current-url").text == receiver.url  # still set
    shot(browser, "22-settings")


def verifications(browser: WebDriver, base: str, key: str) -> None:
    """A code sent through the API shows in Verifications, pending, without the code."""
    wait = WebDriverWait(browser, 15)
    sent = httpx.post(
        f"{base}/api/send-code",
        json={"phone_number": SERBIA, "service_name": "Browser test"},
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert sent.status_code == 200, sent.text
    code = sent.json()["data"]["verification_code"]
    assert len(code) == 8 and code.isdigit()  # the length chosen in the settings

    click_to_next_page(browser, browser.find_element(By.LINK_TEXT, "Verifications"))
    table = wait.until(ec.presence_of_element_located((By.ID, "verifications")))
    [row] = table.find_elements(By.CSS_SELECTOR, "tbody tr")
    assert SERBIA in row.text
    assert row.find_element(By.CSS_SELECTOR, ".v-pending").text == "pending"
    assert code not in browser.page_source
    shot(browser, "23-verifications")

    fill(browser, "number", "+1555")
    click_to_next_page(browser, button(browser, "Filter"))
    assert "No verification codes to numbers matching" in browser.page_source
    assert not browser.find_elements(By.ID, "verifications")


def operators(browser: WebDriver, server: Server) -> None:
    """A 404 to a non-operator; once promoted: the accounts, prices, providers, add credits."""
    base = server.url
    wait = WebDriverWait(browser, 15)
    for path in ("/console/operators", "/console/operators/accounts/1"):
        browser.get(f"{base}{path}")
        assert browser.find_element(By.TAG_NAME, "h1").text == "Not found"
    assert not browser.find_elements(By.LINK_TEXT, "Operators")
    shot(browser, "24-operators-not-found")

    server.cli("accounts", "promote", SETTINGS_EMAIL)
    browser.get(f"{base}/console")
    click_to_next_page(browser, browser.find_element(By.LINK_TEXT, "Operators"))
    wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Operators"))
    link = browser.find_element(By.LINK_TEXT, SETTINGS_EMAIL)
    row = link.find_element(By.XPATH, "./ancestor::tr")
    account_id = (row.get_attribute("id") or "").removeprefix("account-")
    assert account_id.isdigit()
    assert row.find_element(By.CLASS_NAME, "credits").text == "4.85"  # 5, less the code's SMS
    assert "operator" in row.text
    assert row.find_element(By.CLASS_NAME, "month").text == "1"
    serbia = browser.find_element(By.ID, "price-RS").text
    assert "Serbia" in serbia and "0.15" in serbia
    assert browser.find_element(By.ID, "default-price").text
    provider = browser.find_element(By.ID, "provider-console")
    assert provider.find_element(By.CLASS_NAME, "status").text == "up"
    assert f"{THROUGHPUT}.0 / s" in provider.text
    shot(browser, "25-operators")
    at_phone_width(browser, "26-operators-phone")

    click_to_next_page(browser, browser.find_element(By.LINK_TEXT, SETTINGS_EMAIL))
    wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "h1"), SETTINGS_EMAIL))
    assert browser.current_url == f"{base}/console/operators/accounts/{account_id}"
    assert browser.find_element(By.ID, "balance").text == "4.85"
    fill(browser, "amount", "2.50")
    click_to_next_page(browser, button(browser, "Add credits"))
    wait.until(ec.url_contains("done=credits"))
    assert "Credits added." in browser.find_element(By.CLASS_NAME, "notice").text
    assert browser.find_element(By.ID, "balance").text == "7.35"
    shot(browser, "27-operator-account")
    at_phone_width(browser, "28-operator-account-phone")
    assert browser.find_element(By.ID, "balance").text == "7.35"  # a reload adds nothing

    browser.get(f"{base}/console")
    assert browser.find_element(By.ID, "credits").text == "7.35"
