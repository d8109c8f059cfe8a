"""course_utils.data.archives: downloads from a local HTTP server and file URLs, and safe zip
extraction (no network)."""

from __future__ import annotations

import functools
import hashlib
import http.server
import socket
import stat
import threading
import zipfile

import pytest

from course_utils.data import DatasetError, archives


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class _HangUpHandler(http.server.BaseHTTPRequestHandler):
    """Closes the connection without an answer."""

    def do_GET(self):
        self.close_connection = True

    def log_message(self, *args):
        pass


class _TruncatingHandler(http.server.BaseHTTPRequestHandler):
    """Promises 100 bytes and sends 10."""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "100")
        self.end_headers()
        self.wfile.write(b"0123456789")

    def log_message(self, *args):
        pass


@pytest.fixture
def serve(tmp_path):
    """``serve(handler=None)`` -> base URL of a server on 127.0.0.1 serving ``tmp_path/www``."""
    root = tmp_path / "www"
    root.mkdir()
    servers = []

    def start(handler=None):
        handler = handler or functools.partial(_QuietHandler, directory=str(root))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                  daemon=True)
        thread.start()
        servers.append((server, thread))
        return f"http://127.0.0.1:{server.server_address[1]}"

    start.root = root
    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    ("content", "digest"),
    [
        (b"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        (b"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
    ],
    ids=["empty", "abc"],
)
def test_sha256_of(tmp_path, content, digest):
    (tmp_path / "f").write_bytes(content)
    assert archives.sha256_of(tmp_path / "f") == digest


def test_download_from_local_server(serve, tmp_path):
    content = bytes(range(256)) * 5000  # > one chunk
    (serve.root / "archive.zip").write_bytes(content)
    url = serve() + "/archive.zip"
    digest = archives.download(url, tmp_path / "got.zip", timeout=10, progress=False)
    assert (tmp_path / "got.zip").read_bytes() == content
    assert digest == hashlib.sha256(content).hexdigest()
    assert not (tmp_path / "got.zip.part").exists()


def test_download_file_url(tmp_path):
    (tmp_path / "src.zip").write_bytes(b"abc")
    digest = archives.download((tmp_path / "src.zip").as_uri(), tmp_path / "dst.zip",
                               progress=False)
    assert digest == hashlib.sha256(b"abc").hexdigest()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        (lambda serve: serve() + "/missing.zip", "HTTP Error 404: File not found."),
        (lambda serve: serve(_HangUpHandler) + "/a.zip", "closed connection without response"),
        (lambda serve: f"http://127.0.0.1:{_closed_port()}/a.zip", "Connection refused"),
        (lambda serve: serve(_TruncatingHandler) + "/a.zip", "closed after 10 of 100 bytes"),
        (lambda serve: "htp://example/a.zip", "unknown url type"),
    ],
    ids=["404", "hang-up", "connection refused", "truncated", "bad scheme"],
)
def test_download_failure_names_url_and_manual_way(serve, tmp_path, url, reason):
    url = url(serve)
    with pytest.raises(DatasetError) as info:
        archives.download(url, tmp_path / "a.zip", timeout=10, progress=False,
                          hint="Then run X --from FILE.")
    message = str(info.value)
    assert message.startswith(f"could not download {url}: ")
    assert reason in message
    assert f"download the file by hand (in a browser, or `curl -LO {url}`). Then run X --from " \
           f"FILE." in message
    assert not (tmp_path / "a.zip").exists() and not (tmp_path / "a.zip.part").exists()


# --------------------------------------------------------------------------- safe_extract


def _zip(path, members):
    with zipfile.ZipFile(path, "w") as zf:
        for name, content in members:
            zf.writestr(name, content)
    return path


def _symlink_member(name="link"):
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def test_safe_extract_good_archive(tmp_path):
    archive = _zip(tmp_path / "a.zip", [("base/a.txt", "A"), ("readme.txt", "R")])
    assert archives.safe_extract(archive, tmp_path / "out") == ["base/a.txt", "readme.txt"]
    assert (tmp_path / "out" / "base" / "a.txt").read_text() == "A"


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        ("../evil.txt", "a '..' component that leaves the target folder"),
        ("base/../../evil.txt", "a '..' component"),
        ("base\\..\\..\\evil.txt", "a '..' component"),
        ("/etc/evil.txt", "an absolute path"),
        ("\\evil.txt", "an absolute path"),
        ("C:/evil.txt", "an absolute path"),
        (_symlink_member(), "a symbolic link"),
    ],
    ids=["dotdot", "nested dotdot", "backslash dotdot", "absolute", "backslash absolute",
         "drive", "symlink"],
)
def test_safe_extract_rejects_unsafe_member_and_extracts_nothing(tmp_path, member, reason):
    archive = _zip(tmp_path / "a.zip", [("base/first.txt", "ok"), (member, "/etc/passwd")])
    name = member if isinstance(member, str) else member.filename
    with pytest.raises(DatasetError) as info:
        archives.safe_extract(archive, tmp_path / "out" / "x")
    assert f"refusing to extract {name!r}, which has {reason}" in str(info.value)
    assert "nothing was extracted" in str(info.value)
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "evil.txt").exists()


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 garbage"], ids=["empty", "garbage"])
def test_safe_extract_not_a_zip(tmp_path, content):
    (tmp_path / "a.zip").write_bytes(content)
    with pytest.raises(DatasetError, match=r"a.zip is not a readable zip archive .*download it"):
        archives.safe_extract(tmp_path / "a.zip", tmp_path / "out")
    assert not (tmp_path / "out").exists()
