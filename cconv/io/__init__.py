"""cconv's file formats, in one place.

:mod:`~cconv.io.npz`
    The pickle-free ``.npz`` of parameters, checkpoints and metadata, written atomically
    and read with bounded memory.
:mod:`~cconv.io.book_pickle`
    The book's ``params.pkl``, read through an allow-list unpickler.
:mod:`~cconv.io.images`
    Picture files read as network inputs.
"""
