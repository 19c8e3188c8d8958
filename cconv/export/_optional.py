"""Import an optional package, or say in one line how to install it."""
import importlib

_INSTALL = {"onnx": 'pip install "cconv[export]"', "onnxruntime": 'pip install "cconv[export]"',
            "torch": "pip install torch (see https://pytorch.org for the CPU-only wheel)"}


def require(name, what):
    """``import name``, or ImportError: "<what> needs <name>, which is not installed: ..."."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise ImportError(f"{what} needs the '{name}' package, which is not installed "
                          f"({exc}): {_INSTALL.get(name, f'pip install {name}')}") from None
