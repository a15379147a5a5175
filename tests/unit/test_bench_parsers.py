"""The on-device tools' output parsers, on the exact lines of shared/TOOLS.md, and the stats."""

from __future__ import annotations

import pytest

from mobileseg.bench.adb import AdbError, Device, parse_devices, parse_thermal, select_device
from mobileseg.bench.host import curve, frame_index
from mobileseg.bench.parsers import ToolOutputError, parse_benchmark_model, parse_executor_runner
from mobileseg.bench.stats import LatencyStats, percentile

BENCHMARK_MODEL = """STARTING!
Num threads: [4]
Graph: [/data/local/tmp/model.tflite]
Replacing 120 out of 124 node(s) with delegate (TfLiteXNNPackDelegate) node, yielding 2 partitions.
Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
count=3 first=360262 curr=300113 min=300113 max=360262 avg=320586 std=28000

Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
count=50 first=249042 curr=250889 min=247067 max=254474 avg=249684 std=1442

Inference timings in us: Init: 16242, First inference: 360262, Warmup (avg): 304586, Inference (avg): 249684
Memory footprint delta from the start of the tool (MB): init=4.21094 overall=46.0859
"""


def test_benchmark_model_lines() -> None:
    run = parse_benchmark_model(BENCHMARK_MODEL)
    assert run.stats.count == 50 and run.stats.mean == pytest.approx(249.684) and run.stats.min == pytest.approx(247.067)
    assert run.stats.max == pytest.approx(254.474) and run.stats.std == pytest.approx(1.442) and run.stats.p50 is None
    assert run.init_ms == pytest.approx(16.242) and run.first_ms == pytest.approx(360.262) and run.warmup_ms == pytest.approx(304.586)
    assert run.memory_mb == {"init": pytest.approx(4.21094), "overall": pytest.approx(46.0859)}
    assert run.delegate == {"name": "TfLiteXNNPackDelegate", "nodes": 120, "of_nodes": 124, "partitions": 2}


def test_benchmark_model_newer_and_older_formats() -> None:
    newer = "count=50 first=249042 curr=250889 min=247067 max=254474 avg=249684 std=1442 p5=247500 median=249600 p95=252000\n"
    assert parse_benchmark_model(newer).stats.p50 == pytest.approx(249.6)
    older = newer + "Peak memory footprint (MB): init=3.5 overall=40.25\n"
    assert parse_benchmark_model(older).memory_mb == {"init": 3.5, "overall": 40.25}


def test_benchmark_model_multiple_signatures_error_and_garbage() -> None:
    text = ('Signature not specified or incorrect for graph with multiple signatures. Pass one of the following to the flag '
            '"--signature_to_run_for"\n #> Signature key: init\n #> Signature key: step\n')
    with pytest.raises(ToolOutputError, match="it lists init, step"):
        parse_benchmark_model(text)
    with pytest.raises(ToolOutputError, match=r"(?s)no .count=... avg=.... line.*Segmentation fault"):
        parse_benchmark_model("STARTING!\nSegmentation fault\n")


def test_executor_runner_lines() -> None:
    text = "\n".join([
        "I 00:00:00.000812 executorch:executor_runner.cpp:94] Model file /data/local/tmp/student.pte is loaded.",
        "I 00:00:00.000830 executorch:executor_runner.cpp:103] Using method step",
        *[f"I 00:00:01.{i:06d} executorch:executor_runner.cpp:190] Iteration {i + 1} of 4: {ms} ms"
          for i, ms in enumerate(("40.5", "31.0", "30.0", "32.0"))],
        "I 00:00:01.200000 executorch:executor_runner.cpp:200] Model executed successfully 4 time(s) in 133.500000 ms.",
    ])
    assert parse_executor_runner(text).stats.count == 4
    warm = parse_executor_runner(text, skip=1).stats
    assert warm.count == 3 and warm.mean == pytest.approx(31.0) and warm.p50 == pytest.approx(31.0) and warm.max == 32.0
    summary = parse_executor_runner("Model executed successfully 10 time(s) in 250.0 ms.").stats
    assert summary.count == 10 and summary.mean == pytest.approx(25.0) and summary.p50 is None
    with pytest.raises(ToolOutputError, match="neither"):
        parse_executor_runner("E executor_runner: Failed to load program")


def test_devices_listing_and_selection() -> None:
    text = ("* daemon not running; starting now at tcp:5037\n* daemon started successfully\nList of devices attached\n"
            "R5CT1234       device usb:1-1 product:r0sxxx model:SM_S901B device:r0s transport_id:3\n"
            "emulator-5554  unauthorized transport_id:4\n\n")
    devices = parse_devices(text)
    assert devices == [Device("R5CT1234", "device", "usb:1-1 product:r0sxxx model:SM_S901B device:r0s transport_id:3"),
                       Device("emulator-5554", "unauthorized", "transport_id:4")]
    assert select_device(devices, "R5CT1234").serial == "R5CT1234"
    with pytest.raises(AdbError, match="several devices"):
        select_device(devices, None)
    with pytest.raises(AdbError, match="unauthorized"):
        select_device(devices, "emulator-5554")
    with pytest.raises(AdbError, match="no Android device"):
        select_device(parse_devices("List of devices attached\n\n"), None)


def test_thermal_status() -> None:
    text = ("Thermal Status: 2\nCached temperatures:\n\tTemperature{mValue=50.0, mType=0, mName=cpu0, mStatus=0}\n"
            "Current temperatures from HAL:\n\tTemperature{mValue=44.25, mType=0, mName=cpu1, mStatus=2}\n"
            "\tTemperature{mValue=60.0, mType=3, mName=skin, mStatus=0}\nCurrent cooling devices from HAL:\n")
    assert parse_thermal(text) == {"status": "moderate", "cpu_max_c": 44.25}
    assert parse_thermal("Can't find service: thermalservice") == {}


def test_stats_and_curve() -> None:
    stats = LatencyStats.of([4.0, 1.0, 3.0, 2.0])
    assert (stats.min, stats.p50, stats.max, stats.mean, stats.fps) == (1.0, 2.5, 4.0, 2.5, 400.0)
    assert percentile(list(range(101)), 90) == 90 and percentile([5.0], 99) == 5.0
    assert [frame_index(i, 4) for i in range(9)] == [0, 1, 2, 3, 2, 1, 0, 1, 2]
    assert curve([6, 7, 8, 9, 10], [1.0, 3.0, 5.0, 7.0, 9.0], every=2) == [{"frame": 6, "ms": 2.0}, {"frame": 8, "ms": 6.0}, {"frame": 10, "ms": 9.0}]
