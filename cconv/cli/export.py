"""``cconv export``: the network of a params file as ONNX, a torch.export program or
safetensors (:mod:`cconv.export`)."""
from pathlib import Path

from ._common import CLIError, _Formatter, _load_params, _params_options, _writable_dir

#: ``--format`` -> the suffix of the default output file
FORMATS = {"onnx": ".onnx", "torch": ".pt2", "safetensors": ".safetensors"}


def cmd_export(args, argv):
    from .. import export
    if args.softmax and args.format != "onnx":
        raise CLIError("--softmax applies to --format onnx only")
    net = _load_params(args.params, args.net)
    out = Path(args.out) if args.out else Path(args.params).with_suffix(FORMATS[args.format])
    if out.is_dir():
        raise CLIError(f"--out '{out}' is a folder; name the file to write")
    _writable_dir(out.parent if str(out.parent) else ".")
    try:
        if args.format == "onnx":
            export.to_onnx(net, out, softmax=args.softmax, dtype=args.dtype)
        elif args.format == "torch":
            export.save_torch(net, out, dtype=args.dtype)
        else:
            export.save_safetensors(net, out, dtype=args.dtype)
    except ImportError as exc:   # onnx or torch missing: the message says what to install
        raise CLIError(str(exc)) from None
    print(f"wrote {out} ({type(net).__name__}, {args.dtype or net.dtype.name}, "
          f"{args.format})")
    return 0


def add_parser(sub, nets, net_lines):
    """Add this subcommand to the ``cconv`` parser."""
    p = sub.add_parser(
        "export", formatter_class=_Formatter,
        help="write a network as ONNX, PyTorch or safetensors",
        description="Rebuild the network saved in PARAMS and write it in another format:\n"
                    "  onnx         an ONNX graph of predict (needs: pip install "
                    "\"cconv[export]\")\n"
                    "  torch        a torch.export program (torch.export.load reads it; "
                    "needs PyTorch)\n"
                    "  safetensors  the weights under PyTorch's names, with the network's "
                    "description\n"
                    "The batch dimension is dynamic.")
    _params_options(p)
    p.add_argument("--format", required=True, choices=list(FORMATS), help="what to write")
    p.add_argument("--out", metavar="PATH",
                   help="file to write (default: PARAMS with the format's suffix, "
                        + ", ".join(FORMATS.values()) + ")")
    p.add_argument("--dtype", choices=("float32", "float64"),
                   help="dtype of the export (default: the params file's)")
    p.add_argument("--softmax", action="store_true",
                   help="onnx: end the graph with a Softmax (probabilities, not scores)")
    p.set_defaults(func=cmd_export)
