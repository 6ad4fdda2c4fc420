"""One definition of each wire constant: the page's socket.js agrees with protocol.py."""
import json
import os
import re
import shutil
import subprocess

import pytest

from otree_redwood.engine import protocol
from tests import harness

SOCKET_JS = os.path.join(harness.ROOT, "otree_redwood", "static", "otree-redwood", "src", "lib", "socket.js")


def js_source():
    with open(SOCKET_JS) as f:
        return f.read()


def test_final_close_codes_and_channel_rule_match_socket_js():
    src = js_source()
    codes = re.search(r"NO_RETRY_CODES = Object\.freeze\(\[([0-9, ]+)\]\)", src).group(1)
    assert tuple(int(c) for c in codes.split(",")) == protocol.FINAL_CLOSE_CODES
    js_re = re.search(r"CHANNEL_RE = /(.+)/;", src).group(1)
    assert js_re.replace("_.-", "_.\\-") == protocol.CHANNEL_RE.pattern


def test_the_router_matches_the_path_the_server_documents():
    match = re.match(protocol.SOCKET_ROUTE, protocol.socket_path("app_x", 12, "abc9")[1:])
    assert match.groupdict() == {"app_name": "app_x", "group": "12", "participant_code": "abc9"}


@pytest.mark.skipif(shutil.which("node") is None, reason="node runs the page's own socketUrl()")
def test_the_page_builds_the_same_socket_url():
    script = (
        "import {socketUrl} from %s;"
        "console.log(JSON.stringify([socketUrl({protocol: 'http:', host: 'h:1', appName: 'app_x', groupPk: 12,"
        " participantCode: 'abc9', token: 't:k-1', seq: 7}), socketUrl({protocol: 'https:', host: 'h',"
        " appName: 'a', groupPk: 3, participantCode: 'c'})]))" % json.dumps(SOCKET_JS)
    )
    out = subprocess.run(["node", "--input-type=module", "-e", script], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, universal_newlines=True, timeout=60, check=True)
    first, second = json.loads(out.stdout)
    assert first == "ws://h:1" + protocol.socket_path("app_x", 12, "abc9", token="t:k-1", seq=7)
    assert second == "wss://h" + protocol.socket_path("a", 3, "c")
