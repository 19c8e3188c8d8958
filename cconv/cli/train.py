"""``cconv train``: train a network and write the run folder."""
import shlex
import uuid
import sys
import time
from pathlib import Path

from ..optimizer import OPTIMIZERS
from ..training.progress import format_seconds

from ._common import (EXIT_FAILED, EXIT_INTERRUPTED, CLIError, _data_options,
                      _dataset_title, _Formatter, _load_data, _net_name, _non_negative,
                      _positive, _positive_float, _threads, _write_json, _writable_dir,
                      default_run_dir, run_files, run_id_of)


def _resume_command(argv, args, out):
    """The command line that continues an interrupted run."""
    words = ["cconv"] + list(argv)
    if args.out is None:
        words += ["--out", str(out)]
    if not args.resume:
        words.append("--resume")
    return shlex.join(words)


def _started_schedule(out):
    """The learning-rate schedule of the run whose checkpoint ``out`` holds: 'constant'
    or 'cosine' ('cosine' when the checkpoint cannot be read: the Trainer then says
    what is wrong with it)."""
    from ..training import checkpoint
    try:
        meta = checkpoint.read(out / "checkpoint" / "checkpoint.npz").meta
    except Exception:
        return "cosine"
    return meta.get("lr_schedule") or "constant"


def cmd_train(args, argv):
    import numpy as np

    from .. import _config
    from ..networks import get_network
    from ..optimizer import OPTIMIZERS
    from ..trainer import Trainer, TrainingDiverged
    from ..visualize import learning_curves

    t_start = time.perf_counter()
    if args.resume and args.out is None:
        raise CLIError("--resume needs --out: the folder of the run to continue")
    out = Path(args.out) if args.out is not None else default_run_dir(args.net, args.dataset)
    if args.resume and args.overwrite:
        raise CLIError("--resume continues the run in --out, --overwrite replaces it: "
                       "pass one of them")
    if args.resume and not (out / "checkpoint" / "checkpoint.npz").is_file():
        raise CLIError(f"nothing to resume: no checkpoint at "
                       f"'{out / 'checkpoint' / 'checkpoint.npz'}'")
    if args.lr_schedule is None:
        args.lr_schedule = _started_schedule(out) if args.resume else "cosine"
    held = run_files(out) if out.is_dir() else []
    if held and not (args.resume or args.overwrite):
        raise CLIError(f"--out '{out}' already holds a run ({', '.join(held)}); pass "
                       f"--resume to continue it, --overwrite to replace it, or another "
                       f"--out")
    if args.threads is not None:
        _config.set_num_threads(args.threads)
    # The data first: a run that cannot start leaves no (empty) output folder behind.
    (x_train, t_train), (x_test, t_test) = _load_data(
        args, args.dtype, train_size=args.train_size, test_size=args.test_size)
    _writable_dir(out)
    if args.overwrite:   # the old run's files go first: a folder never mixes two runs
        for name in held:
            if (out / name).is_file() or (out / name).is_symlink():
                (out / name).unlink()

    network = get_network(args.net, dtype=args.dtype, rng=args.seed,
                          input_dim=x_train.shape[1:])
    init_path = out / "params_init.npz"
    # every file of the run records its id; `cconv show all` checks they agree
    network.run_id = (run_id_of(init_path) if args.resume and init_path.is_file()
                      else uuid.uuid4().hex)
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
    _write_json(out / files["history"], trainer.history())
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
        "run_id": network.run_id,
    }
    _write_json(out / files["summary"], summary)

    print(f"\ndone: {type(network).__name__} on {_dataset_title(args.dataset)}, "
          f"{trainer.current_epoch} epoch{'s' if trainer.current_epoch != 1 else ''}")
    print(f"  test accuracy  {acc:.4f} ({summary['test_correct']}/{len(x_test)})")
    speed = f", {ips:,.0f} img/s" if ips else ""
    print(f"  training       {format_seconds(train_seconds)} in all{speed} ({summary['dtype']}, "
          f"{threads} thread{'s' if threads != 1 else ''}, OpenMP "
          f"{'on' if cfg['openmp_compiled'] else 'off'})")
    print(f"  wall time      {format_seconds(summary['wall_seconds'])}")
    print(f"  files in {out}: params.npz params_init.npz history.json curves.png "
          f"summary.json")
    return 0


def add_parser(sub, nets, net_lines):
    """Add this subcommand to the ``cconv`` parser."""
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
    p.add_argument("--lr-schedule", choices=("constant", "cosine"), default=None,
                   help="cosine annealing from --lr to 0 over the run (default; --resume "
                        "keeps the schedule the run was started with), or constant, the "
                        "book's")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                   help="float32 is the fast path; float64 is the book's")
    p.add_argument("--threads", type=_threads, metavar="N",
                   help="OpenMP threads of the kernels (-1: all CPUs; default "
                        "$OMP_NUM_THREADS or all CPUs)")
    p.add_argument("--seed", type=_non_negative, default=0, metavar="N",
                   help="seeds the initial weights, batch order and dropout")
    p.add_argument("--out", metavar="DIR",
                   help="output folder (default runs/<net>-<dataset>-<timestamp>)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the run that --out already holds (its files are deleted "
                        "first); without it, and without --resume, such an --out is refused")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its checkpoint (pass the same "
                        "options; --epochs may be raised: a cosine rate then follows "
                        "the longer run's curve from the current step on)")
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
