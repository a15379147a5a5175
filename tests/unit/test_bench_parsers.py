"""The on-device tools' output parsers on every line shape the real tools print, and the stats.

The shapes come from the tools' sources (``mobileseg/bench/parsers.py`` names the files and
functions): ``tsl::Stat::OutputToStream`` prints integers except ``avg``, a double with the
stream's 6 significant digits (``avg=2.95034e+06`` at >= 1 s per run), the short forms
``count=1 curr=…`` and ``curr=…(all same)``; LiteRT prefixes ``INFO: `` and appends percentiles.
"""

from __future__ import annotations

import pytest

from mobileseg.bench.adb import AdbError, Device, parse_devices, parse_thermal, select_device
from mobileseg.bench.host import curve, frame_index
from mobileseg.bench.parsers import ToolOutputError, parse_benchmark_model, parse_executor_runner, parse_stat_line
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


LITERT_SLOW = """INFO: STARTING!
INFO: Log parameter values verbosely: [0]
INFO: Graph: [/data/local/tmp/mobileseg-bench-1a2b3c4d/student.tflite]
INFO: Signature to run: [step]
INFO: Loaded model /data/local/tmp/mobileseg-bench-1a2b3c4d/student.tflite
INFO: Using signature: step
INFO: Created TensorFlow Lite XNNPACK delegate for CPU.
VERBOSE: Replacing 31 out of 33 node(s) with delegate (TfLiteXNNPackDelegate) node, yielding 3 partitions for subgraph 0 (init).
VERBOSE: Replacing 60 out of 64 node(s) with delegate (TfLiteXNNPackDelegate) node, yielding 4 partitions for subgraph 1 (step).
INFO: The input model file size (MB): 30.0126
INFO: Initialized session in 92.344ms.
INFO: Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
INFO: count=1 curr=3104166 p5=3104166 median=3104166 p95=3104166

INFO: Running benchmark for at least 3 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
INFO: count=3 first=2950340 curr=2949012 min=2948003 max=2953751 avg=2.95034e+06 std=2431 p5=2948003 median=2950340 p95=2953751

INFO: Inference timings in us: Init: 92344, First inference: 3104166, Warmup (avg): 3.10417e+06, Inference (avg): 2.95034e+06
INFO: Note: as the benchmark tool itself affects memory footprint, the following is only APPROXIMATE to the actual memory footprint of the model at runtime. Take the information at your discretion.
INFO: Memory footprint delta from the start of the tool (MB): init=61.0234 overall=212.5
INFO: Overall peak memory footprint (MB) via periodic monitoring: 220.754
"""


def test_benchmark_model_slow_runs_print_exponents_and_litert_prefixes() -> None:
    run = parse_benchmark_model(LITERT_SLOW, subgraph=1)
    assert run.stats.count == 3 and run.stats.mean == pytest.approx(2950.34) and run.stats.min == pytest.approx(2948.003)
    assert run.stats.max == pytest.approx(2953.751) and run.stats.std == pytest.approx(2.431) and run.stats.p50 == pytest.approx(2950.34)
    assert run.init_ms == pytest.approx(92.344) and run.first_ms == pytest.approx(3104.166) and run.warmup_ms == pytest.approx(3104.17)
    assert run.memory_mb == {"init": pytest.approx(61.0234), "overall": 212.5, "peak": pytest.approx(220.754)}
    assert run.delegate == {"name": "TfLiteXNNPackDelegate", "nodes": 60, "of_nodes": 64, "partitions": 4, "subgraph": 1}
    assert parse_benchmark_model(LITERT_SLOW, subgraph=0).delegate["nodes"] == 31


@pytest.mark.parametrize("line, count, mean, p50", [
    ("count=1 curr=3104166", 1, 3104.166, 3104.166),  # one run: Stat's short form
    ("INFO: count=1 curr=12345 p5=12345 median=12345 p95=12345", 1, 12.345, 12.345),
    ("count=4 curr=1000(all same)", 4, 1.0, 1.0),  # identical runs, no space before '(all same)'
    ("INFO: count=4 curr=1000(all same) p5=1000 median=1000 p95=1000", 4, 1.0, 1.0),
    ("count=50 first=74456 curr=74299 min=74101 max=75022 avg=74481.6 std=268", 50, 74.4816, None),  # TensorFlow-era, bare
    ("12-05 20:50:19.123  5395  5395 I tflite  : count=2 first=1885 curr=1886 min=1885 max=1886 avg=1885.5 std=0", 2, 1.8855, None),
    ("I/tflite  ( 5395): count=2 first=1e+06 curr=2e+06 min=1e+06 max=2e+06 avg=1.5e+06 std=500000", 2, 1500.0, None),
])
def test_benchmark_model_every_statistics_line_shape(line: str, count: int, mean: float, p50: float | None) -> None:
    stats = parse_stat_line(line)
    assert stats is not None and stats.count == count and stats.mean == pytest.approx(mean)
    assert (stats.p50 is None) if p50 is None else stats.p50 == pytest.approx(p50)
    assert parse_benchmark_model(line + "\n").stats == stats


