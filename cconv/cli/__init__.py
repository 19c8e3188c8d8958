"""The ``cconv`` command: train, evaluate and look inside the book's CNNs.

::

    cconv train simple --epochs 20          # book ch. 7: SimpleConvNet on MNIST
    cconv evaluate runs/<run>/params.npz --confusion cm.png
    cconv show filters runs/<run>/params.npz --before runs/<run>/params_init.npz --out f.png
    cconv bench kernels
    cconv info

Every subcommand has ``--help``. Expected problems (a missing data file, a params file of
another network or a corrupt one, an output folder that cannot be written, bad arguments)
end with a one-line message and exit status 2, without a traceback; Ctrl-C during
training saves a checkpoint and exits with 130.
"""
import argparse
import sys

from . import bench, download, evaluate, export, info, predict, show, train
from ._common import (EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, CLIError,  # noqa: F401
                      _infer_dataset, _network_line, _networks, one_line)

__all__ = ["main", "build_parser", "CLIError"]

#: The subcommands, one module each, in the order ``--help`` lists them.
SUBCOMMANDS = (train, evaluate, show, predict, export, bench, info, download)


def build_parser():
    """The ``argparse`` parser of the ``cconv`` command."""
    from .. import __version__

    nets = _networks()
    net_lines = "\n".join(_network_line(short, cls) for short, cls in nets.items())
    parser = argparse.ArgumentParser(
        prog="cconv", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="The CNNs of 'Deep Learning from Scratch' (ch. 7-8) on Cython + OpenMP "
                    "kernels:\ntrain them on MNIST, evaluate them, and look at their filters, "
                    "feature maps and mistakes.",
        epilog="networks:\n" + net_lines + "\n\nexamples:\n"
               "  cconv train simple                      # book ch. 7, 20 epochs\n"
               "  cconv train deep --epochs 5 --out runs/deep\n"
               "  cconv evaluate runs/deep/params.npz --confusion cm.png\n"
               "  cconv show filters runs/deep/params.npz --layer Conv1 --out conv1.png\n"
               "  cconv bench kernels\n\n"
               "`cconv COMMAND --help` describes each command.")
    parser.add_argument("--version", action="version", version=f"cconv {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    for command in SUBCOMMANDS:
        command.add_parser(sub, nets, net_lines)
    return parser


def main(argv=None):
    """Run the ``cconv`` command; returns the exit status.

    Parameters
    ----------
    argv : list of str, optional
        The arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success, 1 if the work failed (training diverged), 2 for bad arguments and
        expected input/output problems (message on stderr, no traceback), 130 after Ctrl-C.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        from .._checks import ConfigError
        from ..datasets import DatasetError
        from ..networks import ParamsFileError
        try:
            return args.func(args, argv) or 0
        except (CLIError, ConfigError, DatasetError, ParamsFileError) as exc:
            print(f"cconv: error: {one_line(exc)}", file=sys.stderr)
            return EXIT_USAGE
        except BrokenPipeError:
            raise
        except OSError as exc:
            print("cconv: error: " + one_line(f"{exc.strerror or exc}" + (
                f": '{exc.filename}'" if exc.filename else "")), file=sys.stderr)
            return EXIT_USAGE
    except KeyboardInterrupt:
        print("\ncconv: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `cconv evaluate ... | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
