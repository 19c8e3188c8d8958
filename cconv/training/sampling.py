"""How a Trainer draws its mini-batches: a permutation per epoch, or the book's choice.

A sampler proposes the next batch without committing it (:meth:`next_batch` returns the
indices and the state after them; :meth:`commit` adopts that state), so a step that
fails leaves the sampler where it was.
"""
import numpy as np

__all__ = ["EpochSampler", "BookSampler", "make_sampler", "SAMPLINGS", "epoch_steps",
           "epoch_images"]


class EpochSampler:
    """Every epoch is one pass over a fresh permutation, the last, smaller batch included.

    ``iter_per_epoch = ceil(train_size / batch_size)``.
    """

    name = "epoch"

    def __init__(self, train_size, batch_size):
        self.train_size, self.batch_size = train_size, batch_size
        self.iter_per_epoch = -(-train_size // batch_size)
        self.perm = None   # this epoch's permutation, and the position in it
        self.pos = 0

    def epoch_end(self, e):
        """Steps completed when epoch ``e`` (1-based; 0 -> 0) is over."""
        return e * self.iter_per_epoch

    def images(self, steps_done_in_epoch, epoch_steps):
        """Images the rest of an epoch holds after ``steps_done_in_epoch`` steps."""
        return self.train_size - steps_done_in_epoch * self.batch_size

    def next_batch(self, rng):
        """``(indices, state)``: the next batch, and the sampler state after it."""
        perm, pos = self.perm, self.pos
        if perm is None or pos >= len(perm):
            perm, pos = rng.permutation(self.train_size), 0
        idx = perm[pos:pos + self.batch_size]
        return idx, (perm, pos + len(idx))

    def commit(self, state):
        self.perm, self.pos = state

    def state(self):
        """``(arrays, scalars)`` for a checkpoint."""
        return ({"perm": self.perm} if self.perm is not None else {}), {"pos": self.pos}

    def load_state(self, arrays, scalars):
        perm = arrays.get("perm")
        if perm is not None:
            perm = np.asarray(perm)
            if (perm.ndim != 1 or perm.dtype.kind not in "iu" or len(perm) != self.train_size
                    or (perm.size and (perm.min() < 0 or perm.max() >= self.train_size))):
                raise ValueError(f"its permutation {perm.shape} {perm.dtype} is not one of "
                                 f"{self.train_size} samples")
        pos = int(scalars["pos"])
        if not 0 <= pos <= self.train_size:
            raise ValueError(f"its position {pos} is outside 0..{self.train_size}")
        return lambda: self.commit((perm, pos))


class BookSampler:
    """The book's ``rng.choice(train_size, batch_size)`` with replacement.

    ``iter_per_epoch = max(train_size / batch_size, 1)`` (a float, as in the book).
    """

    name = "book"

    def __init__(self, train_size, batch_size):
        self.train_size, self.batch_size = train_size, batch_size
        self.iter_per_epoch = max(train_size / batch_size, 1)

    def epoch_end(self, e):
        n, b = self.train_size, self.batch_size
        return (e * n) // b if n >= b else e   # floor(e * max(n / b, 1)), exactly

    def images(self, steps_done_in_epoch, epoch_steps):
        return (epoch_steps - steps_done_in_epoch) * self.batch_size

    def next_batch(self, rng):
        return rng.choice(self.train_size, self.batch_size), None

    def commit(self, state):
        pass

    def state(self):
        return {}, {"pos": 0}

    def load_state(self, arrays, scalars):
        return lambda: None


SAMPLINGS = {"epoch": EpochSampler, "book": BookSampler}


def make_sampler(sampling, train_size, batch_size):
    if sampling not in SAMPLINGS:
        raise ValueError(f"sampling must be 'epoch' or 'book', got {sampling!r}")
    return SAMPLINGS[sampling](train_size, batch_size)


def epoch_steps(sampler, e):
    """Steps in epoch ``e`` (1-based)."""
    return sampler.epoch_end(e) - sampler.epoch_end(e - 1)


def epoch_images(sampler, e):
    """Images trained on in epoch ``e`` (1-based)."""
    return sampler.images(0, epoch_steps(sampler, e))
