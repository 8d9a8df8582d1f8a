"""Open the student notebook in a running JupyterLab with headless Chromium and use it as a student would.

Runs in the browser environment (requirements-browser.txt) and is started by tests/browser/test_browser.py,
which also starts JupyterLab. Steps, with a screenshot after each in OUT:

1. open the notebook and wait for the kernel;
2. check that the markdown rendered: the points table and the IoU / Dice formulas (MathJax);
3. type the answer into the `preprocess` cell (replacing the stub);
4. check that every self-check cell shows its input folded (JupyterLab's input placeholder, with the
   cell's `#@title` line, instead of an editor), and that a click unfolds one and its collapser folds it again;
5. run every cell from the top down to the first self-check with Shift+Enter and wait for its message,
   which must show below the still folded input;
6. count the error and stderr outputs (Jupyter's red boxes) of the notebook; then, to show that this
   count would see one, run a scratch cell that writes to stderr and count again.

Every finding goes to OUT/results.json; the calling test asserts on it. Only 127.0.0.1 is contacted:
requests to any other host are aborted and listed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

from playwright.sync_api import Page, sync_playwright

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
RED_BOXES = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
CHECK_TITLE = "#@title Self-check:"  # the first line of every self-check cell, shown on its folded input
CHECK_MARK = CHECK_TITLE + " preprocess"
FOLDED = ".jp-InputPlaceholder"  # what JupyterLab puts in place of the editor of a cell with jupyter.source_hidden
PASSED = "preprocess: self-checks passed."


def cell_with(page: Page, selector: str, text: str):
    return page.locator(selector).filter(has_text=text).first


def folded_input(cell) -> dict:
    """How a code cell's input looks: folded (placeholder text) or not, and whether an editor shows."""
    placeholder = cell.locator(f".jp-Cell-inputWrapper {FOLDED}")
    return {
        "folded": placeholder.count() == 1 and placeholder.first.is_visible(),
        "text": placeholder.first.inner_text().strip() if placeholder.count() else "",
        "editors": cell.locator(".jp-InputArea .cm-editor").count(),
    }


