"""The harness's tensor handler with a planted 60 ms delay per batch: the "slower candidate" of the
A/B regression test (outputs unchanged). The scenario ships the harness's tensor_handler.py beside
it (model.extra_files), where TorchServe's worker imports it from the model folder."""
from __future__ import annotations

import time

from tensor_handler import TensorHandler

DELAY_S = 0.060  # digits answers in a few ms: +60 ms is a regression no noise can hide


class SlowTensorHandler(TensorHandler):
    def handle(self, data, context):
        time.sleep(DELAY_S)  # sleep-ok: the planted slowdown itself, not synchronisation
        return super().handle(data, context)
