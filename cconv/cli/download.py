"""``cconv download``: fetch a dataset's files, checksum-verified."""
from ._common import (CLIError, _cli_words, _dataset_title, _Formatter)


def cmd_download(args, argv):
    from ..datasets import DownloadError, fetch
    try:  # a fresh copy: MNIST's bundled one is not what this command is for
        paths = fetch(args.dataset, args.data_dir, download=True, verify=True, bundled=False)
    except DownloadError as exc:
        raise CLIError(_cli_words(str(exc))) from None
    print(f"{_dataset_title(args.dataset)} files (checksums verified):")
    for key in ("train_img", "train_label", "test_img", "test_label"):
        print(f"  {paths[key]}")
    return 0


def add_parser(sub, nets, net_lines):
    """Add this subcommand to the ``cconv`` parser."""
    p = sub.add_parser(
        "download", formatter_class=_Formatter, help="download a dataset",
        description="Download the dataset's four files (checked against their SHA-256) "
                    "into --data-dir,\nelse $CCONV_DATA_DIR, else ~/.cache/cconv; files "
                    "already there are verified.")
    p.add_argument("--dataset", choices=("mnist", "fashion-mnist"), default="mnist",
                   help="the dataset")
    p.add_argument("--data-dir", metavar="DIR", help="where to put the files")
    p.set_defaults(func=cmd_download)
