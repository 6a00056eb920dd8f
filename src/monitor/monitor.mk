# SPDX-License-Identifier: Apache-2.0
# src/monitor: flow records, filters, formatting, metrics exposition. Linked
# into velumd and velum (which list $(mon_srcs) in their sources).
mon_srcs = src/monitor/flow.c src/monitor/filter.c src/monitor/metrics.c src/monitor/hubble_metrics.c
# the flow records' formatting, read-back and filters (L7 flows too)
unit_tests += tests/unit/test_flow.c
test_flow_extra = $(call sobj,$(mon_srcs) src/monitor/flow_json.c)
test_flow_ldflags = $(call pkg_libs,jansson)
# hubble observe's filter semantics and Hubble's flow JSON
unit_tests += tests/unit/test_hubble.c
test_hubble_extra = $(call sobj,$(mon_srcs) src/monitor/flow_json.c)
test_hubble_ldflags = $(call pkg_libs,jansson)
