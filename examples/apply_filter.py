"""Book ch. 7, apply_filter.py: what the first layer's filters make of an image.

Convolves one MNIST test digit (or any picture, --image) with the 30 trained filters of
SimpleConvNet's first layer and shows the 30 feature maps: each filter picks out its own
edges and strokes. Reads the params.npz of train_convnet.py.
"""
import argparse

from cconv.datasets import load_mnist
from cconv.simple_convnet import SimpleConvNet
from cconv.visualize import apply_filters, feature_maps, load_image

parser = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--params", default="runs/convnet/params.npz",
                    help="trained parameters (default: runs/convnet/params.npz)")
parser.add_argument("--index", type=int, default=0, help="test image to use (default: 0)")
parser.add_argument("--image", help="a picture file to use instead (shown at its own size "
                    "unless --size)")
parser.add_argument("--size", type=int, help="resize the picture to SIZE x SIZE")
parser.add_argument("--invert", action="store_true",
                    help="the picture is dark on light: invert it, as MNIST is light on dark")
parser.add_argument("--data-dir", help="folder with the MNIST files")
parser.add_argument("--out", default="runs/convnet/feature_maps.png",
                    help="figure to write (default: runs/convnet/feature_maps.png)")
parser.add_argument("--show", action="store_true", help="also open it in a window")
args = parser.parse_args()

network = SimpleConvNet()
network.load_params(args.params, cast=True)

if args.image:
    img = load_image(args.image, size=args.size, invert=args.invert)   # (H, W) in [0, 1]
    what = args.image
else:
    _, (x_test, t_test) = load_mnist(flatten=False, data_dir=args.data_dir)
    img = x_test[args.index, 0]                                         # (28, 28)
    what = f"test image {args.index} (a {t_test[args.index]})"

maps = apply_filters(img, network.params['W1'], network.params['b1'])   # (30, OH, OW)
feature_maps(maps, title=f"first-layer feature maps of {what}", path=args.out,
             show=args.show)
print(f"Saved {args.out}")
