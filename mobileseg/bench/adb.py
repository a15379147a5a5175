"""A thin ``adb`` transport: find the tool, choose exactly one usable device, push / shell / logcat.

Every call runs the real ``adb`` executable found on PATH (the tests put a stand-in first on
PATH that performs the same commands on a local folder). Device states come from ``adb devices
-l``: ``device`` is usable; ``unauthorized``, ``offline`` and the rest are refused with what to do.
The first call starts adb's server if none is running, and it stays running afterwards (adb's
own behaviour; ``adb kill-server`` stops it).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any

from mobileseg.errors import MobilesegError

INSTALL = ("install Android's platform-tools (Debian/Ubuntu: apt install adb; macOS: brew install android-platform-tools; "
           "or https://developer.android.com/tools/releases/platform-tools) and put adb on PATH")
PROPERTIES = {"model": "ro.product.model", "manufacturer": "ro.product.manufacturer", "soc_manufacturer": "ro.soc.manufacturer",
              "soc": "ro.soc.model", "android": "ro.build.version.release", "sdk": "ro.build.version.sdk", "abi": "ro.product.cpu.abi"}
THERMAL = ("none", "light", "moderate", "severe", "critical", "emergency", "shutdown")


class AdbError(MobilesegError):
    """adb is missing, no usable device is selected, or a command on the device failed."""


@dataclass(frozen=True)
class Device:
    serial: str
    state: str
    details: str = ""  # "model:Pixel_8 device:shiba transport_id:3"


def parse_devices(text: str) -> list[Device]:
    """The devices of ``adb devices -l`` output (daemon start-up lines and the header skipped)."""
    devices = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("List of devices", "*")) or "daemon" in line:
            continue
        parts = line.split(None, 2)
        if len(parts) >= 2:
            devices.append(Device(parts[0], parts[1], parts[2] if len(parts) > 2 else ""))
    return devices


def _state_error(device: Device) -> AdbError:
    if device.state == "unauthorized":
        return AdbError(f"device {device.serial} is unauthorized: unlock the phone and accept the 'Allow USB debugging?' "
                        "prompt (tick 'Always allow'), then run again. If no prompt shows, replug the cable or run "
                        "`adb kill-server`.")
    if device.state == "offline":
        return AdbError(f"device {device.serial} is offline: replug the cable (or `adb reconnect`), wait until "
                        "`adb devices` lists it as 'device', then run again.")
    return AdbError(f"device {device.serial} is in state {device.state!r}, not 'device'; boot it normally with USB debugging on.")


def select_device(devices: list[Device], serial: str | None, source: str = "--serial") -> Device:
    """The one device to use: ``serial`` (``source`` names where it came from: --serial or ANDROID_SERIAL), else the only one listed."""
    listed = ", ".join(f"{d.serial} ({d.state})" for d in devices)
    if serial:
        found = [d for d in devices if d.serial == serial]
        if not found:
            given = f"--serial {serial}" if source == "--serial" else f"{source}={serial} (from the environment)"
            raise AdbError(f"{given} is not connected; adb lists {listed or 'no device'}.")
        device = found[0]
    elif not devices:
        raise AdbError("no Android device is connected: plug in a phone with USB debugging on (Settings > Developer "
                       "options), or connect one with `adb connect HOST:PORT`; `adb devices` must list it.")
    elif len(devices) > 1:
        raise AdbError(f"several devices are connected ({listed}); choose one with --serial SERIAL (or ANDROID_SERIAL).")
    else:
        device = devices[0]
    if device.state != "device":
        raise _state_error(device)
    return device


def parse_thermal(text: str) -> dict[str, Any]:
    """``dumpsys thermalservice``: the status (0 none .. 6 shutdown) and the hottest CPU sensor, when printed."""
    result: dict[str, Any] = {}
    status = re.search(r"Thermal Status:\s*(\d+)", text)
    if status:
        level = int(status.group(1))
        result["status"] = THERMAL[level] if level < len(THERMAL) else str(level)
    section = text.split("Current temperatures from HAL:", 1)[-1].split("Current cooling devices", 1)[0]
    cpu = [float(v) for v, t in re.findall(r"Temperature\{mValue=([-\d.]+), mType=(\d+)", section) if t == "0"]
    if cpu:
        result["cpu_max_c"] = max(cpu)
    return result


class Adb:
    """Commands for one selected device."""

    def __init__(self, serial: str | None = None, timeout: float = 600.0) -> None:
        executable = shutil.which("adb")
        if executable is None:
            raise AdbError(f"adb is not on PATH: {INSTALL}.")
        self.executable: str = executable
        self.timeout = timeout
        devices = parse_devices(self._run(["devices", "-l"]).stdout)
        source = "--serial" if serial else "ANDROID_SERIAL"
        self.device = select_device(devices, serial or os.environ.get("ANDROID_SERIAL"), source)

    def _run(self, args: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        try:
            done = subprocess.run([self.executable, *args], capture_output=True, text=True, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            raise AdbError(f"adb {' '.join(args[:3])} did not finish within {self.timeout:.0f} s.") from None
        if check and done.returncode != 0:
            output = (done.stderr.strip() or done.stdout.strip()).splitlines()
            raise AdbError(f"adb {' '.join(args[:4])} failed (status {done.returncode}): {output[-1] if output else 'no output'}")
        return done

    def _device(self, args: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        return self._run(["-s", self.device.serial, *args], check)

    def shell(self, command: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``command`` on the device (arguments quoted for the device's shell)."""
        return self._device(["shell", " ".join(shlex.quote(part) for part in command)], check)

    def push(self, local: str | os.PathLike[str], remote: str) -> None:
        self._device(["push", str(local), remote])

    def logcat_clear(self) -> None:
        """Empty the phone's log buffers (``adb logcat -c``), so a later read holds only what came after."""
        self._device(["logcat", "-c"], check=False)

    def logcat(self, tag: str, pid: int) -> str:
        """What process ``pid`` logged under ``tag`` (info and above) since the last clear: ``adb logcat -d``."""
        return self._device(["logcat", "-d", f"--pid={pid}", "-s", f"{tag}:I"], check=False).stdout

    def getprop(self, name: str) -> str:
        return self.shell(["getprop", name]).stdout.strip()

    def info(self) -> dict[str, Any]:
        """What identifies the phone: model, manufacturer, SoC, Android version, SDK level, ABI."""
        return {"kind": "adb", "serial": self.device.serial, **{key: self.getprop(prop) or None for key, prop in PROPERTIES.items()}}

    def thermal(self) -> dict[str, Any]:
        """The thermal status where the phone reports it (Android 10+), else {}."""
        done = self.shell(["dumpsys", "thermalservice"], check=False)
        return parse_thermal(done.stdout) if done.returncode == 0 else {}
