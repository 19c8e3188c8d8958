"""Book ch. 8, train_deepnet.py: train the DeepConvNet on MNIST (about 99.4% accuracy).

The book's settings: Adam with lr 0.001, batch 100, 20 epochs, per-epoch accuracy on
1000 images. Twenty epochs take a while on a CPU; try --epochs 1 --train-size 5000 first.
Writes into --out: params.npz (the book writes deep_convnet_params.pkl), history.json and
curves.png. misclassified_mnist.py reads params.npz.
"""
import argparse
from pathlib import Path

from cconv.datasets import load_mnist
from cconv.deep_convnet import DeepConvNet
from cconv.trainer import Trainer
from cconv.visualize import learning_curves

parser = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--epochs", type=int, default=20, help="default: 20")
parser.add_argument("--train-size", type=int, help="use the first N training images")
parser.add_argument("--test-size", type=int, help="use the first N test images")
parser.add_argument("--dtype", default="float32", choices=["float32", "float64"],
                    help="float64 is the book's; default: float32 (faster)")
parser.add_argument("--seed", type=int, default=0, help="default: 0")
parser.add_argument("--data-dir", help="folder with the MNIST files (default: "
                    "$CCONV_DATA_DIR, ~/.cache/cconv, else the copy bundled with cconv)")
parser.add_argument("--out", default="runs/deepnet", help="default: runs/deepnet")
parser.add_argument("--resume", action="store_true",
                    help="continue from the checkpoint in --out (after Ctrl-C)")
parser.add_argument("--show", action="store_true", help="also open the curves in a window")
args = parser.parse_args()

(x_train, t_train), (x_test, t_test) = load_mnist(flatten=False, data_dir=args.data_dir,
                                                  dtype=args.dtype)
x_train, t_train = x_train[:args.train_size], t_train[:args.train_size]
x_test, t_test = x_test[:args.test_size], t_test[:args.test_size]

network = DeepConvNet(dtype=args.dtype, rng=args.seed)
out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)

# a checkpoint at every epoch's end (and on Ctrl-C); --resume continues from it
trainer = Trainer(network, x_train, t_train, x_test, t_test,
                  epochs=args.epochs, mini_batch_size=100,
                  optimizer='Adam', optimizer_param={'lr': 0.001},
                  evaluate_sample_num_per_epoch=1000, seed=args.seed,
                  checkpoint_dir=out / "checkpoint", resume=args.resume)
trainer.train()

network.save_params(out / "params.npz")
trainer.save_history(out / "history.json")
learning_curves(trainer, path=out / "curves.png", show=args.show)
print(f"Saved the network parameters, history and learning curves in {out}/")
