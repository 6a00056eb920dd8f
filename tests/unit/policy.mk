# SPDX-License-Identifier: Apache-2.0
unit_tests += tests/unit/test_parse.c
unit_tests += tests/unit/test_engine.c
unit_tests += tests/unit/test_namespace.c
unit_tests += tests/unit/test_identity.c
unit_tests += tests/unit/test_http.c
# Fault injection: the test fails chosen regex scans to check engine errors never pass as verdicts.
test_http_ldflags := -Wl,--wrap=l7_reset_match
unit_tests += tests/unit/test_l7snap.c
unit_tests += tests/unit/test_scale.c
