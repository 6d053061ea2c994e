"""The harness's tensor handler answering as a "different model": every output row reversed (class
9's score where class 0's was), so outputs and top-1 classes differ from the baseline. For the A/B
disagreement test; the scenario ships tensor_handler.py beside it (model.extra_files)."""
from __future__ import annotations

from tensor_handler import TensorHandler


class ReversedTensorHandler(TensorHandler):
    def _forward(self, tensor):
        return super()._forward(tensor).flip(-1)
