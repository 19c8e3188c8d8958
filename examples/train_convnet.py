"""Book ch. 7, train_convnet.py: train a SimpleConvNet on MNIST.

The book's settings: Adam with lr 0.001, batch 100, 20 epochs, per-epoch accuracy on
1000 images. Writes into --out:

  params.npz       the trained parameters (the book writes params.pkl)
  params_init.npz  the parameters before training (visualize_filter.py shows both)
  history.json     losses and accuracies
  curves.png       the learning curves

Quick try:  python examples/train_convnet.py --epochs 1 --train-size 5000
"""
import argparse
from pathlib import Path

from cconv.datasets import load_mnist
from cconv.simple_convnet import SimpleConvNet
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
parser.add_argument("--out", default="runs/convnet", help="default: runs/convnet")
parser.add_argument("--show", action="store_true", help="also open the curves in a window")
args = parser.parse_args()

# images as (N, 1, 28, 28), the shape a CNN takes
(x_train, t_train), (x_test, t_test) = load_mnist(flatten=False, data_dir=args.data_dir,
                                                  dtype=args.dtype)
x_train, t_train = x_train[:args.train_size], t_train[:args.train_size]
x_test, t_test = x_test[:args.test_size], t_test[:args.test_size]

network = SimpleConvNet(input_dim=(1, 28, 28),
                        conv_param={'filter_num': 30, 'filter_size': 5, 'pad': 0, 'stride': 1},
                        hidden_size=100, output_size=10, weight_init_std=0.01,
                        dtype=args.dtype, rng=args.seed)
out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)
network.save_params(out / "params_init.npz")

trainer = Trainer(network, x_train, t_train, x_test, t_test,
                  epochs=args.epochs, mini_batch_size=100,
                  optimizer='Adam', optimizer_param={'lr': 0.001},
                  evaluate_sample_num_per_epoch=1000, seed=args.seed)
trainer.train()

network.save_params(out / "params.npz")
trainer.save_history(out / "history.json")
learning_curves(trainer, path=out / "curves.png", show=args.show)
print(f"Saved the network parameters, history and learning curves in {out}/")
