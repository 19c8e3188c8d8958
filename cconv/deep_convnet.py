"""The book's ``ch08/deep_convnet.py``: ``from cconv.deep_convnet import DeepConvNet``."""
from .networks.deep_convnet import DeepConvNet  # noqa: F401
