"""What the subcommands of the ``cconv`` command share: exit codes, argument types, the
data and params loading with one-line errors, figure and JSON output, option groups."""
import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

from .._checks import integer
from ..io.files import open_regular

EXIT_USAGE = 2       # bad arguments, missing or wrong input files, unwritable output
EXIT_FAILED = 1      # the work itself failed (training diverged)
EXIT_INTERRUPTED = 130


class CLIError(Exception):
    """An expected problem, reported as ``cconv: error: <message>`` with exit status 2."""


def _networks():
    from ..networks import NETWORKS
    return NETWORKS


def _net_name(value):
    """argparse type: a short network name, or a class name in any case."""
    key = value.strip().lower()
    for short, cls in _networks().items():
        if key in (short, cls.__name__.lower()):
            return short
    raise argparse.ArgumentTypeError(
        f"unknown network {value!r}; choose one of {', '.join(_networks())}")


def _whole(value):
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None


def _at_least(low, value):
    try:
        return integer(_whole(value), "the value", low=low)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {'> 0' if low == 1 else '>= 0'}, got "
                                         f"{value}") from None


def _positive(value):
    return _at_least(1, value)


def _non_negative(value):
    return _at_least(0, value)


def _threads(value):
    from .._threads import MAX_THREADS
    n = _whole(value)
    if n <= 0 and n != -1:
        raise argparse.ArgumentTypeError(f"must be > 0, or -1 for all CPUs, got {n}")
    if n > MAX_THREADS:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_THREADS} (cconv's limit), "
                                         f"got {n}")
    return n


def one_line(message):
    """An error message on one line: its lines joined with '; ' (the command line's
    errors are one line, whatever the library's messages hold)."""
    return "; ".join(part.strip() for part in str(message).splitlines() if part.strip())


#: The files `cconv train` writes into its --out folder (and `cconv show all` adds).
RUN_FILES = ("params.npz", "params_init.npz", "history.json", "curves.png", "summary.json",
             "log.jsonl", "checkpoint/checkpoint.npz", "filters.png", "features.png",
             "misclassified.png")


def run_files(folder):
    """The run files present in ``folder`` (names from RUN_FILES)."""
    folder = Path(folder)
    return [name for name in RUN_FILES if os.path.lexists(folder / name)]


def run_ids_of(path):
    """The run ids a run file records: a set, empty for a file of an older cconv (or
    one that cannot be read). The log can record several; every other file one."""
    p = Path(path)
    try:
        if p.suffix == ".npz":
            from ..io.npz import load_npz
            metas = [load_npz(p)[1]]
        elif p.suffix == ".png":
            from PIL import Image

            from ..viz._figure import RUN_ID_KEY
            with open_regular(p, "rb") as f, Image.open(f) as im:
                metas = [{"run_id": getattr(im, "text", {}).get(RUN_ID_KEY)}]
        elif p.suffix == ".jsonl":
            with open_regular(p, "r", encoding="utf-8") as f:
                metas = [json.loads(line) for line in f if line.strip()]
        else:
            with open_regular(p, "r", encoding="utf-8") as f:
                metas = [json.load(f)]
    except (OSError, ValueError, SyntaxError):   # PIL: SyntaxError for a broken PNG
        return set()
    ids = (m.get("run_id") if isinstance(m, dict) else None for m in metas)
    return {i for i in ids if isinstance(i, str)}


def run_id_of(path):
    """The one run id a run file records, or None (none, or several)."""
    ids = run_ids_of(path)
    return next(iter(ids)) if len(ids) == 1 else None


def _positive_float(value):
    try:
        v = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {value!r}") from None
    if not v > 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {value}")
    return v


def _dataset_title(name):
    return {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}[name]


def _cli_words(message):
    """A datasets message in the command line's words (``--data-dir``, not ``data_dir=``)."""
    return (message.replace("Pass data_dir= a writable directory", "Pass --data-dir a "
                            "writable folder")
            .replace("pass data_dir=,", "pass --data-dir DIR,"))


