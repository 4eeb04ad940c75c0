"""An installed add-on into and out of a snapshot's folder, as tag 138's Addon.snapshot/restore
laid it out (hassio.md §4.4): addon.json {user, system, version, state}, image.tar (`docker save`,
only for local builds) and data/ (its /data). The snapshots package tars and untars the folder.

`addons` is the manager.Addons calling these (not imported here: manager imports this module).
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

from handlers.errors import InvalidInput
from handlers.homeassistant.addons.addon import Addon
from handlers.homeassistant.addons.container import remove_folder, write_json_atomic

log = logging.getLogger("polyvisor.hassio.addons")


def backup(addons: Any, addon: Addon, folder: Path) -> dict[str, Any]:
    """The add-on into folder; {slug, name, version} for snapshot.json's add-on list."""
    folder.mkdir(parents=True, exist_ok=True)
    if addon.need_build and not addons._container(addon).export_image(folder / "image.tar"):
        raise InvalidInput(f"cannot export the image of {addon.slug}")
    write_json_atomic(folder / "addon.json", {"user": addon.user or {}, "system": addon.system or {},
                                              "version": addon.version_installed,
                                              "state": addons.state(addon.slug)})
    data = addons.host().addon_data(addon.slug)
    if data.is_dir():
        shutil.copytree(data, folder / "data", symlinks=True)  # links copied as links, never followed
    else:
        (folder / "data").mkdir()
    log.info("Finish snapshot for addon %s", addon.slug)
    return {"slug": addon.slug, "name": addon.mesh.get("name"), "version": addon.version_installed}


def restore(addons: Any, slug: str, folder: Path) -> bool | None:
    """The add-on from folder: its entries, its image (image.tar loaded, else pulled or built at
    the snapshot's version), its data (copied beside, then swapped in); started when it was."""
    import voluptuous as vol

    target = addons.host().addon_data(slug)  # refuses a slug that is no single folder name
    try:
        data = json.loads((folder / "addon.json").read_text(encoding="utf-8"))
        state, version = data["state"], str(data["version"])
        if state not in ("started", "stopped"):
            raise ValueError(f"state {state!r}")
        addons.installed.restore(slug, data["user"], data["system"])
    except (OSError, ValueError, KeyError, TypeError, vol.Invalid) as err:
        raise InvalidInput(f"cannot restore add-on {slug}: {err}") from None
    log.info("Restore config for addon %s", slug)
    addon = addons._addon(slug)
    if addon.user and addon.user.get("access_token"):
        addons.save_grant(addon, str(addon.user["access_token"]))  # the token it had, as addons.json kept it
    container = addons._container(addon)
    if not container.has_image(version):
        log.info("Restore image for addon %s", slug)
        if (folder / "image.tar").is_file():
            container.import_image(folder / "image.tar", version)
        elif addons._install_image(addon, version):
            container.cleanup()
    else:
        container.stop()
    log.info("Restore data for addon %s", slug)
    incoming = target.with_name(f".{slug}.restore")
    remove_folder(incoming)
    if (folder / "data").is_dir():
        shutil.copytree(folder / "data", incoming, symlinks=True)
    else:
        incoming.mkdir(parents=True)
    remove_folder(target)
    incoming.rename(target)
    log.info("Finish restore for add-on %s", slug)
    if state == "started":
        return addons._start(addons._addon(slug))
    return True
