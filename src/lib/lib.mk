# SPDX-License-Identifier: Apache-2.0
core_srcs += src/lib/errbuf.c src/lib/log.c src/lib/strbuf.c src/lib/hmap.c src/lib/file.c src/lib/proto.c
