"""Snapshots of Home Assistant, its add-ons and folders, in supervisor tag 138's archive format
(hassio.md §4): `<hassio data>/backup/<slug>.tar`, an uncompressed tar of `./snapshot.json` and
one (optionally encrypted) `.tar.gz` per add-on and folder.

- schema.py: snapshot.json's schema (SCHEMA_SNAPSHOT), the slug rule, the folder names.
- crypto.py: the password's key, iv and `protected` marker, the secret fields' chained AES-CBC,
  the inner archives in securetar's encrypted format (`inner_tar`).
- archive.py: `Writer` and `Reader` of the snapshot file (inner archives through crypto.py),
  `read_json` (and the completeness check of an upload).
- extract.py: `extract(tar, folder)`, which never writes outside `folder`.
- snapshot.py: `Snapshot`, one file and its snapshot.json.
- manager.py: `Snapshots` (Services field `hassio_snapshots`): listing, reload, remove, upload,
  full and partial snapshots and restores, one at a time.
- restore.py: `Restore`, the steps of a restore once it is allowed (staging, then the swap).

pycryptodome's AES is imported on first use: the agent starts without it.
"""
