# SPDX-License-Identifier: Apache-2.0
# velum-cni: the CNI plugin (a thin client of velumd's API; no policy logic).
bins += velum-cni
velum-cni_srcs = src/cni/velum_cni.c src/cni/spec.c src/cni/cmd.c src/cni/call.c
velum-cni_libs := jansson
