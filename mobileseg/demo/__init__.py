"""``mobileseg demo``: live segmentation in a browser, with the phone's own ``.tflite`` file and contract.

A small web page (``web/``, static files) opens the camera, lets the user drag a box on the video, and runs the
exported student's ``init`` and ``step`` on every frame in LiteRT.js, the state fed back by the names in the contract
(read with the Android app's rules: ``web/contract.js`` is a port of its ``Contract.java``); when LiteRT.js cannot run
the file it says why and runs the ONNX export in ONNX Runtime Web instead. :mod:`mobileseg.demo.server` serves it,
:mod:`mobileseg.demo.runtimes` pins and installs the two runtimes (npm packages).
"""

from mobileseg.demo.runtimes import default_folder, install
from mobileseg.demo.server import DemoServer, make_server, resolve_models, serve

__all__ = ["DemoServer", "default_folder", "install", "make_server", "resolve_models", "serve"]
