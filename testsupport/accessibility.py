"""Accessibility checks for browser tests: axe-core run inside the page, contrast measured.

axe-core comes from the ``axe-playwright-python`` package (its ``axe.min.js`` is injected as an
inline script, so nothing is fetched). :func:`serious_violations` returns what a gate should
fail on; :func:`text_contrasts` measures the contrast ratio of every visible text element that
matches a selector against the opaque background it is drawn on, and :func:`text_below` lists
all text under a ratio.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import axe_playwright_python

AXE_JS = Path(axe_playwright_python.__file__).parent / "axe.min.js"
GATE_IMPACTS = ("serious", "critical")


def serious_violations(page: Any) -> list[str]:
    """axe-core's violations of serious or critical impact, one line each (empty when none)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE_JS))
    result = page.evaluate(
        """async () => await window.axe.run(document, {
               resultTypes: ['violations'],
               runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa',
                                               'wcag22aa', 'best-practice']}})"""
    )
    lines = []
    for violation in result["violations"]:
        if violation["impact"] not in GATE_IMPACTS:
            continue
        for node in violation["nodes"]:
            lines.append(
                f"{violation['id']} ({violation['impact']}): {node['target']} "
                f"{node.get('failureSummary', '')[:200]}"
            )
    return lines


CONTRAST_JS = """(selector) => {
  const channel = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
  const parse = (text) => (text.match(/[\\d.]+/g) || []).map(Number);
  const luminance = ([r, g, b]) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  const background = (el) => {
    for (let node = el; node; node = node.parentElement) {
      const parts = parse(getComputedStyle(node).backgroundColor);
      if (parts.length >= 3 && (parts.length < 4 || parts[3] > 0.99)) return parts.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const ownText = (el) => [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
  return [...document.querySelectorAll(selector)]
    .filter((el) => el.offsetParent !== null && el.textContent.trim())
    .filter((el) => selector !== 'body *' || ownText(el))
    .filter((el) => !el.closest('button:disabled, [aria-disabled="true"]'))
    .map((el) => {
      const fg = luminance(parse(getComputedStyle(el).color).slice(0, 3));
      const bg = luminance(background(el));
      const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
      return [el.textContent.trim().slice(0, 40), Math.round(ratio * 100) / 100];
    });
}"""


def text_contrasts(page: Any, selector: str) -> list[tuple[str, float]]:
    """(text, contrast ratio) of each visible element matching ``selector``."""
    return [(text, float(ratio)) for text, ratio in page.evaluate(CONTRAST_JS, selector)]


def text_below(page: Any, minimum: float = 4.5) -> list[str]:
    """Every visible piece of text whose contrast is below ``minimum``, large text included.

    axe's AA rule lets large text pass at 3:1; this measures each element that holds text of
    its own (disabled controls are exempt, as WCAG allows).
    """
    return [
        f"{text!r}: {ratio:.2f}:1"
        for text, ratio in page.evaluate(CONTRAST_JS, "body *")
        if ratio < minimum
    ]
