"""balena supervisor v1 API in process (balena-v1.md §2-3): health, auth, express conventions.

No Docker Engine and no D-Bus: /v1/device answers the 500 envelope; routes that need the
engine are checked only up to what they answer without one (integration tests use a real one).
Every response is checked against spec/balena_v1.yaml by Agent.request.
"""

from __future__ import annotations

import gzip
import json
from typing import Any

import httpx
import pytest

from compat.balena import express
from tests.api.support import API_KEY, ENV, HOSTNAME, Agent, Agents, express_etag

STEM = "balena_v1"
KEY = {"Authorization": f"ApiKey {API_KEY}"}
CSP = "default-src 'self'"  # finalhandler 1.1.1


# escape-html (npm), which finalhandler uses: these five characters, `'` as &#39;
ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}


def page(message: str) -> bytes:
    """finalhandler's HTML error document for `message` (createHtmlDocument)."""
    escaped = "".join(ESCAPES.get(c, c) for c in message)
    body = escaped.replace("\n", "<br>").replace("  ", " &nbsp;")
    return ('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>Error</title>\n'
            f"</head>\n<body>\n<pre>{body}</pre>\n</body>\n</html>\n").encode()


def assert_text(response: httpx.Response, status: int, body: bytes, content_type: str, md5: bool = False) -> None:
    """Status, exact body, exact Content-Type and express's ETag for that body."""
    assert response.status_code == status, response.content
    assert response.content == body
    assert response.headers["content-type"] == content_type
    assert response.headers["etag"] == express_etag(body, md5)


def assert_unauthorized(response: httpx.Response) -> None:
    """res.sendStatus(401)."""
    assert_text(response, 401, b"Unauthorized", "text/plain; charset=utf-8")


def assert_cannot(response: httpx.Response, method: str, path: str) -> None:
    """finalhandler's 404 page `Cannot METHOD path`, with its two headers and no ETag."""
    assert response.status_code == 404
    assert response.content == page(f"Cannot {method} {path}")
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["content-security-policy"] == CSP
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "etag" not in response.headers


def assert_envelope_500(response: httpx.Response, md5: bool = False) -> None:
    """res.status(500).json({Data: '', Error: message}): compact, Data then Error."""
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.content.startswith(b'{"Data":"","Error":"')
    body: dict[str, Any] = json.loads(response.content)
    assert list(body) == ["Data", "Error"] and body["Error"]
    assert response.headers["etag"] == express_etag(response.content, md5)


# ---- health routes: open ----

def test_ping_is_open(api: Agent) -> None:
    assert_text(api.request(STEM, "GET", "/ping"), 200, b"OK", "text/html; charset=utf-8")


def test_healthy_is_open(api: Agent) -> None:
    assert_text(api.request(STEM, "GET", "/v1/healthy"), 200, b"OK", "text/plain; charset=utf-8")


def test_head_is_get_without_a_body(api: Agent) -> None:
    response = api.request(STEM, "HEAD", "/ping")
    assert (response.status_code, response.content) == (200, b"")
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["etag"] == express_etag(b"OK")


@pytest.mark.parametrize("path", ["/V1/Healthy/", "/v1/HEALTHY", "/v1/healthy/"])
def test_paths_ignore_case_and_one_trailing_slash(api: Agent, path: str) -> None:
    assert_text(api.request(STEM, "GET", path), 200, b"OK", "text/plain; charset=utf-8")


def test_ping_ignores_case_without_a_key(api: Agent) -> None:
    assert_text(api.request(STEM, "GET", "/PING/"), 200, b"OK", "text/html; charset=utf-8")


# ---- ETag and 304 (express req.fresh) ----

