"""Snapshots of Home Assistant, its add-ons and folders, in supervisor tag 138's archive format
(hassio.md §4): `<hassio data>/backup/<slug>.tar`, an uncompressed tar of `./snapshot.json` and
one (optionally encrypted) `.tar.gz` per add-on and folder.
"""
