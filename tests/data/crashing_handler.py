"""A handler whose model load always fails: the worker dies at start-up, as a broken model does."""
from ts.torch_handler.base_handler import BaseHandler


class CrashingHandler(BaseHandler):
    def initialize(self, context):
        raise RuntimeError("harness-test: this handler crashes on purpose during initialize")
