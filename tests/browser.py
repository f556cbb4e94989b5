"""A real headless Chromium for the workbench tests (Debian's ``chromium``,
driven by Playwright; ``playwright install`` is never needed)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from playwright.async_api import Page, async_playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
"""Flags that let Chromium run in a container as root, without reaching out."""


@asynccontextmanager
async def open_page(
    url: str,
    *,
    width: int = 1280,
    height: int = 800,
    color_scheme: str = "light",
    extra_args: list[str] | None = None,
) -> AsyncIterator[Page]:
    """A fresh browser on ``url``; JavaScript errors on the page fail the test.
    ``extra_args``: more Chromium flags (``--host-resolver-rules=...``)."""
    errors: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *(extra_args or [])]
        )
        try:
            page = await browser.new_page(
                viewport={"width": width, "height": height},
                color_scheme=color_scheme,  # type: ignore[arg-type]
            )
            page.on("pageerror", lambda error: errors.append(str(error)))
            await page.goto(url)
            yield page
        finally:
            await browser.close()
    if errors:
        pytest.fail("errors on the page:\n" + "\n".join(errors))