def test_etag_and_if_none_match_give_304(api: Agent) -> None:
    first = api.request(STEM, "GET", "/ping")
    tag = first.headers["etag"]
    assert tag == 'W/"2-nOO9QiTIwXgNtWtBJezz8kv3SLc"'
    again = api.request(STEM, "GET", "/ping", headers={"If-None-Match": tag})
    assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", tag)
    assert "content-type" not in again.headers
    star = api.request(STEM, "GET", "/v1/healthy", headers={"If-None-Match": "*"})
    assert star.status_code == 304
    # fresh 0.5.2: a strong form of the weak tag matches; If-Modified-Since without Last-Modified is stale
    strong = api.request(STEM, "GET", "/ping", headers={"If-None-Match": tag.removeprefix("W/")})
    assert strong.status_code == 304
    dated = api.request(STEM, "GET", "/ping", headers={"If-None-Match": "*",
                                                       "If-Modified-Since": "Sat, 01 Jan 2050 00:00:00 GMT"})
    assert dated.status_code == 200
    assert api.request(STEM, "GET", "/ping", headers={"If-None-Match": tag, "Cache-Control": "max-age=0, no-cache"}
                       ).status_code == 200
    assert api.request(STEM, "GET", "/ping", headers={"If-None-Match": tag, "Cache-Control": "no-cache-x"}
                       ).status_code == 304


def test_if_none_match_of_another_body_gives_the_body(api: Agent) -> None:
    response = api.request(STEM, "GET", "/ping", headers={"If-None-Match": 'W/"2-AAAAAAAAAAAAAAAAAAAAAAAAAAA"'})
    assert_text(response, 200, b"OK", "text/html; charset=utf-8")


# express req.fresh (fresh 0.5.2) is always stale with Cache-Control: no-cache (balena-v1.md §2.0)
def test_cache_control_no_cache_is_never_fresh(api: Agent) -> None:
    headers = {"If-None-Match": express_etag(b"OK"), "Cache-Control": "no-cache"}
    assert_text(api.request(STEM, "GET", "/ping", headers=headers), 200, b"OK", "text/html; charset=utf-8")


# ---- API key ----

@pytest.mark.parametrize("method, path", [("GET", "/v1/device"), ("GET", "/v1/xyz"), ("POST", "/ping"),
                                          ("POST", "/v1/healthy"), ("GET", "/"), ("HEAD", "/v1/device"),
                                          ("POST", "/v1/reboot"), ("POST", "/v1/regenerate-api-key")])
def test_no_key_is_401_before_routing(api: Agent, method: str, path: str) -> None:
    response = api.request(STEM, method, path)
    if method == "HEAD":
        assert (response.status_code, response.content) == (401, b"")
    else:
        assert_unauthorized(response)


def test_apikey_query_parameter(api: Agent) -> None:
    assert_envelope_500(api.request(STEM, "GET", f"/v1/device?apikey={API_KEY}"))


@pytest.mark.parametrize("value", [f"ApiKey {API_KEY}", f"Bearer {API_KEY}", f"apikey {API_KEY}",
                                   f"BEARER {API_KEY}", f"bearer {API_KEY}"])
def test_authorization_header_schemes(api: Agent, value: str) -> None:
    assert_envelope_500(api.request(STEM, "GET", "/v1/device", headers={"Authorization": value}))


@pytest.mark.parametrize("query, header", [
    ("?apikey=wrongkey_0123456789", None),
    ("", "ApiKey wrongkey_0123456789"),
    ("", "Bearer wrongkey_0123456789"),
    ("", f"Basic {API_KEY}"),
    ("", f"ApiKey  {API_KEY}"),            # two spaces
    ("", f"ApiKey {API_KEY} "),            # trailing space
    ("", API_KEY),                         # no scheme
    ("", f"ApiKey {API_KEY}!"),            # non-\w characters are never a key
    ("", f"Bearer {API_KEY}-x"),
    (f"?apikey={API_KEY}%21", None),
    (f"?APIKEY={API_KEY}", None),          # the parameter name is case-sensitive
])
def test_wrong_or_malformed_key_is_401(api: Agent, query: str, header: str | None) -> None:
    headers = {"Authorization": header} if header is not None else {}
    assert_unauthorized(api.request(STEM, "GET", f"/v1/device{query}", headers=headers))


def test_empty_apikey_parameter_falls_back_to_the_header(api: Agent) -> None:
    assert_envelope_500(api.request(STEM, "GET", "/v1/device?apikey=", headers=KEY))


def test_dev_image_needs_no_key(agents: Agents) -> None:
    dev = agents.start(variant="dev")
    assert_envelope_500(dev.request(STEM, "GET", "/v1/device"))
    assert_cannot(dev.request(STEM, "GET", "/v1/xyz"), "GET", "/v1/xyz")
    assert_text(dev.request(STEM, "POST", "/v1/update"), 202, b"Accepted", "text/plain; charset=utf-8")


