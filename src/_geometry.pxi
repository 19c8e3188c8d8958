# Sizes checked in the compiled call itself: every wrapper takes its sizes from the
# arrays it is handed and refuses arrays that disagree with each other or with the
# window, stride and padding, so that no kernel can index outside them whatever the
# Python side holds (the ops layer checks first, with friendlier messages).

cdef tuple _dims(const Py_ssize_t* s, int ndim):
    return tuple([s[i] for i in range(ndim)])


cdef int _window_out(str where, Py_ssize_t H, Py_ssize_t W, Py_ssize_t FH, Py_ssize_t FW,
                     Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t ph, Py_ssize_t pw,
                     Py_ssize_t* OH, Py_ssize_t* OW) except -1:
    """OH, OW of FHxFW windows over HxW (0 where no window fits); ValueError for a
    window, stride or padding out of range."""
    if FH < 1 or FW < 1 or sh < 1 or sw < 1 or ph < 0 or pw < 0:
        raise ValueError(f"{where}: window {FH}x{FW} and stride ({sh}, {sw}) must be >= 1, "
                         f"padding ({ph}, {pw}) >= 0")
    OH[0] = (H + 2 * ph - FH) // sh + 1 if FH <= H + 2 * ph else 0
    OW[0] = (W + 2 * pw - FW) // sw + 1 if FW <= W + 2 * pw else 0
    return 0


cdef int _expect(str where, str name, const Py_ssize_t* got, int ndim, tuple want) except -1:
    """ValueError unless the array ``name`` has shape ``want``."""
    if _dims(got, ndim) != want:
        raise ValueError(f"{where}: {name} has shape {_dims(got, ndim)}, the other arrays "
                         f"and the window need {want}")
    return 0
