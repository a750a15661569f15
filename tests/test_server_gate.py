"""Before the password, nothing (issue 22.4): ``streamlit run explorer.py`` with MMCAM_PASSWORD set answers no
route but its health check and its login page until the browser logged in (no WebSocket, so no session, no
upload, no metrics, no media), whatever the request's Host is not one of this machine's names is refused,
and an upload is capped at what one video needs."""

from __future__ import annotations

import http.client
import socket
import tomllib
import uuid
from pathlib import Path

import pytest
import requests
from browser import streamlit_process
from conftest import ROOT
from streamlit import config
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from pages.ui import gate

PASSWORD = "correct horse battery"
MB = 2**20


@pytest.fixture(scope="module")
def gated(tmp_path_factory):
    """A real server with a password: its process and URL."""
    with streamlit_process(tmp_path_factory.mktemp("gated"), MMCAM_PASSWORD=PASSWORD) as (proc, url, log):
        yield proc, url
    assert "Traceback" not in log.read_text()


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _cookie_header(session: requests.Session) -> str:
    return "; ".join(f"{name}={value}" for name, value in session.cookies.items())


def _open_session(url: str, session: requests.Session, host: str | None = None) -> tuple[object, str]:
    """A Streamlit session as the browser opens one: the WebSocket, a first script run, its session id."""
    headers = {"Cookie": _cookie_header(session), **({"Host": host} if host else {})}
    ws = connect(url.replace("http", "ws") + "/_stcore/stream", subprotocols=["streamlit"],
                 additional_headers=headers, max_size=None, open_timeout=30)
    back = BackMsg()
    back.rerun_script.query_string = ""
    back.rerun_script.page_script_hash = ""
    ws.send(back.SerializeToString())
    for _ in range(50):
        message = ForwardMsg()
        message.ParseFromString(ws.recv(timeout=60))
        if message.WhichOneof("type") == "new_session":
            return ws, message.new_session.initialize.session_id
    raise AssertionError("no new_session message")


