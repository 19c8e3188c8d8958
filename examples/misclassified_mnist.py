"""Book ch. 8, misclassified_mnist.py: the test digits the DeepConvNet gets wrong.

Measures the test accuracy of the parameters train_deepnet.py wrote (or the book's
deep_convnet_params.pkl) and shows the first 20 misclassified digits with their true and
predicted labels: most are digits a person would hesitate over too.
"""
import argparse

from cconv.datasets import load_mnist
from cconv.deep_convnet import DeepConvNet
from cconv.visualize import misclassified

parser = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--params", default="runs/deepnet/params.npz",
                    help="DeepConvNet parameters (default: runs/deepnet/params.npz)")
parser.add_argument("--test-size", type=int, help="use the first N test images")
parser.add_argument("--max", type=int, default=20, help="images to show (default: 20)")
parser.add_argument("--data-dir", help="folder with the MNIST files")
parser.add_argument("--out", default="runs/deepnet/misclassified.png",
                    help="figure to write (default: runs/deepnet/misclassified.png)")
parser.add_argument("--show", action="store_true", help="also open it in a window")
args = parser.parse_args()

network = DeepConvNet()
network.load_params(args.params, cast=True)

_, (x_test, t_test) = load_mnist(flatten=False, data_dir=args.data_dir)
x_test, t_test = x_test[:args.test_size], t_test[:args.test_size]

print("calculating test accuracy ... ")
y = network.predict_labels(x_test)
print(f"test accuracy: {(y == t_test).mean():.4f}")

misclassified(x_test, t_test, y, max_images=args.max, path=args.out, show=args.show)
print(f"Saved {args.out}")
