# SPDX-License-Identifier: Apache-2.0
# velum-cni: the CNI plugin (a thin client of velumd's API through src/client;
# no policy logic). Recursive: client_srcs comes from a fragment included later.
bins += velum-cni
velum-cni_srcs = src/cni/velum_cni.c src/cni/spec.c src/cni/cmd.c src/cni/call.c $(client_srcs)
velum-cni_libs := jansson
