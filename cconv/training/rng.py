"""The Trainer's two random streams, seeded together: its own ``Generator`` (batch
sampling) and numpy's global RNG (which the book's ``Dropout`` draws from)."""
import numpy as np

__all__ = ["make_rng", "get_states", "set_states"]


def make_rng(seed):
    """A Generator for batch sampling; with a seed, numpy's global RNG is seeded too, from
    an independent stream of ``SeedSequence(seed)``. None: fresh entropy, and the global
    RNG is left alone."""
    gen_seq, legacy_seq = np.random.SeedSequence(seed).spawn(2)
    rng = np.random.Generator(np.random.PCG64(gen_seq))
    if seed is not None:
        np.random.seed(legacy_seq.generate_state(4))
    return rng


def get_states(rng):
    """(rng's state, numpy's global state): what a checkpoint or a rewind keeps."""
    return rng.bit_generator.state, np.random.get_state()


def set_states(rng, states):
    gen, legacy = states
    rng.bit_generator.state = gen
    np.random.set_state(legacy)
