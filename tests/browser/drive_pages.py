"""Open the grader's own HTML pages (a student's feedback.html, the batch's report.html) in headless Chromium.

Runs in the browser environment (requirements-browser.txt), started by tests/browser/test_pages.py. Each page is
opened from its file:// address; every request it makes is recorded and only file: and data: ones are let through,
console errors and page errors are collected, and a full-page screenshot is saved as OUT/<name>.png. On the report,
a click on the "total" heading must sort the students' table (our inline script, allowed by the page's policy).
Findings go to OUT/pages.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from drive_lab import CHROMIUM_FLAGS
from playwright.sync_api import Page, sync_playwright

LOCAL = ("file:", "data:")


def first_column(page: Page) -> list[str]:
    return page.eval_on_selector_all("table.sortable tbody tr", "rows => rows.map(r => r.cells[0].innerText)")


def visit(page: Page, url: str, shot: Path) -> dict:
    """Open `url`, wait for it and its images, screenshot it; what it requested and reported."""
    found: dict = {"requests": [], "blocked": [], "console_errors": [], "page_errors": []}
    page.on("request", lambda request: found["requests"].append(request.url[:120]))
    page.on("console", lambda message: message.type == "error" and found["console_errors"].append(message.text[:300]))
    page.on("pageerror", lambda error: found["page_errors"].append(str(error)[:300]))
    page.goto(url, wait_until="load")
    page.wait_for_function("() => Array.from(document.images).every(image => image.complete && image.naturalWidth > 0)")
    found["images"] = page.eval_on_selector_all("img", "images => images.map(i => [i.naturalWidth, i.naturalHeight])")
    found["title"] = page.title()
    found["headings"] = page.eval_on_selector_all("h2", "hs => hs.map(h => h.innerText)")
    found["scripts_ran"] = page.evaluate("() => document.querySelectorAll('th[aria-sort]').length")
    page.screenshot(path=str(shot), full_page=True)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--page", action="append", required=True, metavar="NAME=URL", help="a page to open (repeat)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict = {}

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=args.chromium, headless=True, args=CHROMIUM_FLAGS)
        try:
            for name, url in (item.split("=", 1) for item in args.page):
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                blocked: list[str] = []

                def only_local(route, blocked: list[str] = blocked) -> None:
                    if route.request.url.startswith(LOCAL):
                        route.continue_()
                    else:
                        blocked.append(route.request.url[:200])
                        route.abort()

                context.route("**/*", only_local)
                page = context.new_page()
                found = visit(page, url, args.out / f"{name}.png")
                if page.locator("table.sortable").count():
                    before = first_column(page)
                    page.locator("table.sortable th", has_text="total").click()
                    ascending = first_column(page)
                    page.locator("table.sortable th", has_text="total").click()
                    found["sorting"] = {"before": before, "ascending": ascending, "descending": first_column(page)}
                found["blocked"] = blocked
                results[name] = found
                context.close()
        except Exception as error:  # noqa: BLE001 - the calling test reports whatever went wrong
            results["error"] = f"{type(error).__name__}: {error}"
        finally:
            browser.close()
    (args.out / "pages.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
