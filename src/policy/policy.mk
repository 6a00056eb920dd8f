# SPDX-License-Identifier: Apache-2.0
# The policy layer: selectors, rules, the decoder (parse*.c), HTTP rules,
# the engine (resolve*.c), map states, L7 snapshots and the trace.
core_srcs += \
	src/policy/selector.c \
	src/policy/http.c \
	src/policy/rule.c \
	src/policy/parse.c \
	src/policy/parse_common.c \
	src/policy/parse_cilium.c \
	src/policy/parse_knp.c \
	src/policy/parse_ns.c \
	src/policy/parse_http.c \
	src/policy/mapstate.c \
	src/policy/resolve.c \
	src/policy/resolve_state.c \
	src/policy/resolve_lint.c \
	src/policy/trace.c \
	src/policy/l7snap.c
