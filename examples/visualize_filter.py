"""Book ch. 7, visualize_filter.py: the first layer's 30 filters before and after training.

Before training the 5x5 filters are noise; after it, many respond to edges and blobs.
Reads the parameters train_convnet.py wrote (its params.npz, and params_init.npz for
"before"; without that file a freshly initialised SimpleConvNet stands in, as in the book).
"""
import argparse
from pathlib import Path

from cconv.simple_convnet import SimpleConvNet
from cconv.visualize import filters_before_after

parser = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--params", default="runs/convnet/params.npz",
                    help="trained parameters (default: runs/convnet/params.npz)")
parser.add_argument("--before", help="parameters before training (default: "
                    "params_init.npz beside --params)")
parser.add_argument("--out", default="runs/convnet/filters.png",
                    help="figure to write (default: runs/convnet/filters.png)")
parser.add_argument("--show", action="store_true", help="also open it in a window")
args = parser.parse_args()

before = Path(args.before or Path(args.params).with_name("params_init.npz"))
network = SimpleConvNet()   # random weights, like the book's "before"
if before.exists():
    network.load_params(before, cast=True)
w_before = network.params['W1'].copy()

network.load_params(args.params, cast=True)   # cast: float32 files into this float64 net
filters_before_after(w_before, network.params['W1'], path=args.out, show=args.show)
print(f"Saved {args.out}")
