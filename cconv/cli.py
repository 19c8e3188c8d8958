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
import inspect
import json
import shlex
import sys
import time
from pathlib import Path

__all__ = ["main", "build_parser", "CLIError"]

EXIT_USAGE = 2       # bad arguments, missing or wrong input files, unwritable output
EXIT_FAILED = 1      # the work itself failed (training diverged)
EXIT_INTERRUPTED = 130


class CLIError(Exception):
    """An expected problem, reported as ``cconv: error: <message>`` with exit status 2."""


# ------------------------------------------------------------------------------ helpers

def _networks():
    from .networks import NETWORKS
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


def _positive(value):
    n = _whole(value)
    if n <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {n}")
    return n


def _non_negative(value):
    n = _whole(value)
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {n}")
    return n


def _threads(value):
    n = _whole(value)
    if n <= 0 and n != -1:
        raise argparse.ArgumentTypeError(f"must be > 0, or -1 for all CPUs, got {n}")
    return n


def _positive_float(value):
    try:
        v = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {value!r}") from None
    if not v > 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {value}")
    return v


def _fmt_seconds(s):
    if s < 60:
        return f"{s:.1f} s"
    m, s = divmod(int(round(s)), 60)
    return f"{m}m{s:02d}s" if m < 60 else f"{m // 60}h{m % 60:02d}m{s:02d}s"


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
    from ._run import load_data
    from .datasets import DatasetError, DownloadError
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
    from ._run import _check_writable_dir
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
    from .io.npz import load_npz
    from .networks import ParamsFileError, get_network, load_network
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
        with open(p, "rb") as f:
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
        with open(Path(params).parent / "summary.json", encoding="utf-8") as f:
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
    from ._run import DATASETS
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
    from .io.npz import atomic_write
    text = (json.dumps(obj, indent=1) + "\n").encode("utf-8")
    atomic_write(path, lambda f: f.write(text))


# ------------------------------------------------------------------------------ train

def _resume_command(argv, args, out):
    """The command line that continues an interrupted run."""
    words = ["cconv"] + list(argv)
    if args.out is None:
        words += ["--out", str(out)]
    if not args.resume:
        words.append("--resume")
    return shlex.join(words)


