"""Headless Chromium driven over the Chrome DevTools Protocol, with no dependency beyond the standard library.

Chromium is started with ``--remote-debugging-pipe``: it reads protocol commands from file descriptor 3 and writes
replies and events to descriptor 4, one JSON message each, ended by a NUL byte. :class:`Chromium` starts it, opens
one page (a target attached with ``flatten``, so every command carries the page's ``sessionId``), and offers what the
browser-demo test needs: navigate, evaluate JavaScript (awaiting promises), wait for a condition, mouse events,
screenshots, and the page's console. The browser is always stopped and its profile folder removed (``close``, or the
context manager), also after a failure. Playwright is not used: it downloads its own browser, which CI cannot reach.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """The Chromium (or Chrome) executable on PATH, or None. ``MOBILESEG_CHROMIUM`` names one explicitly."""
    explicit = os.environ.get("MOBILESEG_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


class BrowserError(AssertionError):
    """The browser died, a command failed, or a wait ran out; the message says which, with the page's last console lines."""


class Chromium:
    """One headless Chromium with one page. ``flags`` are added to the command line (a fake camera, permissions)."""

    def __init__(self, executable: str, flags: list[str] | None = None, timeout: float = 60.0) -> None:
        self.profile = Path(tempfile.mkdtemp(prefix="mobileseg-chromium-"))
        self.timeout = timeout
        self.console: list[str] = []
        self._next = 0
        self._replies: dict[int, dict[str, Any]] = {}
        self._events: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        self._closed = False
        commands_read, self._commands = os.pipe()  # we write commands; Chromium reads fd 3
        self._replies_fd, replies_write = os.pipe()  # Chromium writes fd 4; we read
        argv = [executable, "--headless=new", "--remote-debugging-pipe", f"--user-data-dir={self.profile}", "--no-first-run",
                "--no-default-browser-check", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-extensions", "--mute-audio", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1000,800",
                *(flags or []), "about:blank"]

        # The pipe ends are copied above fd 10 (close-on-exec), so that making them fds 3 and 4 in the child cannot
        # overwrite one with the other; the copies at 3 and 4 are inherited by Chromium, everything else is not.
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (commands_read, replies_write)]

        def child_fds() -> None:  # runs in the child, before exec
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)

        try:
            self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                            close_fds=False, preexec_fn=child_fds, start_new_session=True)
        finally:
            for fd in (commands_read, replies_write, *high):
                os.close(fd)
        self._stderr: list[str] = []
        threading.Thread(target=self._read_replies, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        try:
            target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Page.enable", "Runtime.enable"):
                self.send(domain, session=True)
        except BaseException:
            self.close()
            raise

    # -- the pipe ---------------------------------------------------------------------------------------------

    def _read_replies(self) -> None:
        buffer = b""
        while True:
            try:
                chunk = os.read(self._replies_fd, 1 << 20)
            except OSError:
                chunk = b""
            if not chunk:
                with self._cond:
                    self._closed = True
                    self._cond.notify_all()
                return
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            with self._cond:
                for raw in messages:
                    message = json.loads(raw)
                    if "id" in message:
                        self._replies[message["id"]] = message
                    else:
                        self._on_event(message)
                self._cond.notify_all()

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._stderr.append(line.decode(errors="replace").rstrip())
            del self._stderr[:-40]

    def _on_event(self, message: dict[str, Any]) -> None:
        method, params = message.get("method"), message.get("params", {})
        if method == "Runtime.consoleAPICalled":
            text = " ".join(str(arg.get("value", arg.get("description", ""))) for arg in params.get("args", []))
            self.console.append(f"{params.get('type')}: {text}")
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            self.console.append(f"exception: {details.get('exception', {}).get('description') or details.get('text')}")
        self._events.append(message)
        del self._events[:-200]

    def _tail(self) -> str:
        console = "\n  ".join(self.console[-15:]) or "(nothing)"
        stderr = "\n  ".join(self._stderr[-10:]) or "(nothing)"
        return f"\npage console (last lines):\n  {console}\nchromium stderr (last lines):\n  {stderr}"

    def send(self, method: str, params: dict[str, Any] | None = None, session: bool = False, timeout: float | None = None) -> dict[str, Any]:
        """One protocol command; its ``result``. A protocol error or no reply within ``timeout`` is a BrowserError."""
        with self._cond:
            self._next += 1
            ident = self._next
        message: dict[str, Any] = {"id": ident, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        try:
            os.write(self._commands, json.dumps(message).encode() + b"\0")
        except OSError as exc:
            raise BrowserError(f"Chromium is gone (writing {method}: {exc}){self._tail()}") from None
        deadline = time.monotonic() + (timeout or self.timeout)
        with self._cond:
            while ident not in self._replies:
                left = deadline - time.monotonic()
                if self._closed:
                    raise BrowserError(f"Chromium exited (status {self.process.poll()}) while running {method}{self._tail()}")
                if left <= 0:
                    raise BrowserError(f"no reply to {method} within {timeout or self.timeout:.0f} s{self._tail()}")
                self._cond.wait(left)
            reply = self._replies.pop(ident)
        if "error" in reply:
            raise BrowserError(f"{method} failed: {reply['error']}{self._tail()}")
        return dict(reply.get("result", {}))

    # -- what a test does with the page ----------------------------------------------------------------------

    def navigate(self, url: str) -> None:
        self.send("Page.navigate", {"url": url}, session=True)
        self.wait_for("document.readyState === 'complete'", timeout=30, what=f"{url} to load")

    def evaluate(self, expression: str, timeout: float | None = None) -> Any:
        """The value of ``expression`` in the page (a promise is awaited); a thrown error is a BrowserError."""
        result = self.send("Runtime.evaluate", {"expression": expression, "awaitPromise": True, "returnByValue": True},
                           session=True, timeout=timeout)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise BrowserError(f"{expression[:200]} threw: {details.get('exception', {}).get('description') or details.get('text')}{self._tail()}")
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout: float = 30.0, what: str = "", every: float = 0.1) -> Any:
        """Polls ``expression`` until it is truthy; returns its value. Runs out with a BrowserError naming ``what``."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression, timeout=max(5.0, timeout))
            if value:
                return value
            if time.monotonic() > deadline:
                raise BrowserError(f"waited {timeout:.0f} s for {what or expression}; the page did not get there{self._tail()}")
            time.sleep(every)

    def mouse(self, kind: str, x: float, y: float) -> None:
        """A mouse event at CSS pixel (x, y) of the viewport: kind is mousePressed, mouseMoved or mouseReleased."""
        params: dict[str, Any] = {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}
        params["buttons"] = 0 if kind == "mouseReleased" else 1
        self.send("Input.dispatchMouseEvent", params, session=True)

    def drag(self, start: tuple[float, float], end: tuple[float, float], steps: int = 5) -> None:
        self.mouse("mousePressed", *start)
        for i in range(1, steps + 1):
            self.mouse("mouseMoved", start[0] + (end[0] - start[0]) * i / steps, start[1] + (end[1] - start[1]) * i / steps)
        self.mouse("mouseReleased", *end)

    def screenshot(self, path: Path) -> Path:
        data = self.send("Page.captureScreenshot", {"format": "png"}, session=True)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        """Stops Chromium (and its helper processes: its own process group) and removes its profile."""
        if self.process.poll() is None:
            try:
                self.send("Browser.close", timeout=5)
            except BrowserError:
                pass
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, 9)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=10)
        for fd in (self._commands, self._replies_fd):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self.profile, ignore_errors=True)


@contextmanager
def chromium(executable: str, flags: list[str] | None = None, timeout: float = 60.0) -> Iterator[Chromium]:
    browser = Chromium(executable, flags, timeout)
    try:
        yield browser
    finally:
        browser.close()
