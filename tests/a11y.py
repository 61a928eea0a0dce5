"""An axe-core scan of a page (or a frame) in the Playwright tests.

axe-core is vendored (tests/vendor/axe.min.js, MPL-2.0, its licence header kept and the
full licence beside it) so the scans need no npm and no new Python dependency. The
source is evaluated in the page rather than added as a <script> tag: every page of ours
sends a strict Content-Security-Policy that refuses inline scripts, while Playwright's
evaluate runs through the debugging protocol, which the policy does not govern."""

from __future__ import annotations

from functools import cache
from pathlib import Path

AXE_PATH = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
# the WCAG 2.0/2.1 A and AA rules (and axe's best practices): what "passes axe" means here
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]


@cache
def axe_source() -> str:
    return AXE_PATH.read_text(encoding="utf-8")


def axe_violations(page, impacts: tuple[str, ...] = ("serious", "critical")) -> list[dict]:
    """Run axe on `page` (a Playwright Page or Frame) and return its violations of the
    given impacts as [{"id", "impact", "help", "targets": [selector, ...]}], small
    enough to read in an assertion message."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(axe_source())
    results = page.evaluate(
        """async (tags) => {
            const result = await window.axe.run(document, {
                runOnly: { type: "tag", values: tags },
                resultTypes: ["violations"],
            });
            return result.violations.map((violation) => ({
                id: violation.id,
                impact: violation.impact,
                help: violation.help,
                targets: violation.nodes.map((node) => node.target.join(" ")),
            }));
        }""",
        AXE_TAGS,
    )
    return [violation for violation in results if violation["impact"] in impacts]