def _load_data(args, dtype, train_size=None, test_size=None):
    """The dataset named in ``args`` (missing files: a hint at ``cconv download``).

    ``--download`` asks for a fresh copy: MNIST's bundled copy is passed over, and files
    found nowhere else are downloaded.
    """
    from ._data import load_data
    from ..datasets import DatasetError, DownloadError
    download = bool(getattr(args, "download", False))
    if args.data_dir is not None and not Path(args.data_dir).is_dir():
        what = "is a file, not a folder" if Path(args.data_dir).exists() else "does not exist"
        raise CLIError(f"--data-dir '{args.data_dir}' {what}: name the folder that holds "
                       f"the dataset's .gz files (or leave it out: MNIST ships with cconv)")
    try:
        return load_data(args.dataset, args.data_dir, dtype=dtype, train_size=train_size,
                         test_size=test_size, download=download, bundled=not download)
    except DownloadError as exc:
        raise CLIError(_cli_words(str(exc))) from None
    except DatasetError as exc:
        where = f" --data-dir {shlex.quote(str(args.data_dir))}" if args.data_dir else ""
        hint = ""
        if "not found" in str(exc):
            hint = (f"\nTo fetch the files: cconv download --dataset {args.dataset}{where}"
                    " (or add --download)")
        msg = str(exc).replace(", or pass download=True", "")
        raise CLIError(f"{msg}{hint}") from None
    except ValueError as exc:  # a --train-size/--test-size larger than the set
        raise CLIError(str(exc)) from None


def _writable_dir(path):
    try:
        return _check_writable_dir(path)
    except OSError as exc:
        raise CLIError(exc.strerror or str(exc)) from None


def _check_out_file(path, what="--out"):
    """A figure path whose folder can be created and written (checked before the work)."""
    p = Path(path)
    if p.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise CLIError(f"{what} {str(p)!r}: the figure's file name must end in .png, .svg "
                       "or .pdf")
    _writable_dir(p.parent if str(p.parent) else ".")
    return p


def _load_params(path, net_name=None):
    """Rebuild the network saved in ``path``; with ``net_name``, load into that network.

    ``net_name`` is needed for files without cconv's metadata (the book's params.pkl).
    """
    from ..io.npz import load_npz
    from ..networks import ParamsFileError, get_network, load_network
    p = Path(path)
    if not p.is_file():
        raise CLIError(f"no params file at '{p}'" + (" (it is a folder)" if p.is_dir() else ""))
    try:
        if net_name is None:
            try:
                return load_network(p)
            except ParamsFileError as exc:
                if "no network description" in str(exc):
                    raise ParamsFileError(f"{exc}; name the network with --net "
                                          f"({', '.join(_networks())})") from None
                raise
        dtype = "float64"  # the book's pickles
        with open_regular(p) as f:
            is_zip = f.read(2) == b"PK"
        if is_zip:
            try:
                _, meta = load_npz(p)
            except ValueError as exc:
                raise ParamsFileError(str(exc)) from None
            dtype = (meta or {}).get("dtype", dtype)
        return get_network(net_name, dtype=dtype).load_params(p)
    except ParamsFileError as exc:
        raise CLIError(f"{exc}") from None


def _run_summary(params):
    """The ``summary.json`` of the run folder that holds ``params``, or {}."""
    try:
        with open_regular(Path(params).parent / "summary.json", "r", encoding="utf-8") as f:
            summary = json.load(f)
    except (OSError, ValueError):
        return {}
    return summary if isinstance(summary, dict) else {}


def _infer_dataset(args):
    """Fill in the data source of ``args`` from the run the params file belongs to.

    ``--dataset`` and ``--data-dir`` when given, else those that the run recorded in its
    ``summary.json`` (so ``cconv show``/``evaluate`` read the data the run trained on),
    else MNIST from the default places. Returns the dataset's name.
    """
    from ._data import DATASETS
    summary = _run_summary(args.params)
    recorded = summary.get("args") if isinstance(summary.get("args"), dict) else {}
    if args.dataset is None:
        ds = summary.get("dataset")
        args.dataset = ds if ds in DATASETS else "mnist"
        data_dir = recorded.get("data_dir")
        if args.data_dir is None and isinstance(data_dir, str) and data_dir:
            if not Path(data_dir).is_dir():
                raise CLIError(f"the run's data folder '{data_dir}' (recorded in "
                               f"{Path(args.params).parent / 'summary.json'}) does not exist "
                               f"any more; pass --data-dir DIR (or --dataset to use the "
                               f"default places)")
            args.data_dir = data_dir
    return args.dataset


