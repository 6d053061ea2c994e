"""The harness's tensor handler plus CPU work whose result is multiplied by zero: a "slower model
version" whose outputs stay the same, for benchmarks/ab_sensitivity.py.

Every forward pass computes the model, then keeps the CPU busy for `work_ms` milliseconds with
small tensor operations and adds their sum times zero to the output (x + 0 * y == x exactly, so
the answers are unchanged). `work_ms` is read at start-up from `planted_work.json` shipped beside
the model (`model.extra_files`), so one handler file serves every slowdown; the harness's
tensor_handler.py is shipped beside it too (TorchServe's worker imports it from the model folder).
Unlike a sleep, the work competes for the CPU as the model's own compute does.
"""
from __future__ import annotations

import json
import os
import time

import torch
from tensor_handler import TensorHandler


class PlantedWorkHandler(TensorHandler):
    work_s = 0.0

    def initialize(self, context):
        super().initialize(context)
        path = os.path.join(context.system_properties.get("model_dir", "."), "planted_work.json")
        with open(path) as f:
            self.work_s = float(json.load(f)["work_ms"]) / 1000.0
        self._operand = torch.full((32, 32), 0.5)

    def _forward(self, tensor: torch.Tensor) -> torch.Tensor:
        out = super()._forward(tensor)
        if self.work_s <= 0:
            return out
        acc = torch.zeros(())
        until = time.perf_counter() + self.work_s
        while time.perf_counter() < until:  # the planted work: bounded by time, real CPU use
            acc = (acc + (self._operand @ self._operand).mean()) % 7.0
        return out + 0.0 * acc
