"""Reproducible builds: scripts/build run once more, on a copy of the sources in another folder
(another repository path, work folder and dist folder), makes the very bytes of the binary under
test, and the same dist/manifest.json and dist/SHA256SUMS.

The copy is the checkout's files as they are on disk (tracked and untracked, not the ignored ones),
so a build of uncommitted changes compares too; it shares the checkout's .venv (the venv's path is
not in the binary either: a fresh clone with a venv of its own was compared by hand, see README).
One build in CI: about 25 s on an idle 2-core machine, 1 to 2 minutes on a busy one. On a mismatch
the failure names what differs: the bootloader, the CArchive's table, its members, the modules of
PYZ.pyz, the members of base_library.zip.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import zipfile
from importlib.metadata import packages_distributions
from importlib.metadata import version as installed_version
from pathlib import Path

import pytest
from PyInstaller.archive.readers import CArchiveReader

from frozen.manifests import own_entries
from frozen.test_binary import REPO, binary  # noqa: F401 (binary: the fixture)

# outside git (or where git refuses the checkout's owner): what .gitignore leaves out, and .git
TOP_IGNORED = {".git", ".venv", "dist", ".build", "data"}
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".*_cache", "*.log")


def ignored(folder: str, names: list[str]) -> set[str]:
    """shutil.copytree's ignore: .gitignore's patterns (its /dist/, /data/... at the top only)."""
    top = TOP_IGNORED.intersection(names) if Path(folder) == REPO else set()
    return top | IGNORED(folder, names)
LISTED = 40  # differences named in a failure, at most
# scripts/build sets these itself; the copy gets the first build's SOURCE_DATE_EPOCH and a cache of its own
BUILD_SETTINGS = ("PYTHONHASHSEED", "SOURCE_DATE_EPOCH", "PYINSTALLER_CONFIG_DIR")


def copy_sources(target: Path) -> None:
    """The checkout's files as they are on disk (git's view when it is a git checkout), .venv shared."""
    listed = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], capture_output=True, check=False)
    if listed.returncode != 0:  # not a git checkout: everything but what the build and tests write
        shutil.copytree(REPO, target, symlinks=True, ignore=ignored)
    else:
        for name in sorted(set(listed.stdout.decode().split("\0")) - {""}):
            source = REPO / name
            if source.is_symlink() or source.is_file():  # a deleted file is still listed by --cached
                (target / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target / name, follow_symlinks=False)
    (target / ".venv").symlink_to((REPO / ".venv").resolve())


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    """A copy of the sources in another folder (tmp/elsewhere/polyvisor-src), sharing .venv."""
    if not (REPO / ".venv" / "bin" / "python").exists():
        pytest.skip("no .venv beside the sources (scripts/install makes it)")
    copy = tmp_path / "elsewhere" / "polyvisor-src"
    copy.mkdir(parents=True)
    copy_sources(copy)
    return copy


def source_date_epoch() -> str | None:
    """What scripts/build dated the first build with: the caller's, else the commit's time."""
    if os.environ.get("SOURCE_DATE_EPOCH"):
        return os.environ["SOURCE_DATE_EPOCH"]
    log = subprocess.run(["git", "-C", str(REPO), "log", "-1", "--format=%ct"], capture_output=True,
                         text=True, check=False)
    return log.stdout.strip() if log.returncode == 0 else None


def zip_differences(label: str, first: bytes, second: bytes) -> list[str]:
    """The members of two zip files (base_library.zip) that differ, in name, order, date or bytes."""
    a, b = zipfile.ZipFile(io.BytesIO(first)), zipfile.ZipFile(io.BytesIO(second))
    names_a, names_b = [i.filename for i in a.infolist()], [i.filename for i in b.infolist()]
    found = [f"{label}: only in the first: {name}" for name in names_a if name not in names_b]
    found += [f"{label}: only in the second: {name}" for name in names_b if name not in names_a]
    if not found and names_a != names_b:
        found.append(f"{label}: its members are in another order (first {names_a[:3]}, second {names_b[:3]})")
    for info in a.infolist():
        if info.filename in names_b:
            other = b.getinfo(info.filename)
            if info.date_time != other.date_time:
                found.append(f"{label}: {info.filename} dated {info.date_time} and {other.date_time}")
            elif a.read(info) != b.read(other):
                found.append(f"{label}: {info.filename}")
    return found or [f"{label}: same members, other bytes (the zip's own headers)"]


def differences(first: Path, second: Path) -> list[str]:
    """What differs between two PyInstaller executables, member by member ([] when byte-identical)."""
    if first.read_bytes() == second.read_bytes():
        return []
    a, b = CArchiveReader(str(first)), CArchiveReader(str(second))
    found = []
    head_a, head_b = first.read_bytes()[:a._start_offset], second.read_bytes()[:b._start_offset]
    if head_a != head_b:
        found.append(f"the bootloader (the {len(head_a)} and {len(head_b)} bytes before the archive)")
    found += [f"only in the first: {name}" for name in a.toc if name not in b.toc]
    found += [f"only in the second: {name}" for name in b.toc if name not in a.toc]
    if list(a.toc) == list(b.toc) and a.options != b.options:
        found.append(f"the archive's options: {a.options} and {b.options}")
    elif [n for n in a.toc if n in b.toc] != [n for n in b.toc if n in a.toc]:
        found.append("the archive's members are in another order")
    for name, entry in a.toc.items():
        if name not in b.toc or a.extract(name) == b.extract(name):
            continue
        if entry[-1] == "z":  # PYZ.pyz: the Python modules, each compressed on its own
            found += pyz_differences(name, a, b)
        elif name.endswith(".zip"):
            found += zip_differences(name, a.extract(name), b.extract(name))
        else:
            found.append(name)
    return found or ["the archive's table or trailer (offsets, flags): every member is the same"]


def pyz_differences(name: str, a: CArchiveReader, b: CArchiveReader) -> list[str]:
    """The modules of two PYZ archives that differ, or their order."""
    pyz_a, pyz_b = a.open_embedded_archive(name), b.open_embedded_archive(name)
    found = [f"{name}: module only in the first: {m}" for m in pyz_a.toc if m not in pyz_b.toc]
    found += [f"{name}: module only in the second: {m}" for m in pyz_b.toc if m not in pyz_a.toc]
    found += [f"{name}: module {m}" for m in pyz_a.toc
              if m in pyz_b.toc and pyz_a.extract(m, raw=True) != pyz_b.extract(m, raw=True)]
    if not found:
        found.append(f"{name}: same modules, other bytes (their order or the PYZ's table)")
    return found


def tree_differences(first: Path, second: Path) -> list[str]:
    """What differs between two onedir builds: files present, and each file's bytes (archives by member)."""
    files_a = sorted(p.relative_to(first) for p in first.rglob("*") if not p.is_dir())
    files_b = sorted(p.relative_to(second) for p in second.rglob("*") if not p.is_dir())
    found = [f"only in the first: {p}" for p in files_a if p not in files_b]
    found += [f"only in the second: {p}" for p in files_b if p not in files_a]
    for relative in (p for p in files_a if p in files_b):
        one, other = first / relative, second / relative
        if one.is_symlink() or other.is_symlink():
            if os.readlink(one) != os.readlink(other):
                found.append(f"{relative}: the symlink's target")
        elif one.read_bytes() != other.read_bytes():
            if relative.name == first.name.removesuffix("-dir"):  # the executable with PYZ.pyz
                found += [f"{relative}: {what}" for what in differences(one, other)]
            elif relative.suffix == ".zip":
                found += zip_differences(str(relative), one.read_bytes(), other.read_bytes())
            else:
                found.append(str(relative))
    return found