def _layer_names(net, pred):
    return [name for name, layer in net.layers.items() if pred(layer)]


def _save_figure(fig_fn, path, **kwargs):
    """Draw and save a figure; OSErrors become one-line messages."""
    try:
        fig_fn(path=path, **kwargs)
    except OSError as exc:
        raise CLIError(exc.strerror or str(exc)) from None
    print(f"wrote {path}")


def _write_json(path, obj):
    from ..io.npz import atomic_write
    text = (json.dumps(obj, indent=1) + "\n").encode("utf-8")
    atomic_write(path, lambda f: f.write(text))


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keep the descriptions' line breaks; show the defaults that are values."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        has_value = not (default is None or default is False or default is argparse.SUPPRESS)
        if has_value and "%(default)" not in text and (action.option_strings
                                                       or action.nargs == "?"):
            text += " (default: %(default)s)"
        return text


def _network_line(short, cls):
    """``short  ClassName: first line of its module's docstring`` for --help."""
    doc = (sys.modules[cls.__module__].__doc__ or cls.__doc__ or "").strip()
    first = doc.splitlines()[0].replace("``", "") if doc else ""
    first = first.removeprefix("The book's ").removeprefix(cls.__name__).lstrip(" :")
    sep = " " if first.startswith("(") else ": "
    line = f"  {short:<8} {cls.__name__}" + (sep + first if first else "")
    if len(line) > 92:   # keep the first clause: "Classic LeNet-5 (LeCun et al. 1998) ..."
        cut = min((i for i in (line.find(": ", 20), line.find("; ", 20)) if i > 0),
                  default=len(line))
        line = line[:cut]
        if len(line) > 92:
            line = line[:89].rsplit(" ", 1)[0] + " ..."
    return line


def _data_options(p, dataset_default="mnist", dataset_help=None):
    from ._data import DATASETS
    p.add_argument("--dataset", choices=DATASETS, default=dataset_default,
                   help=dataset_help or "the dataset")
    p.add_argument("--data-dir", metavar="DIR",
                   help="folder holding the dataset's .gz files (or a mnist/ or "
                        "fashion-mnist/ folder of them); also searched: $CCONV_DATA_DIR, "
                        "~/.cache/cconv")
    p.add_argument("--download", action="store_true",
                   help="download a fresh copy from the mirrors (checksum-verified, into "
                        "--data-dir or ~/.cache/cconv) instead of using MNIST's copy that "
                        "ships with cconv; other missing files are an error that says where "
                        "files were looked for")


def _params_options(p):
    p.add_argument("params", metavar="PARAMS",
                   help="params file written by `cconv train` (params.npz) or save_params")
    p.add_argument("--net", type=_net_name, metavar="NAME",
                   help="the network the params belong to, for files without cconv's "
                        f"metadata such as the book's params.pkl ({', '.join(_networks())})")


def _test_size_option(p):
    p.add_argument("--test-size", type=_positive, metavar="N",
                   help="use the first N test images (default all; quick checks)")


def _png_out(p):
    p.add_argument("--out", required=True, metavar="PNG",
                   help="figure to write (.png, .svg or .pdf)")


def default_run_dir(net, dataset, root="runs"):
    """``<root>/<net>-<dataset>-<YYYYmmdd-HHMMSS>``, with a suffix if it exists already."""
    base = Path(root) / f"{net}-{dataset}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, k = base, 1
    while path.exists():
        k += 1
        path = Path(f"{base}-{k}")
    return path


def _check_writable_dir(path):
    """Create ``path`` (and parents) and make sure a file can be written into it.

    Raises
    ------
    OSError
        With a message naming the folder and why it cannot be used.
    """
    path = Path(os.fspath(path))
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".cconv-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        blocker = next((p for p in [path, *path.parents] if p.exists() and not p.is_dir()),
                       None)
        why = (f"'{blocker}' is a file, not a folder" if blocker is not None
               else exc.strerror or str(exc))
        raise type(exc)(exc.errno, f"cannot write to output folder '{path}': {why}") \
            from None
    return path