def _put(url: str, path: str, size: int, headers: dict[str, str]) -> int | None:
    """PUT ``size`` bytes as a multipart upload, streamed; the status, or None when the server closed the
    connection before taking the body."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    boundary = uuid.uuid4().hex
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"clip.mp4\"\r\n"
            "Content-Type: video/mp4\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    try:
        conn.putrequest("PUT", path)
        for name, value in {**headers, "Content-Type": f"multipart/form-data; boundary={boundary}",
                            "Content-Length": str(len(head) + size + len(tail))}.items():
            conn.putheader(name, value)
        conn.endheaders()
        conn.send(head)
        chunk = b"\0" * MB
        for _ in range(size // MB):
            conn.send(chunk)
        conn.send(tail)
    except OSError:
        pass  # refused before the body was read; its answer may still be waiting
    try:
        return conn.getresponse().status
    except OSError:
        return None
    finally:
        conn.close()


def test_nothing_answers_before_the_password(gated):
    """Three 100 MB uploads, metrics, media, components, host config and the WebSocket, all before logging
    in: each refused, and the server's memory does not grow (today's main stored the uploads: +1.2 GB)."""
    proc, url = gated
    visitor = requests.Session()
    assert visitor.get(f"{url}/_stcore/health").status_code == 200  # says "ok", and sets the XSRF cookie
    ws = None
    try:
        ws, session_id = _open_session(url, visitor)  # today's main: a session, as any page visitor gets
        refused_websocket = None
    except InvalidStatus as err:
        refused_websocket, session_id = err.response.status_code, str(uuid.uuid4())
    try:
        before = _rss(proc.pid)
        headers = {"X-Xsrftoken": visitor.cookies.get("_streamlit_xsrf", ""), "Cookie": _cookie_header(visitor)}
        statuses = [_put(url, f"/_stcore/upload_file/{session_id}/{uuid.uuid4().hex}", 100 * MB, headers)
                    for _ in range(3)]
        try:  # (held out) chunked, no Content-Length to refuse it by
            chunked = visitor.put(f"{url}/_stcore/upload_file/{session_id}/{uuid.uuid4().hex}", headers=headers,
                                  data=(b"\0" * MB for _ in range(100))).status_code
        except requests.RequestException:  # the connection closed before the body was taken
            chunked = None
        statuses.append(chunked)
        grown = _rss(proc.pid) - before
    finally:
        if ws is not None:
            ws.close()
    assert all(status in (401, None) for status in statuses), statuses
    assert grown < 50 * MB, grown
    assert refused_websocket == 403
    for path in ("/_stcore/metrics", "/_stcore/host-config", "/media/0123456789abcdef.mp4",
                 "/component/x.y/index.html", "/_stcore/bidi-components/x/index.js", "/_stcore/upload_file/a/b"):
        response = visitor.request("DELETE" if "upload" in path else "GET", url + path, allow_redirects=False)
        assert response.status_code == 401, path
        assert b"session" not in response.content.lower()
    page = visitor.get(f"{url}/", allow_redirects=False, headers={"Accept": "text/html"})  # to the login page
    assert page.status_code == 303 and page.headers["location"].startswith("/mmcam-login?next=")
    assert "<script" not in visitor.get(url + page.headers["location"]).text  # not even Streamlit's app


def test_after_logging_in_every_route_answers(gated):
    """A wrong password is refused and costs a second; the right one sets the cookie, the session opens
    and the upload is stored (204), the metrics answer."""
    _, url = gated
    visitor = requests.Session()
    wrong = visitor.post(f"{url}/mmcam-login?next=/", data={"password": "correct horse"}, allow_redirects=False)
    assert wrong.status_code == 401 and "Wrong password." in wrong.text and gate.COOKIE not in visitor.cookies
    right = visitor.post(f"{url}/mmcam-login?next=//evil.example/", data={"password": PASSWORD},
                         allow_redirects=False)
    assert right.status_code == 303 and right.headers["location"] == "/"  # never sent elsewhere
    assert "httponly" in right.headers["set-cookie"].lower()
    visitor.get(f"{url}/_stcore/health")
    ws, session_id = _open_session(url, visitor)
    try:
        headers = {"X-Xsrftoken": visitor.cookies["_streamlit_xsrf"], "Cookie": _cookie_header(visitor)}
        assert _put(url, f"/_stcore/upload_file/{session_id}/{uuid.uuid4().hex}", 2 * MB, headers) == 204
        assert visitor.get(f"{url}/_stcore/metrics").status_code == 200
    finally:
        ws.close()
    forged = requests.get(f"{url}/_stcore/metrics", cookies={gate.COOKIE: "0" * 64})
    assert forged.status_code == 401


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8501", "localhost.evil.example", "127.0.0.1.nip.io",
                                  "user@localhost", "localhost/x", ""])
def test_a_request_for_another_name_is_refused(gated, host):
    """DNS rebinding: a page of evil.example whose name now resolves to this machine still sends its own
    name as the Host; the gate answers only to this machine's names, logged in or not."""
    _, url = gated
    visitor = requests.Session()
    visitor.post(f"{url}/mmcam-login", data={"password": PASSWORD})
    assert visitor.get(f"{url}/_stcore/metrics").status_code == 200
    assert visitor.get(f"{url}/_stcore/metrics", headers={"Host": host}).status_code in (400, 403)
    assert requests.get(f"{url}/_stcore/health", headers={"Host": host}).status_code in (400, 403)


def test_allowed_hosts_are_this_machines_names_plus_the_operators(monkeypatch):
    monkeypatch.setattr(config, "get_option", lambda name: {"server.address": "127.0.0.1",
                                                            "server.allowedHosts": []}[name])
    allowed = gate.allowed_hosts()
    assert gate.host_allowed("localhost:8501", allowed) and gate.host_allowed("127.0.0.1", allowed)
    assert gate.host_allowed("[::1]:8501", allowed) and not gate.host_allowed("lab.example.org", allowed)
    assert not gate.host_allowed(None, allowed)
    monkeypatch.setattr(config, "get_option", lambda name: {"server.address": "0.0.0.0",
                                                            "server.allowedHosts": ["*.example.org"]}[name])
    allowed = gate.allowed_hosts()
    assert gate.host_allowed(f"{socket.gethostname()}:8501", allowed)
    assert gate.host_allowed("lab.example.org", allowed) and not gate.host_allowed("example.org.evil", allowed)


def test_one_upload_is_capped_at_what_one_video_needs():
    settings = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert settings["server"]["maxUploadSize"] <= 200
