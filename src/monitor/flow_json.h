/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Flows from their JSON line (docs/api.md, as mon_flow_format_json() writes
 * it): what the CLI needs to print /v1/flows in the compact format. Needs
 * jansson; kept apart from flow.h so velumd does not link it.
 */
#ifndef VELUM_MONITOR_FLOW_JSON_H
#define VELUM_MONITOR_FLOW_JSON_H

#include <stddef.h>

#include "lib/errbuf.h"
#include "monitor/flow.h"

/*
 * Parses one flow object (text, len bytes) into *f (which then holds new
 * references; release with mon_flow_release()). Returns 0, -EINVAL with eb
 * set, or -ENOMEM.
 */
int mon_flow_from_json(const char *text, size_t len, struct mon_flow *f, struct errbuf *eb);

#endif