# ---- unknown routes: express's final handler ----

def test_unknown_route_with_a_key_is_the_cannot_get_page(api: Agent) -> None:
    response = api.request(STEM, "GET", "/v1/xyz", headers=KEY)
    assert response.content == (b'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
                                b"<title>Error</title>\n</head>\n<body>\n<pre>Cannot GET /v1/xyz</pre>\n"
                                b"</body>\n</html>\n")
    assert_cannot(response, "GET", "/v1/xyz")


def test_wrong_method_on_ping_is_404_not_405(api: Agent) -> None:
    assert_cannot(api.request(STEM, "POST", "/ping", headers=KEY), "POST", "/ping")


def test_cannot_page_keeps_the_path_as_sent(api: Agent) -> None:
    assert_cannot(api.request(STEM, "DELETE", "/V1/Device/", headers=KEY), "DELETE", "/V1/Device/")


def test_cannot_page_escapes_html(api: Agent) -> None:
    response = api.request(STEM, "GET", "/v1/a&b", headers=KEY)
    assert b"<pre>Cannot GET /v1/a&amp;b</pre>" in response.content
    assert_cannot(response, "GET", "/v1/a&b")


# finalhandler escapes the message with escape-html, which writes `'` as `&#39;`:
# `GET /v1/x'y` is `<pre>Cannot GET /v1/x&#39;y</pre>` (Python's html.escape writes `&#x27;`)
# (balena-v1.md §2.0)
def test_cannot_page_escapes_quotes_as_escape_html_does(api: Agent) -> None:
    response = api.request(STEM, "GET", "/v1/x'y", headers=KEY)
    assert b"<pre>Cannot GET /v1/x&#39;y</pre>" in response.content


# finalhandler 1.1.1 (express 4.16.4, the v10 supervisor) names the resource by
# parseUrl.original(req).pathname: the query string is not in the message, so
# `GET /v1/xyz?apikey=...` is `<pre>Cannot GET /v1/xyz</pre>` (balena-v1.md §2.0)
def test_cannot_page_leaves_out_the_query_string(api: Agent) -> None:
    assert_cannot(api.request(STEM, "GET", f"/v1/xyz?apikey={API_KEY}"), "GET", "/v1/xyz")


# finalhandler shows encodeUrl(pathname) of the raw request target, so a percent-encoded
# path stays encoded: `GET /v1/a%20b` is `Cannot GET /v1/a%20b`, not the decoded `/v1/a b`
# (balena-v1.md §2.0)
def test_cannot_page_keeps_percent_encoding(api: Agent) -> None:
    assert_cannot(api.request(STEM, "GET", "/v1/a%20b", headers=KEY), "GET", "/v1/a%20b")


# express (path-to-regexp 0.1, strict off) ignores ONE trailing slash: `/v1/healthy//` is no
# route, so the auth middleware answers 401 `Unauthorized` without a key (balena-v1.md §2.0, §3)
def test_only_one_trailing_slash_is_ignored(api: Agent) -> None:
    assert_unauthorized(api.request(STEM, "GET", "/v1/healthy//"))


# ---- /v1/device without an engine ----

def test_device_without_an_engine_is_the_500_envelope(api: Agent) -> None:
    response = api.request(STEM, "GET", "/v1/device", headers=KEY)
    assert_envelope_500(response)
    assert "Docker" in json.loads(response.content)["Error"]


# ---- the rest of the v1 routes, as far as they answer without an engine or bus ----

def test_blink_is_sendstatus_200(api: Agent) -> None:
    assert_text(api.request(STEM, "POST", "/v1/blink", headers=KEY), 200, b"OK", "text/plain; charset=utf-8")


def test_update_without_a_target_source_is_202_accepted(api: Agent) -> None:
    response = api.request(STEM, "POST", "/v1/update", headers=KEY, json={"force": True})
    assert_text(response, 202, b"Accepted", "text/plain; charset=utf-8")


