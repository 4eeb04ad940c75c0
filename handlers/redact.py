"""Secrets kept out of what the agent logs: keys and tokens in query strings, passwords in URLs."""

from __future__ import annotations

from urllib.parse import unquote_plus, urlsplit, urlunsplit

MASK = "***"
# Query parameters that carry a credential: balena's ?apikey=, the platform's ?token= (its JWT),
# and the names other clients commonly use; compared case-insensitively, after %-decoding.
SECRET_PARAMS = frozenset({
    "apikey", "api_key", "api-key", "key", "token", "access_token", "refresh_token", "id_token",
    "jwt", "password", "passwd", "secret", "client_secret", "signature", "sig",
})


def mask_query(query: str) -> str:
    """The query with the value of every credential parameter replaced by ***."""
    if not query:
        return query
    parts = query.split("&")
    for index, part in enumerate(parts):
        name, sep, _ = part.partition("=")
        plain = unquote_plus(name) if "%" in name or "+" in name else name
        if plain.strip().lower() in SECRET_PARAMS:
            parts[index] = f"{name}={MASK}" if sep else name
    return "&".join(parts)


def redact_url(url: str) -> str:
    """The URL with its userinfo (a user may be a token too, as in https://<token>@host/) and the
    values of credential query parameters masked."""
    try:
        parts = urlsplit(url)
    except ValueError:  # not a URL urlsplit can take (bad brackets): show nothing of it
        return MASK
    host, query = parts.netloc, mask_query(parts.query)
    if "@" in host:
        host = f"{MASK}@{host.rpartition('@')[2]}"
    if (host, query) == (parts.netloc, parts.query):
        return url  # as given: urlunsplit would turn unix:///x into unix:/x
    return urlunsplit(parts._replace(netloc=host, query=query))