def kernel_idle(page: Page, wait_ms: float) -> None:
    """Wait until the status bar shows a started kernel that is idle."""
    page.wait_for_function(
        """() => {
        const bar = document.querySelector("#jp-main-statusbar");
        return bar !== null && bar.innerText.includes("Idle") && !bar.innerText.includes("No Kernel");
    }""",
        timeout=wait_ms,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="the notebook's JupyterLab URL, token included")
    parser.add_argument("--answer", type=Path, required=True, help="file holding the code for the preprocess cell")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument(
        "--timeout", type=float, default=300, help="seconds for the kernel to start and the cells to run"
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict = {"steps": [], "blocked_requests": [], "console_errors": []}
    answer = args.answer.read_text()
    wait_ms = args.timeout * 1000

    def step(name: str) -> None:
        results["steps"].append(name)

    def keep_local(route) -> None:
        if urlparse(route.request.url).hostname in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            results["blocked_requests"].append(route.request.url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=args.chromium, headless=True, args=CHROMIUM_FLAGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.route("**/*", keep_local)
        page = context.new_page()
        page.on(
            "console", lambda message: message.type == "error" and results["console_errors"].append(message.text[:300])
        )
        try:
            # 1. open the notebook and wait for an idle kernel
            page.goto(args.url, wait_until="domcontentloaded", timeout=wait_ms)
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=wait_ms)
            kernel_idle(page, wait_ms)
            results["kernel"] = page.locator("#jp-main-statusbar").inner_text().replace("\n", " ")
            intro = cell_with(page, ".jp-MarkdownCell", "How to work")
            table = intro.locator(".jp-RenderedMarkdown table").first
            table.wait_for(timeout=wait_ms)
            intro.scroll_into_view_if_needed(timeout=wait_ms)
            results["title"] = page.title()
            page.screenshot(path=str(args.out / "1-opened.png"))
            step("opened")

            # 2. rendered markdown: the points table and the formulas
            results["table_rows"] = [row.inner_text().replace("\t", " | ") for row in table.locator("tr").all()]
            intro.screenshot(path=str(args.out / "2-introduction.png"))
            metrics = cell_with(page, ".jp-MarkdownCell", "Evaluation: IoU and Dice")
            metrics.scroll_into_view_if_needed(timeout=wait_ms)
            metrics.locator("mjx-container").first.wait_for(timeout=wait_ms)
            results["formulas"] = metrics.locator("mjx-container").count()
            results["metrics_text"] = metrics.inner_text()
            metrics.screenshot(path=str(args.out / "3-formulas.png"))
            step("markdown")

            # 3. the answer, typed into the preprocess cell in place of the stub
            code = cell_with(page, ".jp-CodeCell", "def preprocess(example)")
            code.scroll_into_view_if_needed(timeout=wait_ms)
            code.locator(".cm-content").click()
            page.keyboard.press("Control+A")
            page.keyboard.insert_text(answer)
            results["answer_in_editor"] = code.locator(".cm-content").inner_text()
            code.screenshot(path=str(args.out / "4-answer.png"))
            step("answered")

            # 4. the self-checks' inputs are folded: a placeholder with their title, no editor
            cells = page.locator(".jp-Notebook .jp-Cell").all()
            results["folded_cells"] = [
                dict(folded_input(cell), index=i) for i, cell in enumerate(cells) if cell.locator(FOLDED).count()
            ]
            titled = [i for i, cell in enumerate(cells) if CHECK_TITLE in cell.inner_text()]
            results["self_check_inputs"] = [dict(folded_input(cells[i]), index=i) for i in titled]
            second = cells[titled[1]]  # double_conv_block's, not run in this test
            second.scroll_into_view_if_needed(timeout=wait_ms)
            second.screenshot(path=str(args.out / "5-folded-self-check.png"))
            last_check = cells[
                titled[-1]
            ]  # a click on the placeholder unfolds the code, the collapser bar folds it again
            last_check.locator(FOLDED).click()
            last_check.locator(".jp-InputArea .cm-editor").wait_for(timeout=wait_ms)
            results["unfolded"] = {
                "editors": last_check.locator(".jp-InputArea .cm-editor").count(),
                "code": last_check.locator(".cm-content").inner_text()[:2000],
            }
            last_check.locator(".jp-Cell-inputCollapser").click()
            last_check.locator(FOLDED).wait_for(timeout=wait_ms)
            results["refolded"] = folded_input(last_check)
            step("folded")

            # 5. run the cells from the top down to the first self-check
            texts = [cell.inner_text() for cell in cells]
            last = next(i for i, text in enumerate(texts) if CHECK_MARK in text)
            results["cells_run"] = last + 1
            page.locator(".jp-Notebook .jp-Cell").first.locator(".jp-InputPrompt").first.click()
            page.keyboard.press("Escape")
            for _ in range(last + 1):
                page.keyboard.press("Shift+Enter")
                time.sleep(0.2)
            check = page.locator(".jp-Notebook .jp-Cell").nth(last)
            check.locator(".jp-OutputArea").filter(has_text=PASSED).wait_for(timeout=wait_ms)
            kernel_idle(page, wait_ms)
            results["check_output"] = check.locator(".jp-OutputArea").inner_text()
            results["check_after_run"] = folded_input(check)
            results["executed_prompts"] = [
                p.inner_text() for p in page.locator(".jp-Notebook .jp-CodeCell .jp-InputPrompt").all()
            ][:12]
            check.scroll_into_view_if_needed(timeout=wait_ms)
            check.screenshot(path=str(args.out / "6-self-check-passed.png"))
            page.screenshot(path=str(args.out / "7-lab.png"))
            step("ran")

            # 6. red boxes: none now; one after a scratch cell that writes to stderr
            results["red_boxes"] = [box.inner_text()[:300] for box in page.locator(RED_BOXES).all()]
            page.keyboard.press("Escape")
            page.keyboard.press("b")  # a new cell below the selected one
            page.keyboard.press("Enter")
            page.keyboard.insert_text('import sys\nprint("probe for red boxes", file=sys.stderr)')
            page.keyboard.press("Shift+Enter")
            page.locator(RED_BOXES).filter(has_text="probe for red boxes").first.wait_for(timeout=wait_ms)
            results["red_boxes_after_probe"] = page.locator(RED_BOXES).count()
            step("probed")
        except Exception as error:  # noqa: BLE001 - reported to the calling test with a screenshot
            results["error"] = f"{type(error).__name__}: {error}"[:2000]
            page.screenshot(path=str(args.out / "failure.png"))
        finally:
            (args.out / "results.json").write_text(json.dumps(results, indent=1))
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
