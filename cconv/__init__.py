"""cconv: the CNNs of *Deep Learning from Scratch* (ch. 7-8) on fast Cython + OpenMP kernels.

The book's modules keep their names: ``cconv.layers``, ``cconv.util``, ``cconv.optimizer``,
``cconv.trainer``, ``cconv.gradient``, ``cconv.functions``, ``cconv.datasets``.
"""
__version__ = "0.1.0"


def _check_compiled():
    """Refuse, with what to do, a cconv whose compiled kernels are missing.

    The usual cause: Python puts the current folder first on ``sys.path`` (``python -m``,
    ``python -c``, a script saved there), so from the root of a source checkout the bare
    source folder ``cconv/`` shadows the installed package.
    """
    import importlib.machinery
    import os
    here = os.path.dirname(os.path.abspath(__file__))
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    try:
        names = os.listdir(here)
    except OSError:
        return
    if any(n.startswith("_") and n.endswith(suffixes) for n in names):
        return
    source = os.path.isfile(os.path.join(os.path.dirname(here), "setup.py"))
    where = (f"the source folder {here}, which has no compiled kernels. "
             f"It shadows the installed cconv because Python looks in the current folder "
             f"first. Run from another folder (cd elsewhere), or build the kernels in place "
             f"with: pip install -e ." if source else
             f"{here}, which has no compiled kernels: the installation is "
             f"incomplete; reinstall it (pip install --force-reinstall cconv)")
    raise ImportError(f"cconv is imported from {where}")


_check_compiled()

from ._config import get_num_threads, set_num_threads, show_config  # noqa: E402

__all__ = ["__version__", "get_num_threads", "set_num_threads", "show_config"]
