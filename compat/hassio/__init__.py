"""The Home Assistant supervisor's API (hassio, tag 138, aiohttp): the dialect app (dialect.py)
with its security middleware (security.py), the envelope and validation every route uses
(common.py), and one route module per group: supervisor, host, hardware, hassos, homeassistant,
proxy, discovery (with services) and info (with auth).

Its modules may import compat's shared modules (base, responses, access) and handlers; never
another dialect's package. dialect.py alone imports the route modules.
"""
