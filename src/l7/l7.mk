# SPDX-License-Identifier: Apache-2.0
#
# src/l7: low-level L7 building blocks (RE2 regex sets through a C++ shim,
# request-target normalization). Depends only on src/lib; policy uses it.
core_srcs += src/l7/re2set.cc src/l7/normalize.c
unit_tests += tests/unit/test_l7.c
