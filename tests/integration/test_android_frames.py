"""The Android app's core (android_demo/core) against the Python side, for what the app gained with its
camera and GPU fixes: the frame conversion of an analysis image's crop rectangle (CameraX's ViewPort)
against ``mobileseg.export.android.camera_frame`` of the same pixels, and the reader of the .tflite
graph behind the app's on-screen GPU figure against LiteRT's own schema on an exported student.

Without a JDK (javac) or Debian's junit4 these tests are skipped, each saying why.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mobileseg.export.android import camera_frame
from tests.android_jvm import compile_core, java


@pytest.fixture(scope="module")
def jvm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The core module and its tests (Probe, the benchmark) compiled into one class folder."""
    return compile_core(tmp_path_factory.mktemp("jvm"))


@pytest.mark.parametrize("width,height,pad,rotation,crop,out", [
    (64, 48, 0, 0, (0, 0, 64, 48), (48, 64)),      # the whole image as the crop rectangle
    (96, 54, 8, 90, (21, 0, 75, 54), (48, 32)),    # a portrait phone's ViewPort on a 16:9 image
    (96, 54, 0, 0, (0, 6, 96, 48), (24, 48)),      # a 20:9 screen held sideways
    (80, 60, 4, 180, (10, 5, 70, 55), (32, 40)),   # the other landscape orientation
    (120, 40, 0, 270, (30, 3, 97, 38), (16, 32)),  # odd offsets, upscaling
])
def test_crop_rectangle_frame_matches_python(jvm: Path, tmp_path: Path, width: int, height: int, pad: int, rotation: int,
                                             crop: tuple[int, int, int, int], out: tuple[int, int]) -> None:
    """The app converts ImageProxy.getCropRect() of each analysis image: Python's camera_frame of those pixels is the same tensor."""
    rng = np.random.default_rng(width * height + rotation + crop[0])
    image = rng.integers(0, 256, size=(height, width, 4), dtype=np.uint8)
    rows = np.zeros((height, width * 4 + pad), dtype=np.uint8)
    rows[:, :width * 4] = image.reshape(height, width * 4)
    (tmp_path / "image.rgba").write_bytes(rows.tobytes())
    left, top, right, bottom = crop
    done = java(jvm, "io.mobileseg.core.Probe", "frame", str(tmp_path / "image.rgba"), str(width), str(height), str(width * 4 + pad), "4",
                str(rotation), str(out[0]), str(out[1]), str(tmp_path / "frame.f32"), str(left), str(top), str(right), str(bottom))
    assert done.returncode == 0, done.stderr
    from_java = np.fromfile(tmp_path / "frame.f32", dtype="<f4").reshape(1, 3, *out)
    from_python = camera_frame(image[top:bottom, left:right], rotation, out).numpy()
    np.testing.assert_allclose(from_java, from_python, rtol=0, atol=2e-6)
    assert from_java.std() > 0.1


def test_graph_reader_agrees_with_litert_schema(jvm: Path, exported: dict[str, object]) -> None:
    """Per signature of the exported student: operators, and those reading or writing a tensor of rank 5 or more
    (which LiteRT's GPU delegate leaves on the CPU), as the app's TfliteGraph reads them and as LiteRT's schema does."""
    schema = pytest.importorskip("ai_edge_litert.schema_py_generated", reason="ai-edge-litert's flatbuffer schema is not installed")
    model = exported["out"] / "student.tflite"  # type: ignore[operator]
    done = java(jvm, "io.mobileseg.core.Probe", "graph", str(model))
    assert done.returncode == 0, done.stderr
    from_java = {}
    for line in done.stdout.splitlines():
        name, _, ops, _, rank5, _, gpu, _, partitions = line.split()
        from_java[name] = (int(ops), int(rank5), int(gpu), int(partitions))
    root = schema.Model.GetRootAsModel(model.read_bytes(), 0)
    from_python = {}
    for s in range(root.SignatureDefsLength()):
        signature = root.SignatureDefs(s)
        graph = root.Subgraphs(signature.SubgraphIndex())
        high = 0
        for o in range(graph.OperatorsLength()):
            op = graph.Operators(o)
            tensors = [op.Inputs(i) for i in range(op.InputsLength())] + [op.Outputs(i) for i in range(op.OutputsLength())]
            high += any(t >= 0 and graph.Tensors(t).ShapeLength() > 4 for t in tensors)
        from_python[signature.SignatureKey().decode()] = (graph.OperatorsLength(), high)
    assert set(from_java) == set(from_python) == {"init", "step"}
    for name, (ops, high) in from_python.items():
        assert from_java[name][:2] == (ops, high), (name, from_java[name], from_python[name])
        assert 0 < from_java[name][2] <= ops - high
    step_ops, step_high, step_gpu, _ = from_java["step"]
    assert step_high > 0, "the students' memory is 5-D: some step operators must stay on the CPU"
    assert step_gpu < step_ops, "so the app cannot claim that the whole step runs on the GPU"


def test_frame_benchmark_runs(jvm: Path) -> None:
    done = java(jvm, "io.mobileseg.core.FrameConverterBench", "2", "3")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert sum("per-pixel (before)" in line for line in lines) == 2
    assert sum("bulk rows  (after)" in line for line in lines) == 4
