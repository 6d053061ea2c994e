"""A user's kserve.Model file, written the way KServe's custom-predictor docs write one: the harness
uploads it beside the model and builds the class with the scenario's model name and model_dir."""
import argparse
import os

import kserve
import torch
from kserve import Model


class DigitsModel(Model):
    def __init__(self, name: str, model_dir: str = "/mnt/models"):
        super().__init__(name)
        self.model_dir = model_dir
        self.model = None

    def load(self) -> bool:
        self.model = torch.jit.load(os.path.join(self.model_dir, "model.pt")).eval()
        self.ready = True
        return self.ready

    def preprocess(self, payload, headers=None):
        return torch.tensor(payload["instances"], dtype=torch.float32)

    def predict(self, payload, headers=None):
        with torch.inference_mode():
            return {"predictions": self.model(payload).tolist()}


if __name__ == "__main__":  # how the user runs it by hand; the harness's entry builds the class itself
    parser = argparse.ArgumentParser(parents=[kserve.model_server.parser])
    args, _ = parser.parse_known_args()
    model = DigitsModel(args.model_name)
    model.load()
    kserve.ModelServer().start([model])
