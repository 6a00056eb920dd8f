# SPDX-License-Identifier: Apache-2.0
core_srcs += src/identity/identity.c src/identity/ipcache.c src/identity/peer.c
