"""A stand-in for ``adb`` used by the tests: it really performs the commands, on a local folder.

Not Android's adb: ``devices -l`` lists the devices described by ``STANDIN_ADB_DEVICES``
(``"SERIAL STATE;SERIAL STATE"``); ``push``/``pull`` copy files between this machine and the
folder ``STANDIN_ADB_ROOT``, which plays the phone's file system (``/data/local/tmp`` and
``/sys/devices`` are mapped into it); ``shell`` runs the command with ``sh`` on this machine
after mapping those paths, answering ``getprop NAME`` from ``STANDIN_ADB_PROPS`` (a JSON file,
which also holds the ``dumpsys thermalservice`` text) and running ``taskset MASK CMD`` as
``CMD``. Every call is appended to ``STANDIN_ADB_ROOT/adb.log`` as one JSON line.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(os.environ["STANDIN_ADB_ROOT"])
MAPPED = ("/data/local/tmp", "/sys/devices")


def devices() -> list[tuple[str, str]]:
    spec = os.environ.get("STANDIN_ADB_DEVICES", "")
    return [tuple(item.split()) for item in spec.split(";") if item.strip()]  # type: ignore[misc]


def device_path(path: str) -> str:
    for prefix in MAPPED:
        path = path.replace(prefix, str(ROOT) + prefix)
    return path


def log(entry: dict[str, object]) -> None:
    with open(ROOT / "adb.log", "a") as fh:
        fh.write(json.dumps(entry) + "\n")


def choose(serial: str | None) -> int:
    listed = devices()
    if serial is None:
        serial = os.environ.get("ANDROID_SERIAL")
    if serial is None:
        if not listed:
            print("adb: no devices/emulators found", file=sys.stderr)
            return 1
        if len(listed) > 1:
            print("adb: more than one device/emulator", file=sys.stderr)
            return 1
        serial, state = listed[0]
    else:
        found = [state for s, state in listed if s == serial]
        if not found:
            print(f"adb: device '{serial}' not found", file=sys.stderr)
            return 1
        state = found[0]
    if state != "device":
        print(f"adb: device {state}.", file=sys.stderr)
        return 1
    return 0


def shell(command: str) -> int:
    parts = shlex.split(command)
    props = json.loads(Path(os.environ["STANDIN_ADB_PROPS"]).read_text())
    if parts[:1] == ["getprop"]:
        print(props.get(parts[1], ""))
        return 0
    if parts[:2] == ["dumpsys", "thermalservice"]:
        print(props.get("dumpsys thermalservice", "Can't find service: thermalservice"))
        return 0 if "dumpsys thermalservice" in props else 1
    if parts[:1] == ["taskset"]:
        log({"taskset": parts[1]})
        command = shlex.join(parts[2:])
    return subprocess.run(["sh", "-c", device_path(command)]).returncode


def main(args: list[str]) -> int:
    log({"args": args})
    serial = None
    if args[:1] == ["-s"]:
        serial, args = args[1], args[2:]
    if args[:1] == ["devices"]:
        print("List of devices attached")
        for number, (name, state) in enumerate(devices(), 1):
            print(f"{name}\t{state} usb:1-{number} product:standin model:Stand_in device:standin transport_id:{number}")
        print()
        return 0
    status = choose(serial)
    if status:
        return status
    if args[0] == "push":
        target = Path(device_path(args[2]))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(args[1], target)
        print(f"{args[1]}: 1 file pushed, 0 skipped. ({target.stat().st_size} bytes in 0.001s)")
        return 0
    if args[0] == "pull":
        shutil.copy2(device_path(args[1]), args[2])
        return 0
    if args[0] == "shell":
        return shell(" ".join(args[1:]))
    print(f"stand-in adb: unsupported command {args}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
