"""The harness's tensor handler with a planted delay: the "slower model version" for
benchmarks/compare_false_alarms.py.

The delay (milliseconds) is read at start-up from `planted_delay.json` shipped beside the model
(`model.extra_files`), so one handler file serves any delay. The harness's tensor_handler.py is
shipped beside it (`model.extra_files` too): TorchServe's worker runs in the runtime image's
environment, which has no harness package, and imports it from the model folder.
"""
from __future__ import annotations

import json
import os
import time

from tensor_handler import TensorHandler


class SlowTensorHandler(TensorHandler):
    delay_s = 0.0

    def initialize(self, context):
        super().initialize(context)
        path = os.path.join(context.system_properties.get("model_dir", "."), "planted_delay.json")
        with open(path) as f:
            self.delay_s = float(json.load(f)["delay_ms"]) / 1000.0

    def handle(self, data, context):
        time.sleep(self.delay_s)  # the planted slowdown: every batch takes this much longer
        return super().handle(data, context)
