"""The interactive API docs work without internet access: every asset comes from the server itself."""

from __future__ import annotations

import re

import httpx
import pytest

from conftest import RunningServer


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_only_assets_the_server_serves(server: RunningServer, page: str) -> None:
    html = httpx.get(server.url + page, timeout=30)
    assert html.status_code == 200, html.text
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html.text)
    scripts = [url for url in assets if url.endswith(".js")]
    assert scripts, html.text
    assert not [url for url in assets if re.match(r"(https?:)?//", url)], assets
    for url in assets:
        answer = httpx.get(server.url + url, timeout=30)
        assert answer.status_code == 200, url
        if url in scripts:
            assert len(answer.content) > 100_000, url  # the UI itself, not a stub
    assert "/openapi.json" in html.text
