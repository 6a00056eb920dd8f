# SPDX-License-Identifier: Apache-2.0
# velumd: the agent (REST API, SQLite store, datapath sync, flows, metrics).
# Recursive assignments: dp_lib and mon_srcs come from fragments included later.
bins += velumd
velumd_srcs = src/agent/velumd.c src/agent/agent.c src/agent/change.c src/agent/rows.c src/agent/sync.c \
	src/agent/restore.c src/agent/api.c src/agent/metrics.c src/agent/api_front.c \
	src/agent/api_endpoints.c src/agent/api_bpf.c \
	src/agent/api_identities.c src/agent/api_namespaces.c src/agent/api_policies.c src/agent/api_trace.c \
	src/agent/api_flows.c src/agent/apply.c src/agent/flows.c src/agent/l7sync.c \
	src/agent/podman.c src/agent/proxy.c src/agent/store.c $(mon_srcs)
velumd_deps = $(dp_lib)
velumd_libs := libbpf libmicrohttpd sqlite3 jansson
velumd_ldlibs := -lpthread