@pytest.mark.parametrize("path", ["/v1/reboot", "/v1/shutdown"])
def test_power_without_an_engine_is_the_500_envelope(api: Agent, path: str) -> None:
    assert_envelope_500(api.request(STEM, "POST", path, headers=KEY, json={"force": False}))


def test_regenerate_api_key(api: Agent) -> None:
    response = api.request(STEM, "POST", "/v1/regenerate-api-key", headers=KEY)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    new = response.content.decode()
    assert len(new) == 62 and int(new, 16) >= 0 and new != API_KEY
    assert response.headers["etag"] == express_etag(response.content)
    assert_unauthorized(api.request(STEM, "GET", "/v1/device", headers=KEY))
    assert_envelope_500(api.request(STEM, "GET", "/v1/device", headers={"Authorization": f"Bearer {new}"}))


@pytest.mark.parametrize("path, body, message", [
    ("/v1/purge", {}, b"Invalid or missing appId"),
    ("/v1/purge", {"appId": "abc"}, b"Invalid or missing appId"),
    ("/v1/restart", {}, b"Missing app id"),
    ("/v1/restart", {"appId": None}, b"Missing app id"),
    ("/v1/apps/abc/stop", {}, b"Missing app id"),
    ("/v1/apps/abc/start", {}, b"Missing app id"),
])
def test_missing_app_id_is_400_text(api: Agent, path: str, body: dict[str, Any], message: bytes) -> None:
    response = api.request(STEM, "POST", path, headers=KEY, json=body)
    assert_text(response, 400, message, "text/html; charset=utf-8")


def test_get_app_with_a_bad_id_is_400_text(api: Agent) -> None:
    response = api.request(STEM, "GET", "/v1/apps/abc", headers=KEY)
    assert_text(response, 400, b"Missing app id", "text/html; charset=utf-8")


def test_get_app_without_an_engine_is_503_text(api: Agent) -> None:
    response = api.request(STEM, "GET", "/v1/apps/12", headers=KEY)
    assert response.status_code == 503
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    # the engine is named, as the legacy dockerode text named it (`connect ENOENT /var/run/docker.sock`)
    assert response.text == f"Docker engine unavailable at {ENV['DOCKER_HOST']}: No such file or directory"