def cmd_train(args, argv):
    import numpy as np

    from . import _config
    from .networks import get_network
    from .optimizer import OPTIMIZERS
    from .trainer import Trainer, TrainingDiverged
    from .visualize import learning_curves
    from ._run import default_run_dir

    t_start = time.perf_counter()
    if args.resume and args.out is None:
        raise CLIError("--resume needs --out: the folder of the run to continue")
    out = Path(args.out) if args.out is not None else default_run_dir(args.net, args.dataset)
    if args.resume and not (out / "checkpoint" / "checkpoint.npz").is_file():
        raise CLIError(f"nothing to resume: no checkpoint at "
                       f"'{out / 'checkpoint' / 'checkpoint.npz'}'")
    if args.threads is not None:
        _config.set_num_threads(args.threads)
    # The data first: a run that cannot start leaves no (empty) output folder behind.
    (x_train, t_train), (x_test, t_test) = _load_data(
        args, args.dtype, train_size=args.train_size, test_size=args.test_size)
    _writable_dir(out)

    network = get_network(args.net, dtype=args.dtype, rng=args.seed,
                          input_dim=x_train.shape[1:])
    init_path = out / "params_init.npz"
    if not (args.resume and init_path.is_file()):
        network.save_params(init_path)
    n_params = sum(p.size for p in network.params.values())
    threads = _config.get_num_threads()
    print(f"{type(network).__name__} ({n_params:,} parameters, {args.dtype}) on "
          f"{len(x_train):,} {_dataset_title(args.dataset)} training images, "
          f"{len(x_test):,} test images")
    schedule = " (cosine schedule)" if args.lr_schedule == "cosine" else ""
    print(f"{OPTIMIZERS[args.optimizer].__name__} lr {args.lr:g}{schedule}, "
          f"{args.epochs} epoch{'s' if args.epochs != 1 else ''}"
          f" of batch {args.batch_size}, "
          f"seed {args.seed}, {threads} thread{'s' if threads != 1 else ''}; "
          f"output in {out}")

    try:
        trainer = Trainer(network, x_train, t_train, x_test, t_test,
                          epochs=args.epochs, mini_batch_size=args.batch_size,
                          optimizer=args.optimizer, optimizer_param={"lr": args.lr},
                          evaluate_sample_num_per_epoch=args.eval_samples or None,
                          verbose=True, seed=args.seed, progress=not args.no_progress,
                          checkpoint_dir=out / "checkpoint", resume=args.resume,
                          log_file=out / "log.jsonl", lr_schedule=args.lr_schedule)
    except ValueError as exc:   # a checkpoint of another run (sizes, network, optimizer)
        raise CLIError(str(exc)) from None
    try:
        trainer.train()
    except KeyboardInterrupt:
        print(f"\ncconv: interrupted. Continue with:\n  {_resume_command(argv, args, out)}",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    except TrainingDiverged as exc:   # the Trainer has printed the details
        print(f"cconv: error: training diverged at step {exc.step} (epoch {exc.epoch}); "
              f"try a smaller --lr (this run: {args.lr:g})", file=sys.stderr)
        return EXIT_FAILED

    files = {"params": "params.npz", "params_init": "params_init.npz",
             "history": "history.json", "curves": "curves.png", "summary": "summary.json",
             "checkpoint": "checkpoint/checkpoint.npz", "log": "log.jsonl"}
    network.save_params(out / files["params"])
    trainer.save_history(out / files["history"])
    acc = trainer.final_test_acc
    learning_curves(trainer, path=out / files["curves"],
                    title=f"{type(network).__name__} on {_dataset_title(args.dataset)}")
    train_seconds = float(sum(trainer.epoch_times))
    images = trainer.train_size * len(trainer.epoch_times)
    ips = images / train_seconds if train_seconds > 0 else None
    cfg = _config.config()
    summary = {
        "network": type(network).__name__, "net": args.net, "dataset": args.dataset,
        "final_test_acc": acc,
        "test_correct": int(round(acc * len(x_test))), "test_size": len(x_test),
        "train_size": len(x_train), "epochs_done": trainer.current_epoch,
        "steps_done": trainer.current_iter,
        "train_seconds": train_seconds, "images_per_second": ips,
        "wall_seconds": time.perf_counter() - t_start,
        "resumed_from": trainer.resumed_from,
        "dtype": np.dtype(args.dtype).name, "threads": threads,
        "openmp_compiled": cfg["openmp_compiled"], "available_cpus": cfg["available_cpus"],
        "blas": cfg["blas"], "cconv": cfg["cconv"], "numpy": cfg["numpy"],
        "python": cfg["python"], "platform": cfg["platform"],
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                 if k not in ("func",)},
        "command": shlex.join(["cconv"] + list(argv)),
        "files": files,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    _write_json(out / files["summary"], summary)

    print(f"\ndone: {type(network).__name__} on {_dataset_title(args.dataset)}, "
          f"{trainer.current_epoch} epoch{'s' if trainer.current_epoch != 1 else ''}")
    print(f"  test accuracy  {acc:.4f} ({summary['test_correct']}/{len(x_test)})")
    speed = f", {ips:,.0f} img/s" if ips else ""
    print(f"  training       {_fmt_seconds(train_seconds)} in all{speed} ({summary['dtype']}, "
          f"{threads} thread{'s' if threads != 1 else ''}, OpenMP "
          f"{'on' if cfg['openmp_compiled'] else 'off'})")
    print(f"  wall time      {_fmt_seconds(summary['wall_seconds'])}")
    print(f"  files in {out}: params.npz params_init.npz history.json curves.png "
          f"summary.json")
    return 0


# ------------------------------------------------------------------------------ evaluate

def _confusion_text(cm, names):
    k = len(cm)
    row_w = max(len(f"{i} {n}") for i, n in enumerate(names)) if names else 2
    col_w = max(5, len(str(int(cm.max()))) + 1)
    lines = [" " * row_w + "".join(f"{j:>{col_w}}" for j in range(k))]
    for i in range(k):
        label = f"{i} {names[i]}" if names[i] != str(i) else str(i)
        lines.append(f"{label:<{row_w}}" + "".join(f"{int(v):>{col_w}}" for v in cm[i]))
    return "\n".join(lines)


def cmd_evaluate(args, argv):
    from ._run import class_names
    from .visualize import confusion_matrix, plot_confusion_matrix

    if args.confusion is not None:
        _check_out_file(args.confusion, "--confusion")
    network = _load_params(args.params, args.net)
    args.dataset = _infer_dataset(args)
    _, (x_test, t_test) = _load_data(args, network.dtype, test_size=args.test_size)
    pred = network.predict_labels(x_test)
    n, correct = len(t_test), int((pred == t_test).sum())
    names = class_names(args.dataset)
    cm = confusion_matrix(t_test, pred, n_classes=len(names))
    title = _dataset_title(args.dataset)
    where = (f"the {title} test set ({n:,} images)" if args.test_size is None
             else f"the first {n:,} images of the {title} test set")
    print(f"{type(network).__name__} ({network.dtype.name}) from {args.params} on {where}")
    print(f"test accuracy {correct / n:.4f} ({correct}/{n})")
    print("\nper-class accuracy:")
    w = max(len(s) for s in names) + 3
    print(f"  {'class':<{w}} {'images':>7} {'correct':>8} {'accuracy':>9}")
    for i, name in enumerate(names):
        total, right = int(cm[i].sum()), int(cm[i, i])
        acc = f"{right / total:.4f}" if total else "-"
        label = f"{i} {name}" if name != str(i) else name
        print(f"  {label:<{w}} {total:>7} {right:>8} {acc:>9}")
    print("\nconfusion matrix (rows: true class, columns: predicted class):")
    print(_confusion_text(cm, names))
    if args.confusion is not None:
        _save_figure(lambda **kw: plot_confusion_matrix(
            cm, None if args.dataset == "mnist" else names, **kw), args.confusion)
    return 0


# ------------------------------------------------------------------------------ show

def cmd_show_filters(args, argv):
    from .visualize import filter_show, filters_before_after

    _check_out_file(args.out)
    network = _load_params(args.params, args.net)
    # layers with filters: a first parameter of (FN, C, FH, FW) weights
    convs = _layer_names(network, lambda layer: bool(layer.param_names) and getattr(
        getattr(layer, layer.param_names[0]), "ndim", 0) == 4)
    if args.layer not in convs:
        raise CLIError(f"{type(network).__name__} has no convolution layer {args.layer!r}; "
                       f"its convolutions are {', '.join(convs)}")
    key = network.layer_param_keys(args.layer)[0]
    after = network.params[key]
    if args.before is None:
        _save_figure(lambda **kw: filter_show(
            after, title=f"{type(network).__name__} {args.layer} filters ({key})", **kw),
            args.out)
        return 0
    from .networks import ParamsFileError
    cls = type(network)
    before_net = cls(dtype=network.dtype, **network.config)   # as load_network rebuilds it
    if not Path(args.before).is_file():
        raise CLIError(f"no params file at '{args.before}' (--before)")
    try:
        before_net.load_params(args.before, cast=True)
    except ParamsFileError as exc:
        raise CLIError(f"--before: {exc}") from None
    _save_figure(lambda **kw: filters_before_after(
        before_net.params[key], after,
        title=f"{cls.__name__} {args.layer} filters ({key}) before and after training",
        **kw), args.out)
    return 0


def cmd_show_features(args, argv):
    from ._run import class_names, image_input
    from .visualize import feature_maps

    _check_out_file(args.out)
    network = _load_params(args.params, args.net)
    if args.layer not in network.layers:
        raise CLIError(f"{type(network).__name__} has no layer {args.layer!r}; its layers "
                       f"are {', '.join(network.layers)}")
    input_dim = tuple(network.config.get("input_dim", (1, 28, 28)))
    if args.image is not None:
        try:
            x = image_input(args.image, input_dim, invert={"auto": "auto", "yes": True,
                                                           "no": False}[args.invert],
                            dtype=network.dtype)
        except (OSError, ValueError) as exc:
            raise CLIError(f"--image: {exc}") from None
        what = f"'{args.image}'"
    else:
        args.dataset = _infer_dataset(args)
        _, (x_test, t_test) = _load_data(args, network.dtype)
        if not 0 <= args.index < len(x_test):
            raise CLIError(f"--index {args.index} is outside the test set (0..{len(x_test) - 1})")
        x = x_test[args.index:args.index + 1]
        label = class_names(args.dataset)[int(t_test[args.index])]
        what = f"{_dataset_title(args.dataset)} test image {args.index} (label {label})"
    maps = network.forward_until(x, args.layer)
    if maps.ndim != 4:
        raise CLIError(f"layer {args.layer!r} outputs shape {maps.shape}, not feature maps; "
                       f"choose one of {', '.join(_spatial_layers(network, x))}")
    pred = int(network.predict(x).argmax())
    _save_figure(lambda **kw: feature_maps(
        maps[0], title=f"{args.layer} of {type(network).__name__} on {what}, "
                       f"predicted {pred}", **kw), args.out)
    return 0


def _spatial_layers(network, x):
    """Names of the layers whose output is (N, C, H, W) for input x."""
    names = []
    for name in network.layers:
        if network.forward_until(x, name).ndim == 4:
            names.append(name)
        else:
            break
    return names


def cmd_show_misclassified(args, argv):
    from ._run import class_names
    from .visualize import misclassified

    _check_out_file(args.out)
    network = _load_params(args.params, args.net)
    args.dataset = _infer_dataset(args)
    _, (x_test, t_test) = _load_data(args, network.dtype, test_size=args.test_size)
    pred = network.predict_labels(x_test)
    wrong = int((pred != t_test).sum())
    names = None if args.dataset == "mnist" else class_names(args.dataset)
    print(f"{wrong} of {len(t_test)} {_dataset_title(args.dataset)} test images "
          f"misclassified ({100 * wrong / len(t_test):.2f}% error)")
    _save_figure(lambda **kw: misclassified(x_test, t_test, pred, max_images=args.max,
                                            class_names=names, **kw), args.out)
    return 0


def cmd_show_curves(args, argv):
    from .visualize import learning_curves

    _check_out_file(args.out)
    if not Path(args.history).is_file():
        raise CLIError(f"no history file at '{args.history}'")
    try:
        _save_figure(lambda **kw: learning_curves(args.history, **kw), args.out)
    except (KeyError, ValueError, TypeError) as exc:
        raise CLIError(f"{args.history}: not a training history ({exc})") from None
    return 0


def cmd_show_all(args, argv):
    """All four pictures of a `cconv train` run folder, in one go."""
    import argparse

    run = Path(args.run)
    params = run / "params.npz"
    if not params.is_file():
        raise CLIError(f"no params.npz in '{run}' (pass the --out folder of `cconv train`)")
    out = Path(args.out) if args.out is not None else run
    _writable_dir(out)
    common = dict(params=str(params), net=None, dataset=args.dataset,
                  data_dir=args.data_dir, download=args.download)
    before = run / "params_init.npz"
    jobs = [
        (cmd_show_filters, dict(common, before=str(before) if before.is_file() else None,
                                layer="Conv1", out=str(out / "filters.png"))),
        (cmd_show_features, dict(common, image=None, index=args.index, invert="auto",
                                 layer="Conv1", out=str(out / "features.png"))),
        (cmd_show_misclassified, dict(common, max=20, test_size=None,
                                      out=str(out / "misclassified.png"))),
    ]
    if (run / "history.json").is_file():
        jobs.append((cmd_show_curves, dict(history=str(run / "history.json"),
                                           out=str(out / "curves.png"))))
    for fn, kw in jobs:
        fn(argparse.Namespace(**kw), argv)
    return 0


# ------------------------------------------------------------------------------ bench, info

def cmd_bench(args, argv):
    from . import bench

    results = {}
    status = 0
    if args.json is not None:
        _writable_dir(Path(args.json).parent if str(Path(args.json).parent) else ".")
    kw = {} if args.repeat is None else {"repeat": args.repeat}
    if args.what in ("kernels", "all"):
        results["kernels"] = bench.bench_kernels(**kw)
    if args.what in ("train", "all"):
        fn = getattr(bench, "bench_train", None)
        if fn is None:
            print("cconv bench train: not available yet (cconv.bench has no bench_train)",
                  file=sys.stderr)
            status = EXIT_FAILED if args.what == "train" else 0
        else:
            accepted = inspect.signature(fn).parameters
            results["train"] = fn(**{k: v for k, v in kw.items() if k in accepted})
    if args.json is not None and results:
        _write_json(args.json, results)
        print(f"wrote {args.json}")
    return status


def cmd_info(args, argv):
    from ._config import show_config
    from .datasets import DatasetError, fetch
    show_config()
    for name in ("mnist", "fashion-mnist"):
        try:
            paths = fetch(name, args.data_dir, download=False)
            where = f"found in {Path(paths['train_img']).parent}"
        except DatasetError:
            where = "not found (cconv download --dataset " + name + ")"
        print(f"{_dataset_title(name) + ':':<17}{where}")
    return 0


def cmd_download(args, argv):
    from .datasets import DownloadError, fetch
    try:  # a fresh copy: MNIST's bundled one is not what this command is for
        paths = fetch(args.dataset, args.data_dir, download=True, verify=True, bundled=False)
    except DownloadError as exc:
        raise CLIError(_cli_words(str(exc))) from None
    print(f"{_dataset_title(args.dataset)} files (checksums verified):")
    for key in ("train_img", "train_label", "test_img", "test_label"):
        print(f"  {paths[key]}")
    return 0


# ------------------------------------------------------------------------------ parser

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
    from ._run import DATASETS
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


def build_parser():
    """The ``argparse`` parser of the ``cconv`` command."""
    from . import __version__
    from .optimizer import OPTIMIZERS

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

    # -- train
    p = sub.add_parser(
        "train", formatter_class=_Formatter, help="train a network and save everything",
        description="Train a network with the book's Trainer, then write into OUT:\n"
                    "  params.npz params_init.npz history.json curves.png summary.json\n"
                    "  checkpoint/checkpoint.npz (every epoch) log.jsonl\n"
                    "Ctrl-C saves a checkpoint; --resume --out OUT continues it and ends "
                    "with the same\nparameters as an uninterrupted run.\n\nnetworks:\n"
                    + net_lines)
    p.add_argument("net", type=_net_name, metavar="NET",
                   help=f"network to train: {', '.join(nets)} (or a class name)")
    _data_options(p)
    p.add_argument("--epochs", type=_positive, default=20, metavar="N", help="epochs to train")
    p.add_argument("--batch-size", type=_positive, default=100, metavar="N", help="mini-batch size")
    p.add_argument("--optimizer", type=str.lower, choices=list(OPTIMIZERS), default="adam",
                   help="the book's optimizers")
    p.add_argument("--lr", type=_positive_float, default=0.001, help="learning rate")
    p.add_argument("--lr-schedule", choices=("constant", "cosine"), default="constant",
                   help="constant (the book), or cosine annealing from --lr to 0 over the "
                        "run")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                   help="float32 is the fast path; float64 is the book's")
    p.add_argument("--threads", type=_threads, metavar="N",
                   help="OpenMP threads of the kernels (-1: all CPUs; default "
                        "$OMP_NUM_THREADS or all CPUs)")
    p.add_argument("--seed", type=int, default=0, metavar="N",
                   help="seeds the initial weights, batch order and dropout")
    p.add_argument("--out", metavar="DIR",
                   help="output folder (default runs/<net>-<dataset>-<timestamp>)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its checkpoint (pass the same "
                        "options; --epochs may be raised)")
    p.add_argument("--train-size", type=_positive, metavar="N",
                   help="use the first N training images (default all)")
    p.add_argument("--test-size", type=_positive, metavar="N",
                   help="use the first N test images (default all 10000; quick runs)")
    p.add_argument("--eval-samples", type=_non_negative, default=1000, metavar="N",
                   help="per-epoch accuracy on the first N train and test images (0: all); "
                        "the final accuracy always uses the whole test set")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar (one line per epoch only)")
    p.set_defaults(func=cmd_train)

    # -- evaluate
    p = sub.add_parser(
        "evaluate", formatter_class=_Formatter, help="test accuracy, per class, confusion",
        description="Rebuild the network saved in PARAMS and measure it on the test set:\n"
                    "accuracy, accuracy per class and the confusion matrix.")
    _params_options(p)
    _data_options(p, None, "the dataset (default: the one named in summary.json beside "
                           "PARAMS, else mnist)")
    _test_size_option(p)
    p.add_argument("--confusion", metavar="PNG",
                   help="also draw the confusion matrix into this figure")
    p.set_defaults(func=cmd_evaluate)

    # -- show
    p = sub.add_parser("show", help="draw filters, feature maps, mistakes, learning curves",
                       description="Draw the book's chapter 7-8 pictures into a figure file.")
    show = p.add_subparsers(dest="what", metavar="WHAT", required=True)

    q = show.add_parser(
        "filters", formatter_class=_Formatter, help="a convolution's filters",
        description="The filters of a convolution layer (book ch. 7, visualize_filter.py); "
                    "with --before,\nthe same layer before and after training side by side.")
    _params_options(q)
    q.add_argument("--before", metavar="PARAMS0",
                   help="params before training (cconv train writes params_init.npz)")
    q.add_argument("--layer", default="Conv1", help="convolution layer")
    _png_out(q)
    q.set_defaults(func=cmd_show_filters)

    q = show.add_parser(
        "features", formatter_class=_Formatter, help="a layer's feature maps for one image",
        description="The output of one layer for one image (book ch. 7, apply_filter.py): a "
                    "test image\n(--index) or any picture file (--image), converted to "
                    "grayscale and resized to the\nnetwork's input size.")
    _params_options(q)
    src = q.add_mutually_exclusive_group()
    src.add_argument("--image", metavar="FILE", help="a picture (PNG, JPEG, ...)")
    src.add_argument("--index", type=_non_negative, default=0, metavar="I",
                     help="the I-th test image")
    q.add_argument("--invert", choices=("auto", "yes", "no"), default="auto",
                   help="for --image: make a dark digit on white light on dark, like MNIST "
                        "(auto: if the picture is mostly light)")
    q.add_argument("--layer", default="Conv1", help="layer whose output is shown")
    _data_options(q, None, "dataset of --index (default: as for evaluate)")
    _png_out(q)
    q.set_defaults(func=cmd_show_features)

    q = show.add_parser(
        "misclassified", formatter_class=_Formatter, help="test images the network gets wrong",
        description="The test images the network classifies wrongly, with true and "
                    "predicted labels\n(book ch. 8, misclassified_mnist.py).")
    _params_options(q)
    q.add_argument("--max", type=_positive, default=20, metavar="N", help="images to show")
    _test_size_option(q)
    _data_options(q, None, "the dataset (default: as for evaluate)")
    _png_out(q)
    q.set_defaults(func=cmd_show_misclassified)

    q = show.add_parser(
        "curves", formatter_class=_Formatter, help="accuracy and loss of a training run",
        description="Accuracy per epoch and loss per iteration from a history.json.")
    q.add_argument("history", metavar="HISTORY.json", help="history.json of `cconv train`")
    _png_out(q)
    q.set_defaults(func=cmd_show_curves)

    q = show.add_parser(
        "all", formatter_class=_Formatter, help="all of the above for a training run",
        description="Filters before/after, feature maps of a test image, misclassified "
                    "test images and\nlearning curves of a `cconv train --out RUN` folder, "
                    "written as RUN/filters.png,\nfeatures.png, misclassified.png, curves.png "
                    "(or into --out DIR).")
    q.add_argument("run", metavar="RUN", help="the --out folder of `cconv train`")
    q.add_argument("--index", type=_non_negative, default=0, metavar="I",
                   help="test image of the feature maps")
    _data_options(q, None, "the dataset (default: the run's)")
    q.add_argument("--out", metavar="DIR", help="folder for the pictures (default: RUN)")
    q.set_defaults(func=cmd_show_all)

    # -- bench
    p = sub.add_parser(
        "bench", formatter_class=_Formatter, help="speed against the book's NumPy code",
        description="Benchmarks printed as ratios measured side by side in one run:\n"
                    "  kernels  im2col/col2im/pooling vs the book's NumPy, 1 and all threads\n"
                    "  train    training steps of the networks\n  all      both")
    p.add_argument("what", nargs="?", choices=("kernels", "train", "all"), default="kernels",
                   help="which benchmark")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    p.add_argument("--repeat", type=_positive, metavar="N",
                   help="timed repetitions of each case (default: the benchmark's)")
    p.set_defaults(func=cmd_bench)

    # -- info
    p = sub.add_parser("info", help="build and runtime configuration",
                       description="Version, OpenMP, threads, BLAS, and where the data is.")
    p.add_argument("--data-dir", metavar="DIR", help="also look for the datasets here")
    p.set_defaults(func=cmd_info)

    # -- download
    p = sub.add_parser(
        "download", formatter_class=_Formatter, help="download a dataset",
        description="Download the dataset's four files (checked against their SHA-256) "
                    "into --data-dir,\nelse $CCONV_DATA_DIR, else ~/.cache/cconv; files "
                    "already there are verified.")
    p.add_argument("--dataset", choices=("mnist", "fashion-mnist"), default="mnist",
                   help="the dataset")
    p.add_argument("--data-dir", metavar="DIR", help="where to put the files")
    p.set_defaults(func=cmd_download)

    # -- predict
    _add_predict(sub)
    return parser


