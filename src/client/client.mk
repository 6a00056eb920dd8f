# SPDX-License-Identifier: Apache-2.0
# src/client: the API client library (HTTP/1.1 over velumd's unix socket, JSON
# via jansson). Programs that talk to the agent list $(client_srcs) in their
# sources and jansson in their <name>_libs.
client_srcs = src/client/client.c
