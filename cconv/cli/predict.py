"""``cconv predict PARAMS IMAGE... [--show OUT.png]``: the class of your own digits."""
from pathlib import Path

from ._common import (CLIError, _check_out_file, _Formatter, _load_params, _params_options,
                      _run_summary, _save_figure)

_DESCRIPTION = """\
Classify pictures of digits with a trained network: for each IMAGE, print the class
and the three most probable classes with their probabilities.

Each picture is prepared the way MNIST's digits were made (cconv.preprocess.to_mnist):
converted to grayscale; inverted if its background (the median of its border) is light,
so that a dark digit drawn on white paper becomes a light digit on black; cropped to the
digit, thin strokes thickened, fitted into a 20x20 box keeping its aspect ratio, and
placed in the 28x28 field with its centre of mass at the centre. --show draws each
picture as the network sees it beside its class probabilities."""


def cmd_predict(args, argv):
    from ._data import class_names
    from ..predict import plot_prediction

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


def add_parser(sub, nets, net_lines):
    """Add this subcommand to the ``cconv`` parser."""
    p = sub.add_parser("predict", formatter_class=_Formatter,
                       help="the class of your own digit pictures",
                       description=_DESCRIPTION)
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
