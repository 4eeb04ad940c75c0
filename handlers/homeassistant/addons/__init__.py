"""Home Assistant add-ons, as supervisor tag 138 kept them (hassio.md §5): repositories, the
add-ons they hold, the installed ones' state, and their containers on the Docker Engine.

Folders under the hassio data folder (`--hassio-data`):

    addons/local/<any>/config.json   the built-in local repository: an image or a person drops
                                     add-on folders here (no git)
    addons/core/                     the core repository (git, --hassio-addons-core-url)
    addons/git/<sha1(url)[:8]>/      custom repositories (git, the supervisor's addons_repositories)
    addons/data/<slug>/              an add-on's /data (options.json)
    backup/<slug>.tar                snapshots (handlers.homeassistant.snapshots)

Modules and what each offers the others:

- config.py: `validate_config(raw) -> dict` (config.json: unknown keys dropped, defaults filled,
  vol.Invalid as 138), `validate_repository(raw) -> dict`, `validate_build(raw, arch) -> dict`.
- options.py: `validate_options(schema, options) -> dict`: the add-on's own option schema
  language (str, bool, email, url, port, int(min,max), float(min,max), match(re), `?`, lists,
  nested dicts); vol.Invalid with 138's messages.
- git.py: `GitRepository(path, url)`: shallow clone of `url#branch`, pull (fetch + hard reset +
  clean), through the git binary.
- store.py: `Repository`, `StoreAddon` (slug = `<repository>_<config slug>`, repository,
  path, config) and `AddonStore(root, core_url, arch, machine)`: `load()`, `reload()`,
  `set_repositories(urls)`, `repositories()`, `addons()`, `get(slug)`.
- installed.py: `Installed(store)`: the installed add-ons' `user` and `system` entries
  (addons.json of 138) in the agent's store: `slugs()`, `user(slug)`, `system(slug)`,
  `install(slug, config)`, `update(slug, config)`, `uninstall(slug)`, `set_user(slug, **changes)`,
  `restore(slug, user, system)`.
- container.py: `AddonContainer(engine, ...)`: image install (pull or docker build), run with
  138's parameters as container `addon_<slug>`, stop+remove, logs, stats, stdin, image
  save/load (snapshots), state.
- manager.py: `Addons`: what the routes and snapshots call (below). Domain errors are
  `InvalidInput(<138's message>)`, which the hassio dialect answers 400 with that message.

`Addons` (Services field `hassio_addons`):

    listing() -> {"addons": [...], "repositories": [...]}       GET /addons
    info(slug) -> dict                                           GET /addons/{slug}/info
    install(slug), uninstall(slug), start(slug), stop(slug), restart(slug), update(slug),
    rebuild(slug)
    set_options(slug, changes)   changes: 138's SCHEMA_OPTIONS result (boot, network,
                                 auto_update, audio_output, audio_input, options)
    set_security(slug, protected)
    stdin(slug, data), logs(slug) -> bytes, stats(slug) -> Stats | None
    asset(slug, "icon" | "logo" | "changelog") -> bytes
    reload()                     POST /addons/reload (git pull of every repository)
    set_repositories(urls)       POST /supervisor/options addons_repositories
    boot(stage)                  start the boot: auto add-ons of a startup stage
    installed_slugs() -> list[str]
    is_running(slug) -> bool
    backup(slug, folder) -> {"slug", "name", "version"}   addon.json, data/, image.tar into folder
    restore(slug, folder)        the reverse; starts it when it was started
"""
