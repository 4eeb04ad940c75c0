"""config.json, repository.json and build.json validated as tag 138's hassio/addons/validate.py did.

The expected values and messages were taken from 138's own schemas run on these inputs (with the
pinned voluptuous): a value is what validation keeps of the changed keys, a text is
humanize_error's message for the error, as 138 logged it for a repository's bad config.json.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

import pytest
import voluptuous as vol
from voluptuous.humanize import humanize_error

from handlers.homeassistant.addons.config import (
    BASE_IMAGE,
    read_build,
    validate_build,
    validate_config,
    validate_repository,
)

BASE = {"name": "Echo", "version": "1.0", "slug": "echo", "description": "d", "startup": "application",
        "boot": "auto", "options": {}, "schema": {}}
DROP = object()  # the key is left out
ALL_ELEMENTS = {'a': 'str', 'b': 'int(1,5)', 'c': 'float(0.5,)', 'd': 'match(^x+$)', 'e': 'port?',
                'f': ['email'],
                'g': [{'h': 'url', 'i': ['bool']}], 'j': {'k': 'int', 'l': ['str?']}}

CONFIG_CASES = [
    ('missing name', {'name': DROP},
     "required key not provided @ data['name']. Got None"),
    ('missing version', {'version': DROP},
     "required key not provided @ data['version']. Got None"),
    ('missing slug', {'slug': DROP},
     "required key not provided @ data['slug']. Got None"),
    ('missing description', {'description': DROP},
     "required key not provided @ data['description']. Got None"),
    ('missing startup', {'startup': DROP},
     "required key not provided @ data['startup']. Got None"),
    ('missing boot', {'boot': DROP},
     "required key not provided @ data['boot']. Got None"),
    ('missing options', {'options': DROP},
     "required key not provided @ data['options']. Got None"),
    ('missing schema', {'schema': DROP},
     "required key not provided @ data['schema']. Got None"),
    ('version number', {'version': 2},
     {'version': '2'}),
    ('startup before', {'startup': 'before'},
     {'startup': 'services'}),
    ('startup after', {'startup': 'after'},
     {'startup': 'application'}),
    ('startup once', {'startup': 'once'},
     {'startup': 'once'}),
    ('startup bogus', {'startup': 'bogus'},
     "value is not allowed for dictionary value @ data['startup']. Got 'bogus'"),
    ('startup number', {'startup': 3},
     "value is not allowed for dictionary value @ data['startup']. Got 3"),
    ('boot always', {'boot': 'always'},
     "value is not allowed for dictionary value @ data['boot']. Got 'always'"),
    ('url ok', {'url': 'https://example.org/addon'},
     {'url': 'https://example.org/addon'}),
    ('url bad', {'url': 'not a url'},
     "expected a URL for dictionary value @ data['url']. Got 'not a url'"),
    ('arch one', {'arch': ['amd64']},
     {'arch': ['amd64']}),
    ('arch bad', {'arch': ['x86_64']},
     "value is not allowed @ data['arch'][0]. Got 'x86_64'"),
    ('arch not list', {'arch': 'amd64'},
     "expected a list for dictionary value @ data['arch']. Got 'amd64'"),
    ('machine ok', {'machine': ['raspberrypi3', 'qemux86-64']},
     {'machine': ['raspberrypi3', 'qemux86-64']}),
    ('machine bad', {'machine': ['raspberrypi4']},
     "value is not allowed @ data['machine'][0]. Got 'raspberrypi4'"),
    ('ports ok',
     {'ports': {'80/tcp': 8080, '53/udp': None, '22': ['127.0.0.1', 2222], '9000/tcp': [1, 2, 3]}},
     {'ports': {'80/tcp': 8080, '53/udp': None, '22': ('127.0.0.1', 2222), '9000/tcp': [1, 2, 3]}}),
    ('ports too big', {'ports': {'80/tcp': 70000}},
     "value must be at most 65535 for dictionary value @ data['ports']['80/tcp']. Got 70000"),
    ('ports zero', {'ports': {'80/tcp': 0}},
     "value must be at least 1 for dictionary value @ data['ports']['80/tcp']. Got 0"),
    ('ports bad proto', {'ports': {'80/icmp': 8080}},
     "extra keys not allowed @ data['ports']['80/icmp']. Got 8080"),
    ('ports text', {'ports': {'80/tcp': '8080'}},
     "Can't validate Docker host settings for dictionary value @ data['ports']['80/tcp']. Got '8080'"),
    ('ports one item list', {'ports': {'80/tcp': [8080]}},
     "Can't validate Docker host settings for dictionary value @ data['ports']['80/tcp']. Got [8080]"),
    ('ports not dict', {'ports': [80]},
     "expected a dictionary for dictionary value @ data['ports']. Got [80]"),
    ('webui ok', {'webui': 'http://[HOST]:[PORT:8080]/ui'},
     {'webui': 'http://[HOST]:[PORT:8080]/ui'}),
    ('webui proto', {'webui': '[PROTO:ssl]://[HOST]:[PORT:443]'},
     {'webui': '[PROTO:ssl]://[HOST]:[PORT:443]'}),
    ('webui bad', {'webui': 'http://localhost:8080'},
     "does not match regular expression for dictionary value @ data['webui']. Got 'http://localhost:8080'"),
    ('host_network text', {'host_network': 'yes'},
     {'host_network': True}),
    ('host_network bad', {'host_network': 'perhaps'},
     "expected boolean for dictionary value @ data['host_network']. Got 'perhaps'"),
    ('devices ok', {'devices': ['/dev/ttyUSB0:/dev/ttyUSB0:rwm']},
     {'devices': ['/dev/ttyUSB0:/dev/ttyUSB0:rwm']}),
    ('devices bad', {'devices': ['/dev/ttyUSB0']},
     "does not match regular expression @ data['devices'][0]. Got '/dev/ttyUSB0'"),
    ('devices bad perm', {'devices': ['/dev/a:/dev/a:x']},
     "does not match regular expression @ data['devices'][0]. Got '/dev/a:/dev/a:x'"),
    ('tmpfs ok', {'tmpfs': 'size=10m,uid=1000,rw'},
     {'tmpfs': 'size=10m,uid=1000,rw'}),
    ('tmpfs bad', {'tmpfs': '10m'},
     "does not match regular expression for dictionary value @ data['tmpfs']. Got '10m'"),
    ('map ok', {'map': ['config:rw', 'ssl', 'share::ro']},
     {'map': ['config:rw', 'ssl', 'share::ro']}),
    ('map ro refused', {'map': ['config:ro']},
     "does not match regular expression @ data['map'][0]. Got 'config:ro'"),
    ('map media', {'map': ['media']},
     "does not match regular expression @ data['map'][0]. Got 'media'"),
    ('environment', {'environment': {'A': 1, 'B-C': True}},
     {'environment': {'A': '1', 'B-C': 'True'}}),
    ('environment not dict', {'environment': ['A=1']},
     "expected a dictionary for dictionary value @ data['environment']. Got ['A=1']"),
    ('privileged ok', {'privileged': ['NET_ADMIN', 'SYS_RAWIO']},
     {'privileged': ['NET_ADMIN', 'SYS_RAWIO']}),
    ('privileged bad', {'privileged': ['SYS_MODULE']},
     "value is not allowed @ data['privileged'][0]. Got 'SYS_MODULE'"),
    ('apparmor false', {'apparmor': False},
     {'apparmor': False}),
    ('hassio_role manager', {'hassio_role': 'manager'},
     {'hassio_role': 'manager'}),
    ('hassio_role root', {'hassio_role': 'root'},
     "value is not allowed for dictionary value @ data['hassio_role']. Got 'root'"),
    ('services ok', {'services': ['mqtt:provide', 'mqtt:want']},
     {'services': ['mqtt:provide', 'mqtt:want']}),
    ('services bad', {'services': ['mqtt:use']},
     "does not match regular expression @ data['services'][0]. Got 'mqtt:use'"),
    ('services other', {'services': ['mysql:need']},
     "does not match regular expression @ data['services'][0]. Got 'mysql:need'"),
    ('discovery ok', {'discovery': ['mqtt']},
     {'discovery': ['mqtt']}),
    ('discovery bad', {'discovery': ['http']},
     "value is not allowed @ data['discovery'][0]. Got 'http'"),
    ('options not dict', {'options': 'x'},
     "expected dict for dictionary value @ data['options']. Got 'x'"),
    ('options list', {'options': []},
     "expected dict for dictionary value @ data['options']. Got []"),
    ('schema false', {'schema': False},
     {'schema': False}),
    ('schema true', {'schema': True},
     "expected a dictionary for dictionary value @ data['schema']. Got True"),
    ('schema elements', {'schema': ALL_ELEMENTS}, {'schema': ALL_ELEMENTS}),
    ('schema bad element', {'schema': {'a': 'text'}},
     "does not match regular expression for dictionary value @ data['schema']['a']. Got 'text'"),
    ('schema bad int', {'schema': {'a': 'int(a,b)'}},
     "does not match regular expression for dictionary value @ data['schema']['a']. Got 'int(a,b)'"),
    ('schema float range negative', {'schema': {'a': 'float(-1,1)'}},
     "does not match regular expression for dictionary value @ data['schema']['a']. Got 'float(-1,1)'"),
    ('schema nested too deep', {'schema': {'a': {'b': {'c': 'str'}}}},
     "expected string or buffer for dictionary value @ data['schema']['a']['b']. Got {'c': 'str'}"),
    ('schema list of lists', {'schema': {'a': [['str']]}},
     "expected string or buffer @ data['schema']['a'][0]. Got ['str']"),
    ('schema empty element', {'schema': {'a': ''}},
     {'schema': {'a': ''}}),
    ('schema number', {'schema': {'a': 5}},
     "expected string or buffer for dictionary value @ data['schema']['a']. Got 5"),
    ('image ok', {'image': 'homeassistant/{arch}-addon-ssh'},
     {'image': 'homeassistant/{arch}-addon-ssh'}),
    ('image registry', {'image': '127.0.0.1:5000/pvtest/{arch}-addon-echo'},
     {'image': '127.0.0.1:5000/pvtest/{arch}-addon-echo'}),
    ('image bad', {'image': 'ssh'},
     "does not match regular expression for dictionary value @ data['image']. Got 'ssh'"),
    ('image tag', {'image': 'homeassistant/ssh:1.0'},
     "does not match regular expression for dictionary value @ data['image']. Got 'homeassistant/ssh:1.0'"),
    ('timeout text', {'timeout': '30'},
     {'timeout': 30}),
    ('timeout low', {'timeout': 5},
     "value must be at least 10 for dictionary value @ data['timeout']. Got 5"),
    ('timeout high', {'timeout': 121},
     "value must be at most 120 for dictionary value @ data['timeout']. Got 121"),
    ('extra keys', {'maintainer': 'me', 'homeassistant': '0.80', 'ingress': True},
     {}),
    ('stdin', {'stdin': True, 'auth_api': 1, 'docker_api': 'off'},
     {'stdin': True, 'auth_api': True, 'docker_api': False}),
]


def changed(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(base)
    for key, value in changes.items():
        if value is DROP:
            data.pop(key, None)
        else:
            data[key] = value
    return data


@pytest.mark.parametrize(("changes", "expected"), [c[1:] for c in CONFIG_CASES],
                         ids=[c[0] for c in CONFIG_CASES])
def test_config_json(changes: dict[str, Any], expected: dict[str, Any] | str) -> None:
    raw = changed(BASE, changes)
    if isinstance(expected, str):
        with pytest.raises(vol.Invalid) as err:
            validate_config(copy.deepcopy(raw))
        assert humanize_error(raw, err.value) == expected
    else:
        result = validate_config(copy.deepcopy(raw))
        assert {k: result[k] for k in changes if k in result} == expected
        assert not set(result) - set(CONFIG_KEYS)  # unknown keys dropped


CONFIG_KEYS = ["name", "version", "slug", "description", "url", "arch", "machine", "startup", "boot", "ports",
               "webui", "host_network", "host_pid", "host_ipc", "host_dbus", "devices", "auto_uart", "tmpfs",
               "map", "environment", "privileged", "apparmor", "full_access", "audio", "gpio", "devicetree",
               "hassio_api", "hassio_role", "homeassistant_api", "stdin", "legacy", "docker_api", "auth_api",
               "services", "discovery", "options", "schema", "image", "timeout"]


def test_config_defaults() -> None:
    result = validate_config({**BASE, "version": 2.5})
    assert result == {
        **BASE, "version": "2.5", "arch": ["armhf", "aarch64", "amd64", "i386"], "host_network": False,
        "host_pid": False, "host_ipc": False, "host_dbus": False, "auto_uart": False, "map": [],
        "apparmor": True, "full_access": False, "audio": False, "gpio": False, "devicetree": False,
        "hassio_api": False, "hassio_role": "default", "homeassistant_api": False, "stdin": False,
        "legacy": False, "docker_api": False, "auth_api": False, "timeout": 10,
    }
    result["arch"].append("x")  # each config gets its own default lists
    assert validate_config(dict(BASE))["arch"] == ["armhf", "aarch64", "amd64", "i386"]


def test_config_json_that_is_not_an_object() -> None:
    for raw in ([], "x", None, 5):
        with pytest.raises(vol.Invalid):
            validate_config(raw)


@pytest.mark.parametrize(("raw", "expected"), [
    ({"name": "Mine"}, {"name": "Mine"}),
    ({"name": 5, "url": "https://example.org", "maintainer": "me", "extra": 1},
     {"name": "5", "url": "https://example.org", "maintainer": "me"}),
    ({"url": "https://example.org"}, "required key not provided @ data['name']. Got None"),
    ({"name": "x", "url": "nowhere"}, "expected a URL for dictionary value @ data['url']. Got 'nowhere'"),
])
def test_repository_json(raw: dict[str, Any], expected: dict[str, Any] | str) -> None:
    if isinstance(expected, str):
        with pytest.raises(vol.Invalid) as err:
            validate_repository(raw)
        assert humanize_error(raw, err.value) == expected
    else:
        assert validate_repository(raw) == expected


def test_build_json() -> None:
    assert validate_build({}, "armhf") == {"build_from": "homeassistant/armhf-base:latest", "squash": False,
                                           "args": {}}
    raw = {"build_from": {"amd64": "me/amd64-base:3.8"}, "squash": "true", "args": {"A": 1}, "x": 1}
    assert validate_build(raw, "amd64") == {"build_from": "me/amd64-base:3.8", "squash": True,
                                            "args": {"A": "1"}}
    # an arch build_from leaves out gets the default base image, as 138's AddonBuild did
    assert validate_build(raw, "i386")["build_from"] == BASE_IMAGE["i386"] == "homeassistant/i386-base:latest"
    for bad in ({"build_from": {"x86": "a/b:1"}}, {"build_from": {"amd64": "no-tag"}},
                {"build_from": {"amd64": "my-registry.io/a/b:1"}}, {"squash": "perhaps"}):
        with pytest.raises(vol.Invalid):
            validate_build(bad, "amd64")


def test_read_build_falls_back_to_the_defaults(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert read_build(tmp_path, "amd64")["build_from"] == "homeassistant/amd64-base:latest"  # no build.json
    (tmp_path / "build.json").write_text('{"build_from": {"amd64": "me/base:1"}, "args": {"V": "2"}}')
    assert read_build(tmp_path, "amd64") == {"build_from": "me/base:1", "squash": False, "args": {"V": "2"}}
    (tmp_path / "build.json").write_text('{"squash": "perhaps"}')
    with caplog.at_level(logging.WARNING, "polyvisor.hassio.addons"):
        assert read_build(tmp_path, "amd64")["squash"] is False
    assert f"Can't parse {tmp_path / 'build.json'}: expected boolean" in caplog.text
    (tmp_path / "build.json").write_text("{")
    assert read_build(tmp_path, "amd64")["args"] == {}
    assert f"Can't read {tmp_path / 'build.json'}" in caplog.text