def test_benchmark_model_delegate_line_of_every_version() -> None:
    for ending in (".", " for the whole graph.", " for subgraph 1.", " for subgraph 1 (step)."):
        text = f"Replacing 120 out of 124 node(s) with delegate (TfLiteXNNPackDelegate) node, yielding 2 partitions{ending}\ncount=1 curr=5\n"
        assert parse_benchmark_model(text).delegate["nodes"] == 120
    older = "Replacing 31 node(s) with delegate (TfLiteNnapiDelegate) node, yielding 1 partitions.\ncount=1 curr=5\n"
    assert parse_benchmark_model(older).delegate == {"name": "TfLiteNnapiDelegate", "nodes": 31, "of_nodes": None, "partitions": 1}


def test_benchmark_model_multiple_signatures_error_and_garbage() -> None:
    text = ('Signature not specified or incorrect for graph with multiple signatures. Pass one of the following to the flag '
            '"--signature_to_run_for"\n #> Signature key: init\n #> Signature key: step\n')
    with pytest.raises(ToolOutputError, match="this graph lists init, step"):
        parse_benchmark_model(text)
    newer = ('ERROR: Signature not specified or incorrect. Pass one of the following to the flag "--signature_to_run_for"\n'
             'ERROR:  #> Signature key: init\nERROR:  #> Signature key: step\nERROR: Benchmarking failed.\n')
    with pytest.raises(ToolOutputError, match="this graph lists init, step"):
        parse_benchmark_model(newer)
    with pytest.raises(ToolOutputError, match="no signatures"):
        parse_benchmark_model("ERROR: Signature key is specified, but the model does not have any signatures.\n")
    with pytest.raises(ToolOutputError, match="no 'count=... ' statistics"):
        parse_benchmark_model("INFO: count=0 p5=0 median=0 p95=0\n")
    with pytest.raises(ToolOutputError, match=r"(?s)no 'count=... ' statistics.*Segmentation fault"):
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
    logcat = ("--------- beginning of main\n"
              "12-05 20:50:19.123  1234  1234 I ExecuTorch: Model loaded in 39.258000 ms.\n"
              "12-05 20:50:19.223  1234  1234 I ExecuTorch: Iteration 1 of 2: 95.209000 ms\n"
              "12-05 20:50:19.323  1234  1234 I ExecuTorch: Iteration 2 of 2: 90.000000 ms\n")
    assert parse_executor_runner(logcat, skip=1).stats.mean == pytest.approx(90.0)


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


def test_the_standin_prints_statistics_as_the_real_stream_does() -> None:
    """The benchmark_model stand-in's Stat::OutputToStream copy, read back by the parser (slow runs, one run, identical runs)."""
    from tests.standins.benchmark_model import stat_line

    slow = [2950340, 2949012, 2953751]
    # mean 2951034.33 us, population std 1996.0 (by hand)
    assert stat_line(slow, percentiles=False) == "count=3 first=2950340 curr=2953751 min=2949012 max=2953751 avg=2.95103e+06 std=1996"
    assert stat_line([3104166], percentiles=True) == "count=1 curr=3104166 p5=3104166 median=3104166 p95=3104166"
    assert stat_line([1000, 1000, 1000], percentiles=False) == "count=3 curr=1000(all same)"
    assert stat_line([], percentiles=True) == "count=0 p5=0 median=0 p95=0"
    for times in (slow, [3104166], [1000, 1000, 1000], [74456, 74299, 74101, 75022]):
        stats = parse_stat_line(stat_line(times, percentiles=True))
        assert stats is not None and stats.count == len(times) and stats.mean == pytest.approx(sum(times) / len(times) / 1000, rel=1e-5)
