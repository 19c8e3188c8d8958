"""``cconv evaluate``: test accuracy, per class, and the confusion matrix."""
from ._common import (_check_out_file, _data_options, _dataset_title, _Formatter,
                      _infer_dataset, _load_data, _load_params, _params_options,
                      _save_figure, _test_size_option)


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
    from ._data import class_names
    from ..visualize import confusion_matrix, plot_confusion_matrix

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


def add_parser(sub, nets, net_lines):
    """Add this subcommand to the ``cconv`` parser."""
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
