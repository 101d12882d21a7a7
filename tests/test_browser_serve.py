"""The page ``bench serve`` shows, in a real headless Chromium: a stroke drawn on its canvas with
the mouse brings every family's prediction; a class name holding HTML is shown as text; the page
fetches nothing but its own server and breaks none of its content security policy.

Skipped, with the reason, only when no Chromium is installed (``apt-get install chromium``).
Uses the served instance of tests/test_serve.py (one ``bench serve`` process for both files).
"""

from __future__ import annotations

from typing import Any

import pytest
from test_serve import FAMILIES, HOSTILE, Served, served  # noqa: F401  (the shared served instance)

pytestmark = pytest.mark.slow

def test_drawing_a_stroke_shows_every_family_s_prediction(browser: Any, served: Served) -> None:  # noqa: F811
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    elsewhere: list[str] = []
    errors: list[str] = []
    page.route(
        "**/*",
        lambda route: (
            route.continue_()
            if route.request.url.startswith(served.url)
            else (elsewhere.append(route.request.url), route.abort())
        ),
    )
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(served.url, wait_until="load")
    page.wait_for_function(f"() => document.querySelectorAll('#results .family').length === {len(FAMILIES)}")

    box = page.locator("#pad").bounding_box()
    x, y, w, h = box["x"], box["y"], box["width"], box["height"]
    # a "7", off centre: a bar across the top, then a slanted stroke down
    stroke = [(0.25, 0.2), (0.7, 0.2), (0.6, 0.45), (0.5, 0.7), (0.45, 0.85)]
    page.mouse.move(x + stroke[0][0] * w, y + stroke[0][1] * h)
    page.mouse.down()
    for x1, y1 in stroke[1:]:
        page.mouse.move(x + x1 * w, y + y1 * h, steps=8)
    page.mouse.up()

    page.wait_for_function(
        "() => [...document.querySelectorAll('#results .family .label')].every(label => label.textContent !== '')",
        timeout=30_000,
    )
    shown = page.evaluate(
        "() => [...document.querySelectorAll('#results .family')].map(box => ({"
        "family: box.getAttribute('data-family'), label: box.querySelector('.label').textContent,"
        "bars: box.querySelectorAll('.bar').length, names: [...box.querySelectorAll('.bar .name')].map(n => n.textContent)}))"
    )
    assert [s["family"] for s in shown] == FAMILIES
    assert all(s["bars"] == 10 and s["label"] for s in shown), shown
    knn = next(s for s in shown if s["family"] == "knn")
    assert knn["names"][7] == HOSTILE  # shown as text
    assert page.evaluate("() => window.__pwned") is None
    assert page.locator("#results img").count() == 0
    assert elsewhere == [] and errors == [], (elsewhere, errors)

    page.click("#clear")
    assert page.evaluate("() => [...document.querySelectorAll('#results .label')].every(l => l.textContent === '')")
    page.close()
