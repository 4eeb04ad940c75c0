"""What the agent logs of URLs and query strings: no credentials."""

from __future__ import annotations

import pytest

from handlers.redact import mask_query, redact_url


@pytest.mark.parametrize(("url", "shown"), [
    ("https://user:pw@example.com/target?token=t&x=1", "https://***@example.com/target?token=***&x=1"),
    ("https://ghp_token@example.com/t", "https://***@example.com/t"),  # a user can be a token too
    ("unix:///var/run/docker.sock", "unix:///var/run/docker.sock"),  # untouched, not rebuilt
    ("file:///mnt/data/target.json", "file:///mnt/data/target.json"),
    ("http://[::1/", "***"),  # urlsplit refuses it: nothing of it is shown
])
def test_urls_are_shown_without_credentials(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_mask_query_keeps_everything_else_byte_for_byte() -> None:
    assert mask_query("") == ""
    assert mask_query("a=1&&b=%20&c") == "a=1&&b=%20&c"
