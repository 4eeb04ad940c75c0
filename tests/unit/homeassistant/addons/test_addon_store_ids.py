"""Repository ids and URLs as tag 138 made them (hassio/addons/utils.py, hassio/validate.py)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from handlers.homeassistant.addons.git import split_url
from handlers.homeassistant.addons.store import StoreAddon, id_from_folder, kept_repositories, repository_id


def test_repository_id_is_sha1_of_the_url_in_lower_case() -> None:
    url = "https://github.com/hassio-addons/repository"
    assert repository_id(url) == hashlib.sha1(url.encode()).hexdigest()[:8] == "a0d7b954"
    assert repository_id(url.upper()) == "a0d7b954"
    assert repository_id(url + "#beta") != "a0d7b954"


def test_id_from_folder() -> None:
    assert id_from_folder("a0d7b954") == "a0d7b954"
    assert id_from_folder("a0d7b954-old") == "a0d7b954-old"  # 138 matched 8 hex digits at the start only
    assert id_from_folder("My-Repo") == repository_id("My-Repo")


@pytest.mark.parametrize(("given", "url", "branch"), [
    ("https://example.org/repo", "https://example.org/repo", None),
    ("git://127.0.0.1:9418/x#beta-1", "git://127.0.0.1:9418/x", "beta-1"),
    ("file:///srv/addons#main", "file:///srv/addons", "main"),
])
def test_split_url(given: str, url: str, branch: str | None) -> None:
    assert split_url(given) == (url, branch)


@pytest.mark.parametrize("bad", ["", "#branch", "https://x/y#bad branch", "https://x/y#a#b"])
def test_split_url_refuses(bad: str) -> None:
    with pytest.raises(ValueError):
        split_url(bad)


def test_image_names() -> None:
    image = StoreAddon("core_ssh", "core", Path("/x"),
                       {"slug": "ssh", "image": "homeassistant/{arch}-addon-ssh", "arch": ["amd64"]})
    built = StoreAddon("a0d7b954_nodered", "a0d7b954", Path("/y"),
                       {"slug": "nodered", "arch": ["amd64", "armhf"]})
    assert (image.build, image.image("armhf")) == (False, "homeassistant/armhf-addon-ssh")
    assert (built.build, built.image("armhf")) == (True, "a0d7b954/armhf-addon-nodered")
    assert image.available("amd64", "qemux86-64") and not image.available("armhf", "qemux86-64")
    assert image.available("amd64", None)  # an unknown machine: only add-ons naming machines are out


def test_the_setting_kept_as_138_kept_it() -> None:
    """138's load_repositories: new ones added only when loaded, only loaded ones dropped."""
    configured = ["https://a", "https://dead"]  # https://dead failed to load at start
    before = ["https://a"]
    # POST {"addons_repositories": ["https://b", "https://c"]}: b loads, c does not; a is removed
    assert kept_repositories(configured, before, ["https://b"]) == ["https://dead", "https://b"]
    # the same list again: nothing changes
    assert kept_repositories(configured, before, before) == configured
    # a URL already in the setting that fails again stays
    assert kept_repositories(["https://dead"], [], []) == ["https://dead"]
