# SPDX-License-Identifier: Apache-2.0
core_srcs += src/policy/selector.c \
	src/policy/http.c src/policy/rule.c src/policy/parse.c src/policy/mapstate.c \
	src/policy/resolve.c src/policy/trace.c src/policy/l7snap.c
