"""KServe's TorchServe runtime (kserve-torchserve): TorchServe behind KServe's Python front."""
