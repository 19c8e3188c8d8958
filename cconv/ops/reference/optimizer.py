"""The book's Adam step (common/optimizer.py) in NumPy: the reference of
:mod:`cconv.ops.optimizer`, allocating its temporaries as the book does."""
import numpy as np


def adam_update(p, g, m, v, lr_t, one_minus_b1, one_minus_b2, eps=1e-7):
    """In place: ``m += (1-b1)*(g-m); v += (1-b2)*(g*g-v); p -= lr_t*m/(sqrt(v)+eps)``."""
    m += one_minus_b1 * (g - m)
    v += one_minus_b2 * (g ** 2 - v)
    p -= lr_t * m / (np.sqrt(v) + eps)
