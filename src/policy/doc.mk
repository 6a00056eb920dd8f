# SPDX-License-Identifier: Apache-2.0
# The document tree: JSON and YAML readers for policy files (libyaml via core_pkgs).
core_srcs += src/policy/doc.c src/policy/doc_json.c src/policy/doc_yaml.c
unit_tests += tests/unit/test_doc.c