# ------------------------------------------------------------------------------ predict

_PREDICT_DESCRIPTION = """\
Classify pictures of digits with a trained network: for each IMAGE, print the class
and the three most probable classes with their probabilities.

Each picture is prepared the way MNIST's digits were made (cconv.preprocess.to_mnist):
converted to grayscale; inverted if its background (the median of its border) is light,
so that a dark digit drawn on white paper becomes a light digit on black; cropped to the
digit, thin strokes thickened, fitted into a 20x20 box keeping its aspect ratio, and
placed in the 28x28 field with its centre of mass at the centre. --show draws each
picture as the network sees it beside its class probabilities."""


def _add_predict(sub):
    p = sub.add_parser("predict", formatter_class=_Formatter,
                       help="the class of your own digit pictures",
                       description=_PREDICT_DESCRIPTION)
    _params_options(p)
    p.add_argument("images", nargs="+", metavar="IMAGE",
                   help="picture files (PNG, JPEG, ...): one digit each")
    p.add_argument("--invert", choices=("auto", "yes", "no"), default="auto",
                   help="invert the pictures; auto: when the background is light")
    p.add_argument("--top", type=int, default=3, metavar="K",
                   help="how many of the most probable classes to print")
    p.add_argument("--show", metavar="PNG",
                   help="also draw the pictures as the network sees them, with the class "
                        "probabilities, into this figure (.png, .svg or .pdf)")
    p.set_defaults(func=cmd_predict)
    return p


