# SPDX-License-Identifier: Apache-2.0
# The model is pure computation (no I/O): it joins the core library so that
# unit tests and the offline trace can use it.
core_srcs += src/model/model.c
