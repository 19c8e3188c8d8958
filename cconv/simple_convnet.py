"""The book's ``ch07/simple_convnet.py``: ``from cconv.simple_convnet import SimpleConvNet``."""
from .networks.simple_convnet import SimpleConvNet  # noqa: F401
