# SPDX-License-Identifier: Apache-2.0
bins += velum
velum_srcs := src/cli/velum.c src/cli/trace.c
