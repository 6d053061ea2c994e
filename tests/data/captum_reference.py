"""Expected attributions for the explain tests: captum's IntegratedGradients on our own transform.

Runs in the runtime environment's python (the harness's own has no captum), outside TorchServe:
the eager model from its model file and state_dict, each PNG through build_mnist's transform,
then ``IntegratedGradients(model).attribute(batch, target=TARGET, n_steps=N)``, what TorchServe's
VisionHandler asks captum for. Prints the attributions of the batch as JSON on stdout.

Usage: python captum_reference.py BUILD_MNIST_PY WEIGHTS TARGET N_STEPS PNG [PNG ...]
"""
import importlib.util
import json
import sys

import torch
from captum.attr import IntegratedGradients


def main(build_mnist: str, weights: str, target: str, n_steps: str, *pngs: str) -> None:
    sys.dont_write_bytecode = True  # nothing may appear beside the fixtures
    spec = importlib.util.spec_from_file_location("build_mnist", build_mnist)
    bm = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bm)
    model = bm.load_net_module().MnistNet()
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    model.eval()
    batch = torch.stack([bm.mnist_transform(open(p, "rb").read()) for p in pngs])
    attributions = IntegratedGradients(model).attribute(batch, target=int(target), n_steps=int(n_steps))
    json.dump(attributions.tolist(), sys.stdout)


if __name__ == "__main__":
    main(*sys.argv[1:])
