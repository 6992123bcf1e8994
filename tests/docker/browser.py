"""Headless Chromium, driven over the DevTools protocol through a pipe.

No dependency beyond Debian's ``chromium``: with ``--remote-debugging-pipe`` the browser
reads commands on file descriptor 3 and writes answers and events on 4, as JSON messages
ended by a NUL byte. Enough of the protocol to open a page with extra HTTP headers (basic
auth, so no password in a URL or on a command line), read its text and take a screenshot.
"""

import base64
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path

# Run as root in a container-less sandbox on a closed network: no sandbox, no GPU, and no
# background requests (updates, safe browsing, sync) that would wait on the network.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--remote-debugging-pipe",
]


class BrowserError(RuntimeError):
    pass


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


class Chromium:
    """One headless browser with one page. Use as a context manager."""

    def __init__(self, executable: str, user_data_dir: Path, log: Path, size=(1400, 900)):
        self.executable = executable
        self.user_data_dir = Path(user_data_dir)
        self.log = Path(log)
        self.width, self.height = size
        self.process = None
        self.next_id = 0
        self.session = None
        self.events: list[dict] = []
        self.buffer = b""

    def __enter__(self):
        self.user_data_dir.mkdir(parents=True, exist_ok=False)  # a new, empty profile
        to_browser_read, self.to_browser = os.pipe()
        self.from_browser, from_browser_write = os.pipe()

        def on_fds_3_and_4():
            # In the child: the browser reads on 3 and writes on 4.
            read_end, write_end = os.dup(to_browser_read), os.dup(from_browser_write)
            os.dup2(read_end, 3)
            os.dup2(write_end, 4)

        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [
                    self.executable,
                    *FLAGS,
                    f"--user-data-dir={self.user_data_dir}",
                    f"--window-size={self.width},{self.height}",
                    "about:blank",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                close_fds=False,
                preexec_fn=on_fds_3_and_4,
            )
        os.close(to_browser_read)
        os.close(from_browser_write)
        try:
            target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            attached = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})
            self.session = attached["sessionId"]
            self.send("Page.enable")
            self.send("Network.enable")
            self.send(
                "Emulation.setDeviceMetricsOverride",
                {
                    "width": self.width,
                    "height": self.height,
                    "deviceScaleFactor": 1,
                    "mobile": False,
                },
            )
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self) -> None:
        if self.process is None:
            return
        try:
            self.send("Browser.close", session=False, timeout=5)
        except (BrowserError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for descriptor in (self.to_browser, self.from_browser):
            try:
                os.close(descriptor)
            except OSError:
                pass
        self.process = None

    # --- the protocol ---------------------------------------------------------

    def send(self, method: str, params=None, session=True, timeout=30.0) -> dict:
        """Send one command and return its result; events that arrive meanwhile are kept."""
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self.to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            answer = self._receive(deadline, method)
            if answer.get("id") == self.next_id:
                if "error" in answer:
                    raise BrowserError(f"{method}: {answer['error']}")
                return answer.get("result", {})
            self.events.append(answer)

    def _receive(self, deadline: float, waiting_for: str) -> dict:
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError(f"no answer to {waiting_for} in time; see {self.log}")
            ready, _, _ = select.select([self.from_browser], [], [], left)
            if ready:
                chunk = os.read(self.from_browser, 1 << 20)
                if not chunk:
                    raise BrowserError(f"the browser exited; see {self.log}")
                self.buffer += chunk
        message, _, self.buffer = self.buffer.partition(b"\0")
        return json.loads(message)

    # --- what a person does -----------------------------------------------------

    def set_headers(self, headers: dict) -> None:
        """Send these headers with every request of the page (XHR included)."""
        self.send("Network.setExtraHTTPHeaders", {"headers": headers})

    def open(self, url: str, timeout=30.0) -> int:
        """Load ``url``; returns the HTTP status of the document, once the page has loaded."""
        self.events.clear()
        navigation = self.send("Page.navigate", {"url": url}, timeout=timeout)
        if navigation.get("errorText"):
            raise BrowserError(f"{url}: {navigation['errorText']}")
        loader = navigation.get("loaderId")
        deadline = time.monotonic() + timeout
        status = None
        pending, self.events = self.events, []
        while True:
            for event in pending:
                method, params = event.get("method"), event.get("params", {})
                if method == "Network.responseReceived" and params.get("loaderId") == loader:
                    if params.get("type") == "Document" and status is None:
                        status = params["response"]["status"]
                # Only a load after this navigation's document counts (an earlier page's
                # load event can arrive late).
                if method == "Page.loadEventFired" and status is not None:
                    return status
            pending = [self._receive(deadline, f"the load of {url}")]

    def text(self) -> str:
        """The page's visible text, as a person reads it."""
        result = self.send(
            "Runtime.evaluate", {"expression": "document.body.innerText", "returnByValue": True}
        )
        return result["result"].get("value") or ""

    def type_into(self, selector: str, text: str) -> None:
        """Focus the element, select what it holds and type ``text`` over it, as a keyboard
        does (input events fire)."""
        element = f"document.querySelector({json.dumps(selector)})"
        expression = f"{element}.focus(); {element}.select()"
        self.send("Runtime.evaluate", {"expression": expression})
        self.send("Input.insertText", {"text": text})

    def wait_for_text(self, pieces, timeout=30.0) -> str:
        """Until every piece of text is on the page; returns the page's text."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.text()
            if all(piece in text for piece in pieces):
                return text
            if time.monotonic() > deadline:
                missing = [piece for piece in pieces if piece not in text]
                raise BrowserError(f"not on the page after {timeout}s: {missing}\n{text[:2000]}")
            time.sleep(0.5)

    def screenshot(self, path: Path) -> Path:
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        path.write_bytes(base64.b64decode(data))
        return path
