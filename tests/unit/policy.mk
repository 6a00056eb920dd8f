# SPDX-License-Identifier: Apache-2.0
unit_tests += tests/unit/test_parse.c
unit_tests += tests/unit/test_engine.c
unit_tests += tests/unit/test_identity.c
