"""A handler whose module imports a package that is not installed: the worker dies on import."""
import does_not_exist  # noqa: F401  (the point of this file)
from ts.torch_handler.base_handler import BaseHandler


class MissingImportHandler(BaseHandler):
    """Never instantiated: importing this file fails first."""
