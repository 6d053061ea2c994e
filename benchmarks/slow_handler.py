"""The harness's tensor handler with a planted delay: the "slower model version" for
benchmarks/compare_false_alarms.py.

The delay (milliseconds) is read at start-up from `planted_delay.json` shipped beside the model
(`model.extra_files`), so one handler file serves any delay. Runs on the local target only: it
imports the harness package, which TorchServe's worker finds in the venv that started it.
"""
from __future__ import annotations

import json
import os
import time

from harness.runtimes.torchserve.handlers.tensor_handler import TensorHandler


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