def test_urlencoded_bodies_are_parsed(api: Agent) -> None:
    response = api.request(STEM, "POST", "/v1/restart", headers=KEY, content=b"appId=abc&force=1",
                           )  # no content type: the body is ignored, appId is missing
    assert_text(response, 400, b"Missing app id", "text/html; charset=utf-8")
    response = api.request(STEM, "POST", "/v1/restart", content=b"appId=12",
                           headers={**KEY, "Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 503  # appId 12 was read: the engine is asked (and absent)


def test_malformed_json_is_the_400_error_page(api: Agent) -> None:
    """The 2019 supervisor was bundled by webpack 4 in production mode, which set express's env to
    "production": finalhandler shows the status text, not the error."""
    response = api.request(STEM, "POST", "/v1/restart", content=b'{"appId": 1,}',
                           headers={**KEY, "Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["content-security-policy"] == CSP
    assert response.content == page("Bad Request")
    assert "etag" not in response.headers


def test_json_must_be_an_object_or_array(api: Agent) -> None:
    response = api.request(STEM, "POST", "/v1/purge", content=b'"12"',
                           headers={**KEY, "Content-Type": "application/json"})
    assert (response.status_code, response.content) == (400, page("Bad Request"))


@pytest.mark.parametrize(("headers", "content", "status"), [
    ({"Content-Type": "application/json; charset=latin1"}, b'{"appId":1}', 415),
    ({"Content-Type": "application/json; charset=utf-x"}, b'{"appId":1}', 415),
    ({"Content-Type": "application/x-www-form-urlencoded; charset=utf-16"}, b"appId=1", 415),
    ({"Content-Type": "application/json", "Content-Encoding": "br"}, b'{"appId":1}', 415),
    ({"Content-Type": "application/json", "Content-Encoding": "gzip"}, b"not gzip", 400),
    ({"Content-Type": "application/x-www-form-urlencoded"}, b"&".join([b"a=1"] * 1001), 413),
])
def test_body_parser_refusals(api: Agent, headers: dict[str, str], content: bytes, status: int) -> None:
    response = api.request(STEM, "POST", "/v1/restart", content=content, headers={**KEY, **headers})
    assert (response.status_code, response.content) == (status, page(express.REASONS[status]))


def test_oversized_body_is_413_with_node_reason_phrase(api: Agent) -> None:
    response = api.request(STEM, "POST", "/v1/restart", content=b"{" + b" " * (10 * 1024 * 1024) + b"}",
                           headers={**KEY, "Content-Type": "application/json"})
    assert (response.status_code, response.content) == (413, page("Payload Too Large"))


@pytest.mark.parametrize(("headers", "content"), [
    ({"Content-Type": "application/json"}, b'\xef\xbb\xbf{"appId":"x"}'),  # iconv-lite strips the BOM
    ({"Content-Type": "application/json"}, b'{"appId":"x\xff"}'),  # bad UTF-8 becomes U+FFFD
    ({"Content-Type": "application/json", "Content-Encoding": "gzip"}, gzip.compress(b'{"appId":"x"}')),
    ({"Content-Type": "application/x-www-form-urlencoded"}, b"appId=x"),
])
def test_bodies_body_parser_read(api: Agent, headers: dict[str, str], content: bytes) -> None:
    """Each is parsed: appId "x" is not a number, so the route itself answers."""
    response = api.request(STEM, "POST", "/v1/restart", content=content, headers={**KEY, **headers})
    assert_text(response, 400, b"Missing app id", "text/html; charset=utf-8")


def test_only_application_json_is_json(api: Agent) -> None:
    """body-parser's default type is exactly application/json: +json bodies stay unread ({})."""
    response = api.request(STEM, "POST", "/v1/restart", content=b'{"appId":"{bad',
                           headers={**KEY, "Content-Type": "application/vnd.api+json"})
    assert_text(response, 400, b"Missing app id", "text/html; charset=utf-8")


def test_bodies_are_parsed_before_routing(api: Agent) -> None:
    """The parsers were the routers' first middleware: an unknown route or a GET with a bad JSON
    body is the 400 page; the routes registered before them (blink, regenerate-api-key) are not."""
    bad = {**KEY, "Content-Type": "application/json"}
    assert api.request(STEM, "POST", "/v1/xyz", content=b"{bad", headers=bad).content == page("Bad Request")
    assert api.request(STEM, "GET", "/v1/device", content=b"{bad", headers=bad).status_code == 400
    assert api.request(STEM, "POST", "/v1/blink", content=b"{bad", headers=bad).status_code == 200
    assert api.request(STEM, "GET", "/ping", content=b"{bad", headers=bad).status_code == 200


@pytest.mark.parametrize(("value", "status"), [([7], 503), ("7,8", 503), ([], 400), (1e21, 503), ("0x7", 503)])
def test_app_id_is_parse_int_of_javascript_string(api: Agent, value: Any, status: int) -> None:
    """checkInt = parseInt(String(x), 10): [7] -> 7, 1e21 -> '1e+21' -> 1, [] -> NaN."""
    response = api.request(STEM, "POST", "/v1/restart", headers=KEY, json={"appId": value})
    assert response.status_code == status  # 503: a number, then no engine to find the app in


def test_options_lists_the_methods_of_the_path(api: Agent) -> None:
    response = api.request(STEM, "OPTIONS", "/v1/reboot", headers=KEY)
    assert_text(response, 200, b"POST", "text/html; charset=utf-8")
    assert response.headers["allow"] == "POST"
    response = api.request(STEM, "OPTIONS", "/v1/device", headers=KEY)
    assert (response.content, response.headers["allow"]) == (b"GET,HEAD", "GET,HEAD")
    response = api.request(STEM, "OPTIONS", "/v1/device/host-config", headers=KEY)
    assert response.headers["allow"] == "GET,HEAD,PATCH"
    assert_unauthorized(api.request(STEM, "OPTIONS", "/v1/reboot"))
    assert_cannot(api.request(STEM, "OPTIONS", "/v1/xyz", headers=KEY), "OPTIONS", "/v1/xyz")


def test_host_config_without_a_proxy(api: Agent) -> None:
    response = api.request(STEM, "GET", "/v1/device/host-config", headers=KEY)
    body = b'{"network":{"hostname":"' + HOSTNAME.encode() + b'"}}'
    assert_text(response, 200, body, "application/json; charset=utf-8")


def test_host_config_patch_without_network_changes_nothing(api: Agent) -> None:
    before = (api.root / "mnt/boot/config.json").read_text()
    response = api.request(STEM, "PATCH", "/v1/device/host-config", headers=KEY, json={})
    assert_text(response, 200, b"OK", "text/html; charset=utf-8")
    assert (api.root / "mnt/boot/config.json").read_text() == before


def test_host_config_patch_hostname_writes_config_json(api: Agent) -> None:
    response = api.request(STEM, "PATCH", "/v1/device/host-config", headers=KEY,
                           json={"network": {"hostname": "newname"}})
    assert_text(response, 200, b"OK", "text/html; charset=utf-8")
    assert json.loads((api.root / "mnt/boot/config.json").read_text()) == {"hostname": "newname"}


@pytest.mark.xfail(strict=True, reason=(
    "The 2019 supervisor validated nothing in PATCH /v1/device/host-config: the proxy fields are "
    "written and the proxy units restarted, and only a failure (here: no D-Bus) is answered, with "
    "503 and the error text; never 400 (balena-v1.md §5 'Validation: none in 2019')"))
def test_host_config_patch_is_not_validated(api: Agent) -> None:
    response = api.request(STEM, "PATCH", "/v1/device/host-config", headers=KEY,
                           json={"network": {"proxy": {"type": "socks5", "ip": "10.0.0.1;"}}})
    assert response.status_code == 503


def test_v10_has_no_resin_era_routes(api: Agent) -> None:
    assert_cannot(api.request(STEM, "POST", "/v1/tcp-ping", headers=KEY), "POST", "/v1/tcp-ping")
    assert_unauthorized(api.request(STEM, "GET", "/v1/tty/abc"))


# ---- the legacy (resin era) profile ----

def test_legacy_profile(agents: Agents) -> None:
    legacy = agents.start("--balena-profile", "legacy")
    for method in ("POST", "DELETE"):  # express 4.14: res.sendStatus(204) keeps the MD5 tag of "No Content"
        response = legacy.request(STEM, method, "/v1/tcp-ping", headers=KEY)
        assert (response.status_code, response.content) == (204, b"")
        assert "content-type" not in response.headers
        assert response.headers["etag"] == 'W/"a-oQDOV50e1MN2H/N8GYi+8w"'
        assert response.headers["x-powered-by"] == "Express"
    response = legacy.request(STEM, "POST", "/v1/purge", headers=KEY, json={})
    assert_text(response, 400, b"Missing app id", "text/html; charset=utf-8", md5=True)
    for method, path, body in (("POST", "/v1/purge", {"appId": "abc"}), ("POST", "/v1/restart", {"appId": "x"}),
                               ("POST", "/v1/apps/abc/stop", {}), ("GET", "/v1/apps/abc", None)):
        # 2016 looked any id up in its app table: `App not found`, not `Missing app id`
        response = legacy.request(STEM, method, path, headers=KEY, json=body)
        assert_text(response, 400, b"App not found", "text/html; charset=utf-8", md5=True)
    response = legacy.request(STEM, "POST", "/v1/spawn-tty", headers=KEY, json={})
    assert_text(response, 400, b"Missing app id", "text/html; charset=utf-8", md5=True)
    # the terminal page is open (its token is the credential); an unknown token is express's 404,
    # in finalhandler 0.5.0's form: one escaped line with the query, no document, no CSP
    response = legacy.request(STEM, "GET", "/v1/tty/nope?a=1&b=2")
    assert (response.status_code, response.content) == (404, b"Cannot GET /v1/tty/nope?a=1&amp;b=2\n")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in response.headers
    bad = legacy.request(STEM, "POST", "/v1/restart", content=b"{bad",
                         headers={**KEY, "Content-Type": "application/json"})
    assert (bad.status_code, bad.content) == (400, b"SyntaxError: Unexpected token b\n")
    # node stopped the apps first: a failure there (no engine here) is its 500 text
    failed = legacy.request(STEM, "POST", "/v1/reboot", headers=KEY)
    assert (failed.status_code, failed.headers["content-type"]) == (500, "text/html; charset=utf-8")
