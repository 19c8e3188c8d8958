"""Export cconv networks to PyTorch, ONNX and safetensors, and read them back.

=================================  ===============================================
``state_dict(network)``            torch-named NumPy arrays (no PyTorch needed)
``load_state_dict(network, sd)``   the other way, checked, in place
``to_torch(network)``              an ``nn.Module`` computing ``network.predict``
``from_torch(module, network)``    a module's parameters back into the network
``to_onnx(network, path)``         an ONNX graph (the ``onnx`` package)
``save_safetensors(network, p)``   the weights as ``.safetensors`` (no dependency)
``load_safetensors(path)``         a network rebuilt from such a file
=================================  ===============================================

The layers are read in one place, :mod:`cconv.export.graph` (a table from layer class
to exporter); each format is one file. PyTorch and onnx are optional: they are imported
when a function needs them, and a missing one raises ImportError saying what to install
(``pip install "cconv[export]"`` for onnx and onnxruntime).
"""
from .graph import describe, load_state_dict, state_dict
from .onnx import to_onnx
from .safetensors import load_safetensors, save_safetensors
from .torch import from_torch, save_torch, to_torch

__all__ = ["state_dict", "load_state_dict", "to_torch", "from_torch", "save_torch",
           "to_onnx", "save_safetensors", "load_safetensors", "describe"]
