"""Screenshot a page in headless Chromium, clicking through it first if asked (for the README's
TensorBoard pictures; used by scripts/dashboard_screenshots.sh).

Standard library only: starts headless Chromium with its DevTools port on 127.0.0.1 (a free
port unless --port), speaks the DevTools protocol over a minimal WebSocket client, loads
URL, waits in real time (TensorBoard's Time Series stays blank under Chromium's
--virtual-time-budget), clicks the first element matching each CSS selector given with
--click (searched through open shadow roots: the HParams dashboard is Polymer, its tabs
live several shadow roots deep), runs any --js, waits again and saves a PNG. Chromium is
stopped and its profile removed however it ends.

    python scripts/cdp_shot.py URL OUT.png [--click 'paper-tab[view-id=parallel-coords-view]']
        [--js 'code'] [--wait 8] [--size 1600,1000] [--flag=--some-chromium-flag]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import urllib.request

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-address=127.0.0.1",
]

# Finds the first element matching a selector anywhere, descending into open shadow roots.
DEEP_QUERY = """
(sel) => {
  const seen = new Set();
  function find(root) {
    if (!root || seen.has(root)) return null;
    seen.add(root);
    const hit = root.querySelector(sel);
    if (hit) return hit;
    for (const el of root.querySelectorAll('*')) {
      if (el.shadowRoot) { const r = find(el.shadowRoot); if (r) return r; }
    }
    return null;
  }
  return find(document);
}
"""


class WebSocket:
    """Just enough RFC 6455 for the DevTools protocol (client, text frames, masked)."""

    def __init__(self, url: str):
        assert url.startswith("ws://")
        hostport, path = url[5:].split("/", 1)
        host, port = hostport.split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=60)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET /{path} HTTP/1.1\r\nHost: {hostport}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.sock.recv(1)
        assert b" 101 " in head.split(b"\r\n")[0], head
        self.next_id = 0

    def _recv_exact(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("websocket closed")
            buf += chunk
        return buf

    def send(self, text: str) -> None:
        data = text.encode()
        head = bytes([0x81])
        n = len(data)
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 1 << 16:
            head += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def recv(self) -> str:
        parts = []
        while True:
            b0, b1 = self._recv_exact(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._recv_exact(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._recv_exact(8))[0]
            payload = self._recv_exact(n)
            op = b0 & 0x0F
            if op in (0x1, 0x0):
                parts.append(payload)
                if b0 & 0x80:
                    return b"".join(parts).decode()
            elif op == 0x8:
                raise ConnectionError("websocket closed by peer")
            # ping/pong ignored

    def call(self, method: str, **params):
        self.next_id += 1
        my_id = self.next_id
        self.send(json.dumps({"id": my_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.recv())
            if msg.get("id") == my_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})


def evaluate(ws: WebSocket, expr: str):
    r = ws.call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
    if "exceptionDetails" in r:
        raise RuntimeError(json.dumps(r["exceptionDetails"])[:500])
    return r.get("result", {}).get("value")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("out")
    ap.add_argument("--click", action="append", default=[], help="CSS selector (deep); repeatable")
    ap.add_argument("--js", action="append", default=[], help="JS to run after the clicks")
    ap.add_argument("--wait", type=float, default=8.0, help="seconds after load and after clicks")
    ap.add_argument("--size", default="1600,1000")
    ap.add_argument("--port", type=int, default=0, help="DevTools port (0: a free one)")
    ap.add_argument(
        "--flag",
        action="append",
        default=[],
        help="extra chromium flag, e.g. --enable-unsafe-swiftshader",
    )
    ap.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    a = ap.parse_args()
    w, h = (int(x) for x in a.size.split(","))
    if a.port == 0:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            a.port = s.getsockname()[1]
    profile = tempfile.mkdtemp(prefix="cdp-profile-")
    proc = subprocess.Popen(
        [
            a.chromium,
            *CHROMIUM_FLAGS,
            *a.flag,
            f"--remote-debugging-port={a.port}",
            f"--user-data-dir={profile}",
            f"--window-size={w},{h}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        tabs, missed = None, []
        for _ in range(100):
            try:
                tabs = json.load(
                    urllib.request.urlopen(f"http://127.0.0.1:{a.port}/json", timeout=2)
                )
                break
            except OSError:
                time.sleep(0.2)
        if tabs is None:
            raise SystemExit(f"cdp_shot: chromium did not open its DevTools port {a.port}")
        page = next(t for t in tabs if t.get("type") == "page")
        ws = WebSocket(page["webSocketDebuggerUrl"])
        ws.call("Page.enable")
        ws.call(
            "Emulation.setDeviceMetricsOverride",
            width=w,
            height=h,
            deviceScaleFactor=1,
            mobile=False,
        )
        ws.call("Page.navigate", url=a.url)
        time.sleep(a.wait)
        for sel in a.click:
            ok = evaluate(
                ws,
                f"(() => {{ const el = ({DEEP_QUERY})({json.dumps(sel)}); "
                "if (!el) return false; el.scrollIntoView(); el.click(); return true; })()",
            )
            print(f"click {sel!r}: {'ok' if ok else 'NOT FOUND'}")
            if not ok:
                missed.append(sel)
            time.sleep(1.0)
        for js in a.js:
            print("js ->", evaluate(ws, js))
        if a.click or a.js:
            time.sleep(a.wait)
        png = ws.call("Page.captureScreenshot", format="png")["data"]
        with open(a.out, "wb") as f:
            f.write(base64.b64decode(png))
        print("wrote", a.out)
        if missed:
            raise SystemExit(f"cdp_shot: not found: {', '.join(missed)}")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main()
