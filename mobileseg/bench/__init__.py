"""``mobileseg bench``: per-frame latency of trackers on this host and on Android phones over adb.

- :mod:`~mobileseg.bench.host`: each model's own tracker over a generated video, state fed back,
  one process per model;
- :mod:`~mobileseg.bench.device` over :mod:`~mobileseg.bench.adb`: the phone's own runner
  (``benchmark_model``, ``executor_runner``) on real state inputs, parsed by
  :mod:`~mobileseg.bench.parsers`;
- :mod:`~mobileseg.bench.report`: one JSON schema, table and plot for both.
"""
