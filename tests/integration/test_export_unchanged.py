"""The plain student's exported files and contracts are the ones the code wrote before the redesign.

``tests/fixtures/plain_student_export.json`` was written by ``python tests/export_reference.py
tests/fixtures/plain_student_export.json`` at the last commit before the package was split into
layers (the same at 1 and 2 threads). It names every tensor of the ONNX graphs and of the TFLite
subgraphs with its shape and the sha256 of its values, the operators in order, the signatures, and
every contract field that does not vary run to run. (TFLite names intermediate tensors after the
Python module of the traced entry wrapper, which moved; that module path is normalised, nothing else.) A change of the export that alters any of
them fails here; if the change is meant, regenerate the fixture and say why in the commit.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.export_reference import export_summary

pytestmark = pytest.mark.slow
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "plain_student_export.json"


def _differences(before: object, after: object, where: str = "") -> list[str]:
    if isinstance(before, dict) and isinstance(after, dict):
        out = [f"{where}/{key}: only before" for key in before.keys() - after.keys()]
        out += [f"{where}/{key}: only after" for key in after.keys() - before.keys()]
        for key in before.keys() & after.keys():
            out += _differences(before[key], after[key], f"{where}/{key}")
        return out
    return [] if before == after else [f"{where}: {str(before)[:120]} -> {str(after)[:120]}"]


def test_the_plain_students_export_is_byte_identical_to_before(tmp_path: Path) -> None:
    before = json.loads(FIXTURE.read_text())
    after = json.loads(json.dumps(export_summary(tmp_path), sort_keys=True))
    differences = sorted(_differences(before, after))
    assert not differences, f"{len(differences)} differences:\n" + "\n".join(differences[:40])
