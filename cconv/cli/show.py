"""``cconv show``: filters, feature maps, misclassified images, learning curves."""
from pathlib import Path

from ._common import (CLIError, _check_out_file, _data_options, _dataset_title,
                      _Formatter, _infer_dataset, _layer_names, _load_data,
                      _load_params, _non_negative, _params_options, _png_out, _positive,
                      _save_figure, _test_size_option, _writable_dir, RUN_FILES, run_id_of,
                      run_ids_of)


def cmd_show_filters(args, argv):
    from ..visualize import filter_show, filters_before_after

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
    from ..networks import ParamsFileError
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
    from ..io.images import image_input
    from ._data import class_names
    from ..visualize import feature_maps

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
    from ._data import class_names
    from ..visualize import misclassified

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
    from ..visualize import learning_curves

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
    # every file a run wrote records its id; the pictures this command redraws are
    # checked too, since one left from another run would sit beside the new ones
    ids = {name: run_ids_of(run / name) for name in RUN_FILES if (run / name).is_file()}
    if len(set().union(*ids.values())) > 1:
        listed = ", ".join(f"{n} {'+'.join(sorted(i[:8] for i in s)) or '(none)'}"
                           for n, s in ids.items())
        raise CLIError(f"the files in '{run}' come from different runs (run ids: {listed}); "
                       f"train again into an empty --out, or pass the files to `cconv show "
                       f"filters/curves` one by one")
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
    from ..viz._figure import run_id_of_figures

    with run_id_of_figures(run_id_of(params)):   # the pictures record the run they show
        for fn, kw in jobs:
            fn(argparse.Namespace(**kw), argv)
    return 0


def add_parser(sub, nets, net_lines):
    """Add this subcommand to the ``cconv`` parser."""
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

    from .show_hierarchy import add_show_parsers
    add_show_parsers(show)      # hierarchy, saliency (issue 17)
