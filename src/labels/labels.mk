# SPDX-License-Identifier: Apache-2.0
# Labels, label sets and IP prefixes: the vocabulary below policy and identity.
core_srcs += src/labels/labels.c src/labels/prefix.c
