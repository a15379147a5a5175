"""A stand-in for ``adb`` used by the tests: it really performs the commands, on a local folder.

Not Android's adb: ``devices -l`` lists the devices described by ``STANDIN_ADB_DEVICES``
(``"SERIAL STATE;SERIAL STATE"``); ``push``/``pull`` copy files between this machine and the
folder ``STANDIN_ADB_ROOT``, which plays the phone's file system (``/data/local/tmp`` and
``/sys/devices`` are mapped into it); ``shell`` runs the command with ``sh`` on this machine
after mapping those paths, answering ``getprop NAME`` from ``STANDIN_ADB_PROPS`` (a JSON file,
which also holds the ``dumpsys thermalservice`` text) and running ``taskset MASK CMD`` (anywhere
in the command) as ``CMD``, logging the mask. Every call is appended to ``STANDIN_ADB_ROOT/adb.log`` as one JSON line.

``logcat`` reads the phone's log buffer, ``STANDIN_ADB_ROOT/logcat.jsonl`` (one JSON entry per
line: time, pid, tid, priority, tag, message; the stand-in executor_runner's Android PAL writes
it), as AOSP's logcat prints it (``system/logging``: ``logcat/logcat.cpp`` for the flags,
``liblog/logprint.cpp`` ``android_log_formatLogLine`` for the default ``threadtime`` format
``"%s %s%5d %5d %c %-8.*s: "``): ``-c`` empties it, ``-d`` dumps and exits, ``--pid=PID`` keeps one
process, ``-s`` silences every tag not named in a ``TAG[:PRIORITY]`` filterspec, and the
``--------- beginning of main`` divider comes before the first entry. A process killed by a
signal ends the shell with 128 + the signal's number, as a shell reports it.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
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


def device_bin() -> Path:
    """The phone's own commands that differ from this machine's: ``taskset MASK CMD...`` logs the mask and runs CMD
    (this machine may lack the cores the mask names)."""
    folder = ROOT / "standin-bin"
    if not (folder / "taskset").is_file():
        folder.mkdir(exist_ok=True)
        (folder / "taskset").write_text(f'#!/bin/sh\nprintf \'{{"taskset": "%s"}}\\n\' "$1" >> "{ROOT}/adb.log"\nshift\nexec "$@"\n')
        (folder / "taskset").chmod(0o755)
    return folder


def shell(command: str) -> int:
    parts = shlex.split(command)
    props = json.loads(Path(os.environ["STANDIN_ADB_PROPS"]).read_text())
    if parts[:1] == ["getprop"]:
        print(props.get(parts[1], ""))
        return 0
    if parts[:2] == ["dumpsys", "thermalservice"]:
        print(props.get("dumpsys thermalservice", "Can't find service: thermalservice"))
        return 0 if "dumpsys thermalservice" in props else 1
    code = subprocess.run(["sh", "-c", device_path(command)], env={**os.environ, "PATH": f"{device_bin()}{os.pathsep}{os.environ['PATH']}"}).returncode
    return 128 - code if code < 0 else code


PRIORITIES = "??VDIWEFS"  # android_LogPriority 0..8 -> the letter logcat prints


def logcat(args: list[str]) -> int:
    buffer = ROOT / "logcat.jsonl"
    if "-c" in args or "--clear" in args:
        buffer.write_text("")
        return 0
    if "-d" not in args:
        print("stand-in adb: only logcat -c and logcat -d (dump and exit) are played", file=sys.stderr)
        return 1
    pid = next((int(a.split("=", 1)[1]) for a in args if a.startswith("--pid=")), None)
    specs = dict((spec.split(":") + ["V"])[:2] for spec in args if not spec.startswith("-"))
    default = "S" if "-s" in args else "V"
    entries = [json.loads(line) for line in buffer.read_text().splitlines()] if buffer.is_file() else []
    shown = [e for e in entries if (pid is None or e["pid"] == pid)
             and e["priority"] >= PRIORITIES.index(specs.get(e["tag"], specs.get("*", default)))]
    if shown:
        print("--------- beginning of main")
    for e in shown:
        stamp = time.strftime("%m-%d %H:%M:%S", time.localtime(e["time"])) + f".{int(e['time'] % 1 * 1000):03d}"
        print(f"{stamp} {e['pid']:5d} {e['tid']:5d} {PRIORITIES[e['priority']]} {e['tag']:<8}: {e['message']}")
    return 0


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
    if args[0] == "logcat":
        return logcat(args[1:])
    print(f"stand-in adb: unsupported command {args}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
