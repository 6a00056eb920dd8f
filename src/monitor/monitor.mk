# SPDX-License-Identifier: Apache-2.0
# src/monitor: flow records, filters, formatting, metrics exposition. Linked
# into velumd and velum (which list $(mon_srcs) in their sources).
mon_srcs = src/monitor/flow.c src/monitor/metrics.c
