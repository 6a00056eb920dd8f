/* SPDX-License-Identifier: Apache-2.0 */
/* Policy model helpers: names, references, freeing. */
#include "policy/rule.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/proto.h"
#include "lib/strbuf.h"

const char *pol_kind_name(enum pol_kind k)
{
	switch (k) {
	case POL_KIND_CNP:
		return "CiliumNetworkPolicy";
	case POL_KIND_CCNP:
		return "CiliumClusterwideNetworkPolicy";
	case POL_KIND_KNP:
		return "NetworkPolicy";
	case POL_KIND_RULES:
		return "CiliumRules";
	}
	return "?";
}

int pol_kind_parse(const char *s, enum pol_kind *out)
{
	static const struct {
		const char *name;
		enum pol_kind kind;
	} names[] = {
		{ "CiliumNetworkPolicy", POL_KIND_CNP },
		{ "cnp", POL_KIND_CNP },
		{ "ciliumnp", POL_KIND_CNP },
		{ "CiliumClusterwideNetworkPolicy", POL_KIND_CCNP },
		{ "ccnp", POL_KIND_CCNP },
		{ "NetworkPolicy", POL_KIND_KNP },
		{ "netpol", POL_KIND_KNP },
		{ "CiliumRules", POL_KIND_RULES },
		{ "rules", POL_KIND_RULES },
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcasecmp(s, names[i].name)) {
			*out = names[i].kind;
			return 0;
		}
	}
	return -EINVAL;
}

const char *pol_proto_name(uint8_t proto)
{
	const char *name = proto_name(proto);

	return name ? name : "?";
}

const char *pol_dir_name(enum pol_dir d)
{
	return d == POL_INGRESS ? "ingress" : "egress";
}

void pol_peer_rule_format(const struct pol_peer_rule *pr, struct strbuf *sb)
{
	const struct pol_rule *r = pr->rule;
	const struct pol_policy *p = r->policy;
	const char *section = pr->dir == POL_INGRESS ? (pr->deny ? "ingressDeny" : "ingress") :
						       (pr->deny ? "egressDeny" : "egress");

	strbuf_printf(sb, "%s ", pol_kind_name(p->kind));
	if (p->namespace)
		strbuf_printf(sb, "%s/", p->namespace);
	strbuf_puts(sb, p->name);
	if (p->kind == POL_KIND_RULES || p->specs)
		strbuf_printf(sb, " %s[%u].%s[%u]", p->kind == POL_KIND_RULES ? "rules" : "specs",
			      r->index, section, pr->index);
	else
		strbuf_printf(sb, " spec.%s[%u]", section, pr->index);
}

bool pol_policy_first_l7(const struct pol_policy *p, struct strbuf *sb)
{
	size_t i, j, k;
	int d;

	for (i = 0; i < p->nrules; i++)
		for (d = 0; d < 2; d++)
			for (j = 0; j < p->rules[i].nentries[d]; j++) {
				const struct pol_peer_rule *pr = &p->rules[i].entries[d][j];

				for (k = 0; k < pr->nto_ports; k++) {
					if (!pr->to_ports[k].nhttp)
						continue;
					strbuf_printf(sb, "%s:%u: ", p->file,
						      pr->to_ports[k].http[0].line);
					if (p->kind == POL_KIND_RULES)
						strbuf_printf(sb, "[%u].", p->rules[i].index);
					else if (p->specs)
						strbuf_printf(sb, "specs[%zu].", i);
					else
						strbuf_puts(sb, "spec.");
					strbuf_printf(sb, "%s[%u].toPorts[%zu].rules.http[0]",
						      pol_dir_name((enum pol_dir)d), pr->index, k);
					return true;
				}
			}
	return false;
}

static void port_rule_free(struct pol_port_rule *pr)
{
	size_t i;

	for (i = 0; i < pr->nports; i++)
		free(pr->ports[i].name);
	free(pr->ports);
	for (i = 0; i < pr->nhttp; i++)
		pol_http_rule_free(&pr->http[i]);
	free(pr->http);
	pol_http_matcher__put(pr->matcher);
}

static void peer_rule_free(struct pol_peer_rule *e)
{
	size_t i;

	for (i = 0; i < e->nsels; i++)
		pol_selector_free(&e->sels[i]);
	free(e->sels);
	for (i = 0; i < e->nto_ports; i++)
		port_rule_free(&e->to_ports[i]);
	free(e->to_ports);
	free(e->icmps);
}

void pol_policy_free(struct pol_policy *p)
{
	size_t i, j;
	int d;

	if (!p)
		return;
	for (i = 0; i < p->nrules; i++) {
		struct pol_rule *r = &p->rules[i];

		pol_selector_free(&r->subject);
		for (d = 0; d < 2; d++) {
			for (j = 0; j < r->nentries[d]; j++)
				peer_rule_free(&r->entries[d][j]);
			free(r->entries[d]);
		}
		free(r->description);
		pol_labels_free(&r->labels);
	}
	free(p->rules);
	free(p->name);
	free(p->namespace);
	free(p->file);
	free(p->warnings);
	free(p);
}
