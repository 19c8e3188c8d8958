"""``cconv show hierarchy`` and ``cconv show saliency`` (issue 17): parsers and handlers.

Registered by :func:`add_show_parsers` on the ``show`` subcommand (:mod:`cconv.show`).
"""
from pathlib import Path

from ._common import (CLIError, _check_out_file, _data_options, _dataset_title,
                      _Formatter, _infer_dataset, _load_data, _load_params, _non_negative,
                      _params_options, _positive, _save_figure, _test_size_option)

__all__ = ["add_show_parsers", "cmd_show_hierarchy", "cmd_show_saliency"]


def _default_out(args, name):
    return str(Path(args.params).parent / name) if args.out is None else args.out


def _layer_list(network, text):
    from ..viz.hierarchy import conv_layers
    if text is None:
        layers = conv_layers(network)
        if not layers:
            raise CLIError(f"{type(network).__name__} has no convolution layers; "
                           "name layers with --layers")
        return layers
    layers = [s.strip() for s in text.replace(",", " ").split() if s.strip()]
    if not layers:
        raise CLIError("--layers: no layer names given")
    unknown = [n for n in layers if n not in network.layers]
    if unknown:
        raise CLIError(f"{type(network).__name__} has no layer "
                       f"{', '.join(map(repr, unknown))}; its layers are "
                       f"{', '.join(network.layers)}")
    order = list(network.layers)
    return sorted(dict.fromkeys(layers), key=order.index)


def cmd_show_hierarchy(args, argv):
    from ..viz.hierarchy import hierarchy

    out = _check_out_file(_default_out(args, "hierarchy.png"))
    network = _load_params(args.params, args.net)
    layers = _layer_list(network, args.layers)
    args.dataset = _infer_dataset(args)
    _, (x_test, _) = _load_data(args, network.dtype, test_size=args.test_size)
    print(f"{type(network).__name__}: top {args.k} patches and maximised inputs of "
          f"{', '.join(layers)} over {len(x_test)} {_dataset_title(args.dataset)} "
          "test images")
    _save_figure(lambda **kw: hierarchy(
        network, x_test, layers, k=args.k, n_filters=args.filters, steps=args.steps,
        progress=False if args.no_progress else None, **kw), out)
    return 0


def cmd_show_saliency(args, argv):
    from ..io.images import image_input
    from ..viz.saliency import saliency_figure
    from ._data import class_names

    out = _check_out_file(_default_out(
        args, "saliency.png" if args.index is None else f"saliency-{args.index}.png"))
    network = _load_params(args.params, args.net)
    input_dim = tuple(network.config.get("input_dim", (1, 28, 28)))
    names = None
    if args.image is not None:
        if args.label is not None and args.label >= network.config.get("output_size", 10):
            raise CLIError(f"--label {args.label} is not a class of this network")
        try:
            x = image_input(args.image, input_dim, invert={"auto": "auto", "yes": True,
                                                           "no": False}[args.invert],
                            dtype=network.dtype)[0]
        except (OSError, ValueError) as exc:
            raise CLIError(f"--image: {exc}") from None
        label, what = args.label, f"'{args.image}'"
    else:
        if args.label is not None:
            raise CLIError("--label goes with --image (a test image has its label)")
        args.dataset = _infer_dataset(args)
        _, (x_test, t_test) = _load_data(args, network.dtype)
        if args.dataset != "mnist":
            names = class_names(args.dataset)
        index = args.index
        if index is None:
            pred = network.predict_labels(x_test)
            wrong = (pred != t_test).nonzero()[0]
            index = int(wrong[0]) if len(wrong) else 0
            print(f"test image {index}: the first misclassified one" if len(wrong) else
                  "no test image is misclassified: showing test image 0")
        if not 0 <= index < len(x_test):
            raise CLIError(f"--index {index} is outside the test set "
                           f"(0..{len(x_test) - 1})")
        x, label = x_test[index], int(t_test[index])
        what = f"{_dataset_title(args.dataset)} test image {index}"
    print(f"{type(network).__name__} on {what}")
    _save_figure(lambda **kw: saliency_figure(network, x, label, class_names=names,
                                              **kw), out)
    return 0


def add_show_parsers(show):
    """Add ``hierarchy`` and ``saliency`` to the ``show`` subparsers."""
    q = show.add_parser(
        "hierarchy", formatter_class=_Formatter,
        help="what each layer responds to: top patches, maximised inputs",
        description="Layer by layer, for the filters with the strongest responses: the K "
                    "test-image patches\nthat excite each filter most, cut at its "
                    "receptive field (Zeiler & Fergus), next\nto the input that maximises "
                    "it (gradient ascent from noise). One picture.")
    _params_options(q)
    q.add_argument("--layers", metavar="NAMES",
                   help="comma-separated layer names (default: every convolution), e.g. "
                        "Conv1,Conv3,Conv6 or Affine2 for the classes")
    q.add_argument("--k", type=_positive, default=8, metavar="K",
                   help="top patches per filter")
    q.add_argument("--filters", type=_positive, default=6, metavar="N",
                   help="filters per layer (those with the strongest responses)")
    q.add_argument("--steps", type=_non_negative, default=200, metavar="N",
                   help="gradient-ascent steps of the maximised inputs")
    _test_size_option(q)
    _data_options(q, None, "the dataset (default: as for evaluate)")
    q.add_argument("--no-progress", action="store_true", help="no progress bar")
    q.add_argument("--out", metavar="PNG",
                   help="figure to write (.png, .svg or .pdf; default hierarchy.png beside "
                        "PARAMS)")
    q.set_defaults(func=cmd_show_hierarchy)

    q = show.add_parser(
        "saliency", formatter_class=_Formatter,
        help="why this class: input gradients of the class scores",
        description="For one image, the gradient of the predicted and of the true class "
                    "score with respect\nto the input, and input x gradient, over the digit "
                    "(red: raises the score, blue:\nlowers it). Default: the first "
                    "misclassified test image.")
    _params_options(q)
    src = q.add_mutually_exclusive_group()
    src.add_argument("--index", type=_non_negative, metavar="N", help="the N-th test image")
    src.add_argument("--image", metavar="FILE", help="a picture (PNG, JPEG, ...)")
    q.add_argument("--label", type=_non_negative, metavar="K",
                   help="for --image: its true class (default: compare with the runner-up)")
    q.add_argument("--invert", choices=("auto", "yes", "no"), default="auto",
                   help="for --image: as for `show features`")
    _data_options(q, None, "dataset of --index (default: as for evaluate)")
    q.add_argument("--out", metavar="PNG",
                   help="figure to write (default saliency-N.png beside PARAMS)")
    q.set_defaults(func=cmd_show_saliency)