def cmd_predict(args, argv):
    from ._run import class_names
    from .predict import plot_prediction

    if not 1 <= args.top <= 1000:
        raise CLIError(f"--top must be a positive number, got {args.top}")
    if args.show is not None:
        _check_out_file(args.show, "--show")
    for image in args.images:
        p = Path(image)
        if not p.is_file():
            raise CLIError(f"no image file at '{p}'" + (" (it is a folder)"
                                                         if p.is_dir() else ""))
    network = _load_params(args.params, args.net)
    dataset = _run_summary(args.params).get("dataset")
    names = class_names(dataset) if dataset in ("mnist", "fashion-mnist") else None
    n_classes = int(network.config.get("output_size", 10))
    if names is not None and len(names) != n_classes:
        names = None
    invert = {"auto": None, "yes": True, "no": False}[args.invert]
    results = []
    for image in args.images:
        try:
            r = network.predict_image(image, invert=invert, class_names=names)
        except (OSError, ValueError) as exc:
            raise CLIError(str(exc) if str(image) in str(exc) else f"{image}: {exc}") from None
        print(r.format(min(args.top, r.probabilities.size)), flush=True)
        results.append(r)
    if args.show is not None:
        _save_figure(lambda **kw: plot_prediction(results, top=min(args.top, 10), **kw),
                     args.show)
    return 0


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
        from .datasets import DatasetError
        from .networks import ParamsFileError
        try:
            return args.func(args, argv) or 0
        except (CLIError, DatasetError, ParamsFileError) as exc:
            print(f"cconv: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except BrokenPipeError:
            raise
        except OSError as exc:
            print(f"cconv: error: {exc.strerror or exc}"
                  + (f": '{exc.filename}'" if exc.filename else ""), file=sys.stderr)
            return EXIT_USAGE
    except KeyboardInterrupt:
        print("\ncconv: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `cconv evaluate ... | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
