"""The Trainer's calls into the network: a step's gradient and loss, the per-epoch
accuracies (optionally on the first samples only, the book's
``evaluate_sample_num_per_epoch``) and the final one on the whole test set."""
import time

__all__ = ["gradient_and_loss", "accuracy", "epoch_accuracies", "final_accuracy"]


def gradient_and_loss(network, x, t):
    """(grads, loss as a float) of one batch: the loss is the ``last_loss`` that
    ``gradient`` set (before the update), else one more ``network.loss(x, t)`` call."""
    if getattr(network, "last_loss", None) is not None:
        try:
            network.last_loss = None   # never credit a stale value to this step
        except AttributeError:
            pass
    grads = network.gradient(x, t)
    loss = getattr(network, "last_loss", None)
    if loss is None:
        loss = network.loss(x, t)
    return grads, float(loss)


def accuracy(network, x, t, batch_size=None):
    """``network.accuracy(x, t)`` as a float, with ``batch_size`` when one is given."""
    if batch_size is None:
        return float(network.accuracy(x, t))
    return float(network.accuracy(x, t, batch_size=batch_size))


def epoch_accuracies(trainer):
    """(train accuracy, test accuracy, seconds) at the end of an epoch."""
    t0 = time.perf_counter()
    xtr, ttr, xte, tte = trainer.x_train, trainer.t_train, trainer.x_test, trainer.t_test
    k = trainer.evaluate_sample_num_per_epoch
    if k is not None:
        xtr, ttr, xte, tte = xtr[:k], ttr[:k], xte[:k], tte[:k]
    train_acc = accuracy(trainer.network, xtr, ttr, trainer.eval_batch_size)
    test_acc = accuracy(trainer.network, xte, tte, trainer.eval_batch_size)
    return train_acc, test_acc, time.perf_counter() - t0


def final_accuracy(trainer):
    """(accuracy on the whole test set, seconds)."""
    t0 = time.perf_counter()
    acc = accuracy(trainer.network, trainer.x_test, trainer.t_test, trainer.eval_batch_size)
    return acc, time.perf_counter() - t0
