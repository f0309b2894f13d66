"""Accessibility checks for browser tests: axe-core run inside the page, and the keyboard.

axe-core is the release package.json pins, vendored under tests/vendor/axe-core (``make
vendor``), so nothing is downloaded at test time. It is evaluated by Playwright through the
DevTools protocol, which the pages' Content-Security-Policy (scripts from 'self' only, no eval)
does not govern: the pages are checked exactly as they are served.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")
# WCAG 2.2 A and AA, and axe's best practices (reported, not blocking unless serious).
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]


def axe(page: Page) -> list[dict[str, Any]]:
    """The page's axe violations, each with its rule id, impact and offending nodes."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))
    return page.evaluate(
        """async (tags) => {
            const results = await axe.run(document, {
                runOnly: {type: "tag", values: tags}, resultTypes: ["violations"],
            });
            return results.violations.map((v) => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 5),
            }));
        }""",
        TAGS,
    )


def by_impact(violations: list[dict[str, Any]]) -> dict[str, int]:
    """Violating nodes counted by impact, e.g. {"moderate": 2}."""
    counts: Counter[str] = Counter()
    for violation in violations:
        counts[violation["impact"] or "unknown"] += len(violation["nodes"])
    return dict(counts)


def blocking(violations: list[dict[str, Any]]) -> str:
    """The serious and critical violations, readable in an assertion message ('' if none)."""
    found = [v for v in violations if v["impact"] in BLOCKING]
    return json.dumps(found, indent=1) if found else ""


# Everything Tab can land on, as the browser decides it (visible, enabled, not inert).
TABBABLE = """() => Array.from(document.querySelectorAll(
    'a[href], button, input, select, textarea, iframe, video[controls], audio[controls], ' +
    '[tabindex], summary, [contenteditable=""], [contenteditable="true"]'
)).filter((el) => {
    if (el.tabIndex < 0 || el.disabled || el.closest('[hidden], [inert]')) return false;
    if (el.type === 'hidden') return false;
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || style.display === 'none') return false;
    return el.getClientRects().length > 0;
})"""


def tab_order(page: Page, limit: int = 200) -> tuple[list[str], list[str]]:
    """Tab from the top of the page until focus comes back round; returns the tabbable
    elements (by a label) and those Tab reached, in order."""
    labels = page.evaluate(
        f"""() => ({TABBABLE})().map((el, i) => {{
            el.dataset.tabProbe = String(i);
            return el.dataset.tabProbe + ':' + (el.getAttribute('aria-label') || el.textContent
                || el.getAttribute('title') || el.getAttribute('name') || el.tagName).trim()
                .replace(/\\s+/g, ' ').slice(0, 60);
        }})"""
    )
    page.evaluate("() => { document.activeElement && document.activeElement.blur(); }")
    page.evaluate("() => window.scrollTo(0, 0)")
    reached: list[str] = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        probe = page.evaluate(
            "() => { const el = document.activeElement;"
            " return el && el.dataset ? (el.dataset.tabProbe || null) : null; }"
        )
        if probe is not None:
            label = next(item for item in labels if item.split(":", 1)[0] == probe)
            if reached and label == reached[0]:
                break  # round again
            if label not in reached:
                reached.append(label)
        if len(reached) == len(labels):
            break
    return labels, reached
