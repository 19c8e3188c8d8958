"""``cconv bench``: the kernel, convolution-layer and training-step benchmarks."""
import inspect
import sys
from pathlib import Path

from ._common import (_Formatter, _positive, _writable_dir, _write_json, EXIT_FAILED)


def cmd_bench(args, argv):
    from .. import bench

    results = {}
    status = 0
    if args.json is not None:
        _writable_dir(Path(args.json).parent if str(Path(args.json).parent) else ".")
    kw = {} if args.repeat is None else {"repeat": args.repeat}
    if args.what in ("kernels", "all"):
        results["kernels"] = bench.bench_kernels(**kw)
    if args.what in ("layers", "all"):
        results["layers"] = bench.bench_layers(**kw)
    if args.what in ("train", "all"):
        fn = getattr(bench, "bench_train", None)
        if fn is None:
            print("cconv bench train: not available yet (cconv.bench has no bench_train)",
                  file=sys.stderr)
            status = EXIT_FAILED if args.what == "train" else 0
        else:
            accepted = inspect.signature(fn).parameters
            results["train"] = fn(**{k: v for k, v in kw.items() if k in accepted})
    if args.what in ("steps", "all"):
        results["steps"] = bench.bench_steps(
            **({} if args.repeat is None else {"steps": args.repeat}))
    if args.json is not None and results:
        _write_json(args.json, results)
        print(f"wrote {args.json}")
    return status


def add_parser(sub, nets, net_lines):
    """Add this subcommand to the ``cconv`` parser."""
    p = sub.add_parser(
        "bench", formatter_class=_Formatter, help="speed against the book's NumPy code",
        description="Benchmarks printed as ratios measured side by side in one run:\n"
                    "  kernels  im2col/col2im/pooling vs the book's NumPy, 1 and all threads\n"
                    "  layers   each convolution layer (forward, dx, dW) per instruction set,\n"
                    "           GFLOP/s and % of the measured FMA peak\n"
                    "  train    training steps of the networks\n"
                    "  steps    where a training step's time goes, layer by layer\n"
                    "  all      all of them")
    p.add_argument("what", nargs="?", choices=("kernels", "layers", "train", "steps", "all"),
                   default="kernels", help="which benchmark")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    p.add_argument("--repeat", type=_positive, metavar="N",
                   help="timed repetitions of each case (default: the benchmark's)")
    p.set_defaults(func=cmd_bench)
