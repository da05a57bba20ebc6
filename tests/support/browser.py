"""Headless Chromium, driven through selenium, for the dashboard's browser tests.

Debian's ``chromium`` and ``chromium-driver`` packages are used (``.ci/run`` installs them with
apt when they are missing); selenium is told both paths and to stay offline, so it never tries to
download a browser or a driver. Without a browser the tests skip, except under CI (``CI=true``),
where a missing browser is a failure: the browser tests must run there.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

#: where Debian puts them; TESSERA_CHROMIUM / TESSERA_CHROMEDRIVER override
CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
CHROMEDRIVER = ("chromedriver",)
WAIT = 20.0


def _which(env: str, names: tuple[str, ...]) -> str | None:
    given = os.environ.get(env)
    if given:
        return given
    for name in names:
        found = shutil.which(name) or shutil.which(name, path="/usr/bin:/usr/lib/chromium")
        if found:
            return found
    return None


def browser_paths() -> tuple[str, str]:
    """(browser, driver); skips the test (fails it under CI) when either is missing."""
    browser = _which("TESSERA_CHROMIUM", CHROMIUM)
    driver = _which("TESSERA_CHROMEDRIVER", CHROMEDRIVER)
    try:
        import selenium  # noqa: F401
    except ImportError:
        browser = None
    if browser and driver:
        return browser, driver
    why = "no headless browser: apt-get install chromium chromium-driver, pip install selenium"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(why + " (.ci/run should have installed them)")
    pytest.skip(why)


class Browser:
    """One Chromium session; screenshots go to ``shots``, named by step."""

    def __init__(self, shots: Path, width: int = 1360, height: int = 1000) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        browser, driver = browser_paths()
        os.environ.setdefault("SE_OFFLINE", "true")  # selenium-manager must not go online
        options = webdriver.ChromeOptions()
        options.binary_location = browser
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-extensions", "--no-first-run", "--mute-audio",
                    f"--window-size={width},{height}", f"--user-data-dir={shots / 'profile'}"):
            options.add_argument(arg)
        shots.mkdir(parents=True, exist_ok=True)
        self.shots = shots
        self.driver = webdriver.Chrome(options=options, service=Service(executable_path=driver))
        self.driver.set_page_load_timeout(30)

    def open(self, url: str) -> None:
        self.driver.get(url)

    def go(self, hash_: str) -> None:
        """Another view of the page already open (the dashboard routes on the hash)."""
        self.driver.execute_script("location.hash = arguments[0]", hash_)

    def wait(self, predicate, what: str, timeout: float = WAIT):
        """Poll ``predicate()`` until it returns something truthy; its value."""
        from selenium.common.exceptions import StaleElementReferenceException, WebDriverException

        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            try:
                last = predicate()
                if last:
                    return last
            except (StaleElementReferenceException, WebDriverException) as exc:
                last = exc
            time.sleep(0.1)
        self.screenshot("timeout")
        raise AssertionError(f"timed out waiting for {what} (last: {last!r})\n{self.messages()}")

    def find(self, css: str):
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, css)

    def all(self, css: str) -> list:
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def element(self, css: str, timeout: float = WAIT):
        """The first visible element matching ``css``, once there is one."""
        return self.wait(lambda: next((e for e in self.all(css) if e.is_displayed()), None),
                         f"element {css}", timeout)

    def text(self, css: str) -> str:
        return self.element(css).text

    def click(self, css: str) -> None:
        self.element(css).click()

    def type(self, css: str, text: str, clear: bool = True) -> None:
        box = self.element(css)
        if clear:
            box.clear()
        box.send_keys(text)

    def set_value(self, css: str, value: str) -> None:
        """Set a textarea's text at once (typing a long JSON key by key is slow) and fire input."""
        box = self.element(css)
        self.driver.execute_script(
            "arguments[0].value = arguments[1];"
            "arguments[0].dispatchEvent(new Event('input', {bubbles: true}))", box, value)

    def confirm(self) -> None:
        """Accept the dashboard's confirmation dialog."""
        self.click("#confirm-dialog[open] #confirm-ok")

    def messages(self) -> str:
        return "\n".join(e.text for e in self.all("#messages .message"))

    def errors(self) -> list[str]:
        return [e.text for e in self.all("#messages .message.error")]

    def screenshot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    def close(self) -> None:
        self.driver.quit()
