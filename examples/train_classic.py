"""Book ch. 7, "typical CNNs": train LeNet or AlexNet (scaled to 28x28) on MNIST or
Fashion-MNIST, and compare them with SimpleConvNet/DeepConvNet.

LeNet-5: standardised input, 5x5 convolutions, tanh (or the book's sigmoid),
average-pooling subsampling, 120-84-10 fully connected; like LeCun et al., it is trained
with a decreasing learning rate (cosine annealing; --lr-schedule constant for the book's). AlexNet: five 3x3 convolutions with ReLU, LRN after the first
two, three overlapping max-poolings, two dropout fully connected layers (see the class
docstrings for every change from the originals). Writes params.npz, history.json and
curves.png into --out.

Quick try:  python examples/train_classic.py lenet --epochs 1 --train-size 5000
"""
import argparse
from pathlib import Path

from cconv.datasets import load_fashion_mnist, load_mnist
from cconv.networks import AlexNet, LeNet
from cconv.trainer import Trainer
from cconv.visualize import learning_curves

parser = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("net", choices=["lenet", "alexnet"])
parser.add_argument("--dataset", default="mnist", choices=["mnist", "fashion-mnist"])
parser.add_argument("--activation", default="tanh", choices=["tanh", "sigmoid", "relu"],
                    help="LeNet's activation (the book names sigmoid; default: tanh)")
parser.add_argument("--epochs", type=int, default=10, help="default: 10")
parser.add_argument("--lr-schedule", default="cosine", choices=["constant", "cosine"],
                    help="learning rate over the run (default: cosine, from 0.001 to 0)")
parser.add_argument("--train-size", type=int, help="use the first N training images")
parser.add_argument("--test-size", type=int, help="use the first N test images")
parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
parser.add_argument("--seed", type=int, default=0, help="default: 0")
parser.add_argument("--data-dir", help="folder with the dataset files")
parser.add_argument("--out", help="default: runs/<net>-<dataset>")
args = parser.parse_args()

load = load_mnist if args.dataset == "mnist" else load_fashion_mnist
(x_train, t_train), (x_test, t_test) = load(flatten=False, data_dir=args.data_dir,
                                            dtype=args.dtype)
x_train, t_train = x_train[:args.train_size], t_train[:args.train_size]
x_test, t_test = x_test[:args.test_size], t_test[:args.test_size]

if args.net == "lenet":
    network = LeNet(activation=args.activation, dtype=args.dtype, rng=args.seed)
else:
    network = AlexNet(dtype=args.dtype, rng=args.seed)
print(network)

trainer = Trainer(network, x_train, t_train, x_test, t_test, epochs=args.epochs,
                  mini_batch_size=100, optimizer='Adam', optimizer_param={'lr': 0.001},
                  evaluate_sample_num_per_epoch=1000, seed=args.seed,
                  lr_schedule=args.lr_schedule)
trainer.train()

out = Path(args.out or f"runs/{args.net}-{args.dataset}")
out.mkdir(parents=True, exist_ok=True)
network.save_params(out / "params.npz")
trainer.save_history(out / "history.json")
learning_curves(trainer, path=out / "curves.png")
print(f"test accuracy {trainer.final_test_acc:.4f}; saved params, history and curves in {out}/")
