"""Checks stalecreds' HTML page in a real headless browser (Debian's chromium and chromedriver,
driven by selenium; installed by scripts/setup).

    check_page.py PAGE SCREENSHOT_DIR
    check_page.py --measure PAGE WORD

Loads PAGE from disk and prints one JSON object with what it saw: the browser's console
messages, the Content-Security-Policy violations, the findings table's rows after each sort and
filter, whether the page fits a phone's width, and the screenshots' paths. It also loads a copy
of PAGE whose script was changed by one character and reports what the browser said about it:
a check that the policy is enforced and that a violation would be seen. The Rust test asserts on
the figures; this script only fails when the browser cannot be driven.
"""

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

# Selenium Manager must not try to download a browser or a driver: there is no internet here.
os.environ["SE_OFFLINE"] = "true"

RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", function (event) {
  window.__violations.push(event.violatedDirective + " " + (event.blockedURI || "inline"));
});
"""


def browser(width: int, height: int) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--window-size={width},{height}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    driver = webdriver.Chrome(options=options, service=service)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_VIOLATIONS})
    return driver


def load(driver: webdriver.Chrome, page: Path) -> dict:
    driver.get(page.resolve().as_uri())
    return {
        "title": driver.title,
        "console": [
            {"level": entry["level"], "message": entry["message"]}
            for entry in driver.get_log("browser")
        ],
        "violations": driver.execute_script("return window.__violations || []"),
    }


def column(driver: webdriver.Chrome, index: int) -> list[str]:
    return driver.execute_script(
        "var index = arguments[0];"
        "return Array.prototype.filter.call(document.querySelectorAll('#findings tbody tr'),"
        " function (row) { return !row.hidden; })"
        ".map(function (row) { return row.cells[index].textContent; });",
        index,
    )


def header_index(driver: webdriver.Chrome, name: str) -> int:
    headers = [cell.text for cell in driver.find_elements(By.CSS_SELECTOR, "#findings thead th")]
    return headers.index(name)


def sort(driver: webdriver.Chrome, name: str) -> list[str]:
    driver.find_element(By.XPATH, f"//table[@id='findings']//th/button[text()='{name}']").click()
    return column(driver, header_index(driver, name))


def whole(driver: webdriver.Chrome, width: int) -> None:
    """Makes the window as tall as the page, so that a screenshot shows all of it."""
    driver.execute_script("window.scrollTo(0, 0)")
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, min(int(height) + 140, 8000))


# Runs `action` (JavaScript acting on the page) and resolves, after the next two animation
# frames (the browser has laid out and painted), with the milliseconds it took.
TIMED = """
var done = arguments[arguments.length - 1];
var started = performance.now();
(new Function(arguments[0]))();
requestAnimationFrame(function () { requestAnimationFrame(function () {
  done(performance.now() - started);
}); });
"""

FILTER = """
var box = document.getElementById('filter');
box.value = arguments_word;
box.dispatchEvent(new Event('input'));
"""


def measure(page: Path, word: str) -> dict:
    """Times a large page: loading it to its first paint and to its script's end, filtering by
    `word`, and sorting by days idle; with the page's size and the heap the tab uses."""
    driver = browser(1280, 1000)
    try:
        driver.set_page_load_timeout(300)
        driver.set_script_timeout(300)
        loaded = load(driver, page)
        timing = driver.execute_script(
            "var t = performance.timing, paint = performance.getEntriesByType('paint');"
            "return {loaded: t.loadEventEnd - t.navigationStart,"
            " content_loaded: t.domContentLoadedEventEnd - t.navigationStart,"
            " first_paint: paint.length ? paint[paint.length - 1].startTime : null,"
            " heap: performance.memory ? performance.memory.usedJSHeapSize : null};"
        )
        rows = len(column(driver, 0))
        filter_ms = driver.execute_async_script(TIMED, FILTER.replace("arguments_word", json.dumps(word)))
        filtered = column(driver, header_index(driver, "User"))
        shown = driver.find_element(By.ID, "shown").text
        clear_ms = driver.execute_async_script(TIMED, FILTER.replace("arguments_word", '""'))
        sort_ms = driver.execute_async_script(
            TIMED,
            "Array.prototype.filter.call(document.querySelectorAll('#findings th button'),"
            " function (b) { return b.textContent === 'Days idle'; })[0].click();",
        )
        return {
            "bytes": page.stat().st_size,
            "console": loaded["console"],
            "violations": loaded["violations"],
            "timing": timing,
            "rows_rendered": rows,
            "filter_ms": filter_ms,
            "filtered_users": filtered,
            "shown_text": shown,
            "clear_filter_ms": clear_ms,
            "sort_ms": sort_ms,
        }
    finally:
        driver.quit()


def main() -> int:
    if sys.argv[1] == "--measure":
        json.dump(measure(Path(sys.argv[2]), sys.argv[3]), sys.stdout, indent=1)
        print()
        return 0
    page, shots = Path(sys.argv[1]), Path(sys.argv[2])
    shots.mkdir(parents=True, exist_ok=True)
    seen: dict = {}
    driver = browser(1280, 1000)
    try:
        seen["load"] = load(driver, page)
        has_table = bool(driver.find_elements(By.ID, "findings"))
        seen["has_table"] = has_table
        if has_table:
            seen["rows"] = len(column(driver, 0))
            seen["days_idle_first_click"] = sort(driver, "Days idle")
            seen["days_idle_second_click"] = sort(driver, "Days idle")
            seen["user_first_click"] = sort(driver, "User")
            seen["aria_sort"] = driver.find_element(
                By.XPATH, "//table[@id='findings']//th[button[text()='User']]"
            ).get_attribute("aria-sort")
            users = seen["user_first_click"]
            word = users[-1] if users else ""
            box = driver.find_element(By.ID, "filter")
            box.send_keys(word)
            seen["filter_word"] = word
            seen["filtered_users"] = column(driver, header_index(driver, "User"))
            seen["shown_text"] = driver.find_element(By.ID, "shown").text
            box.clear()
            box.send_keys(" ")  # an input event; whitespace only matches everything
            Select(driver.find_element(By.ID, "change")).select_by_value("new")
            seen["new_only_changes"] = column(driver, header_index(driver, "Change"))
            Select(driver.find_element(By.ID, "change")).select_by_value("")
            seen["rows_after_reset"] = len(column(driver, 0))
        box_text = driver.find_element(By.ID, "filter") if seen["has_table"] else None
        if box_text is not None:
            box_text.clear()
        desktop = shots / "report-desktop.png"
        whole(driver, 1280)
        driver.save_screenshot(str(desktop))
        seen["after_use"] = {
            "console": [entry["message"] for entry in driver.get_log("browser")],
            "violations": driver.execute_script("return window.__violations"),
        }
        driver.set_window_size(390, 844)
        driver.execute_script("window.scrollTo(0, 0)")
        seen["phone"] = driver.execute_script(
            "return {width: window.innerWidth,"
            " page: document.documentElement.scrollWidth}"
        )
        phone = shots / "report-phone.png"
        whole(driver, 390)
        driver.save_screenshot(str(phone))
        seen["screenshots"] = [str(desktop), str(phone)]

        with tempfile.TemporaryDirectory() as scratch:
            text = page.read_text(encoding="utf-8")
            tampered = Path(scratch) / "tampered.html"
            tampered.write_text(text.replace('"use strict";', '"use strict"; ', 1), encoding="utf-8")
            seen["tampered"] = load(driver, tampered)
    finally:
        driver.quit()
    json.dump(seen, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
