"""``cconv info``: build and runtime configuration, and where the datasets are."""
from pathlib import Path

from ._common import _dataset_title


def cmd_info(args, argv):
    from .._config import show_config
    from ..datasets import DatasetError, fetch
    show_config()
    for name in ("mnist", "fashion-mnist"):
        try:
            paths = fetch(name, args.data_dir, download=False)
            where = f"found in {Path(paths['train_img']).parent}"
        except DatasetError:
            where = "not found (cconv download --dataset " + name + ")"
        print(f"{_dataset_title(name) + ':':<17}{where}")
    return 0


def add_parser(sub, nets, net_lines):
    """Add this subcommand to the ``cconv`` parser."""
    p = sub.add_parser("info", help="build and runtime configuration",
                       description="Version, OpenMP, threads, BLAS, and where the data is.")
    p.add_argument("--data-dir", metavar="DIR", help="also look for the datasets here")
    p.set_defaults(func=cmd_info)