def test_a_second_build_elsewhere_is_byte_identical(binary: Path,  # noqa: F811
                                                     sources: Path, tmp_path: Path) -> None:
    """scripts/build on a copy of the sources in another folder gives the same bytes."""
    onedir = binary.parent.name == "polyvisor-dir"  # POLYVISOR_BINARY=dist/polyvisor-dir/polyvisor
    copy = sources
    env = {key: value for key, value in os.environ.items() if key not in BUILD_SETTINGS}
    if (epoch := source_date_epoch()) is not None:
        env["SOURCE_DATE_EPOCH"] = epoch
    log = tmp_path / "build.log"
    with open(log, "wb") as out:
        built = subprocess.run([str(copy / "scripts" / "build"), *(["--onedir"] if onedir else [])],
                               stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
                               cwd=copy, timeout=1800, check=False)
    assert built.returncode == 0, f"scripts/build in {copy} failed:\n{log.read_text()[-3000:]}"

    if onedir:
        found = tree_differences(binary.parent, copy / "dist" / binary.parent.name)
    else:
        found = differences(binary, copy / "dist" / binary.name)
        if own_entries(binary.parent, binary.name) != own_entries(copy / "dist", binary.name):
            found.append("manifest.json or SHA256SUMS")
    more = [f"... and {len(found) - LISTED} more"] if len(found) > LISTED else []
    shown = "\n  ".join(found[:LISTED] + more)
    assert not found, (f"{binary} and the build of the same sources in {copy} differ (if the sources "
                       f"changed since scripts/build, build again first):\n  {shown}")


