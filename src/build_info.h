/* How a module was really compiled, from the compiler's own macros. */
#ifndef CCONV_BUILD_INFO_H
#define CCONV_BUILD_INFO_H
#include <Python.h>  /* Py_ssize_t; Cython's generated C includes it first */
#ifndef CCONV_BUILD_TAG
#define CCONV_BUILD_TAG "unknown (not built by cconv's setup.py)"
#endif
#ifdef _OPENMP
#define CCONV_BUILD_OPENMP 1
#else
#define CCONV_BUILD_OPENMP 0
#endif
#if defined(__SANITIZE_ADDRESS__)
#define CCONV_BUILD_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CCONV_BUILD_ASAN 1
#endif
#endif
#ifndef CCONV_BUILD_ASAN
#define CCONV_BUILD_ASAN 0
#endif
#ifndef CCONV_BUILD_DEBUG
#define CCONV_BUILD_DEBUG 0
#endif
#ifdef __OPTIMIZE__
#define CCONV_BUILD_OPTIMIZED 1
#else
#define CCONV_BUILD_OPTIMIZED 0
#endif
#endif  /* CCONV_BUILD_INFO_H */
