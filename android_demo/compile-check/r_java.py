"""Writes the app's R.java from its resource folder, for the compile check where aapt is absent.

Only what Kotlin code refers to: R.layout (layout files), R.id (every @+id/ in them), R.string,
R.color and R.style (values files), R.drawable and R.mipmap (file names). The numbers are arbitrary
and unique; nothing is linked (aapt does that when it is installed).
usage: python3 r_java.py RES_DIR PACKAGE OUT_JAVA
"""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def collect(res: Path) -> dict[str, set[str]]:
    kinds: dict[str, set[str]] = {k: set() for k in ("layout", "id", "string", "color", "style", "drawable", "mipmap")}
    for folder in sorted(p for p in res.iterdir() if p.is_dir()):
        base = folder.name.split("-")[0]
        for file in sorted(folder.iterdir()):
            if base == "values":
                for item in ET.parse(file).getroot():
                    if item.tag in ("string", "color", "style") and "name" in item.attrib:
                        kinds[item.tag].add(item.attrib["name"].replace(".", "_"))
            elif base in ("layout", "drawable", "mipmap"):
                kinds[base].add(file.name.split(".")[0])
                if file.suffix == ".xml":
                    kinds["id"].update(re.findall(r'"@\+id/(\w+)"', file.read_text(encoding="utf-8")))
    return kinds


def main() -> None:
    res, package, out = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    lines = [f"package {package};", "", "public final class R {"]
    number = 0x7F000000
    for kind, names in collect(res).items():
        lines.append(f"    public static final class {kind} {{")
        for name in sorted(names):
            number += 1
            lines.append(f"        public static final int {name} = 0x{number:08x};")
        lines.append("    }")
    lines.append("}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