def test_a_date_that_is_not_one_is_refused(sources: Path) -> None:
    """SOURCE_DATE_EPOCH=yesterday: one line, before anything in dist/ is touched."""
    copy = sources
    (copy / "dist").mkdir()
    (copy / "dist" / "polyvisor").write_bytes(b"the last build")
    env = {**os.environ, "SOURCE_DATE_EPOCH": "yesterday"}
    refused = subprocess.run([str(copy / "scripts" / "build")], capture_output=True, text=True, env=env,
                             cwd=copy, timeout=600, check=False)
    assert refused.returncode == 2 and refused.stderr.splitlines()[-1:] == [
        "scripts/build: SOURCE_DATE_EPOCH must be seconds since 1970, not 'yesterday'"], refused.stderr
    assert (copy / "dist" / "polyvisor").read_bytes() == b"the last build"


def canonical(name: str) -> str:
    """A distribution's name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins() -> dict[str, str]:
    """The exact pins of requirements.txt and requirements-build.txt, by canonical name."""
    found = {}
    for file in ("requirements.txt", "requirements-build.txt"):
        for line in (REPO / file).read_text().splitlines():
            name, _, pinned = line.split("#", 1)[0].strip().partition("==")
            if pinned:
                found[canonical(name.split("[", 1)[0])] = pinned.strip()
    return found


def test_every_distribution_in_the_binary_is_pinned(binary: Path) -> None:  # noqa: F811
    """Each distribution with a module in the binary is pinned exactly, at the version installed in
    the venv it was built from: a new dependency's own dependencies cannot float in unpinned."""
    archive = CArchiveReader(str(binary))  # onedir's executable holds PYZ.pyz too
    modules = {name.split(".", 1)[0] for name in archive.open_embedded_archive("PYZ.pyz").toc}
    modules |= {name.split("/", 1)[0].split(".", 1)[0] for name in archive.toc}
    if binary.parent.name == "polyvisor-dir":
        modules |= {p.name.split(".", 1)[0] for p in (binary.parent / "_internal").iterdir()}
    by_module = packages_distributions()
    frozen = sorted({canonical(dist) for module in modules for dist in by_module.get(module, [])})
    assert "starlette" in frozen and "anyio" in frozen, frozen  # the lookup works at all
    pinned = pins()
    assert [dist for dist in frozen if dist not in pinned] == [], "pin them in requirements-build.txt"
    assert {dist: pinned[dist] for dist in frozen if installed_version(dist) != pinned[dist]} == {}, \
        "the venv is not what requirements*.txt pin: run scripts/install --dev"
