/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Policy engine benchmark (`make bench-policy`): 10,000 endpoints over 1,000
 * label sets and 1,000 policies. Measures parsing, full resolution (every
 * endpoint's map state from scratch), peak memory, and the cost of one
 * policy added or removed on the loaded set (parse + load + incremental
 * regeneration), as wall-clock time on this machine.
 *
 * The workload: endpoint i has labels app=app-(i%1000), tier=t(i%5) in
 * namespace ns-(i%10 of its app); policy j (a CiliumNetworkPolicy in app j's
 * namespace) selects app-j and allows ingress from five other apps (two of
 * them in other namespaces, named explicitly) on TCP 80 and 8000-8099,
 * egress to three apps and to a CIDR, denies one app; every tenth policy has
 * an HTTP rule set; every fiftieth also admits `cluster`. The policy added
 * and removed in the change loop is such a policy with another port, so it
 * changes the map state of the ten endpoints of one app.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <arpa/inet.h>

#include "lib/strbuf.h"
#include "model/model.h"

#define N_ENDPOINTS 10000
#define N_LABELSETS 1000
#define N_POLICIES  1000
#define N_CHANGES   200

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static long peak_rss_kb(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

static int app_ns(int app)
{
	return app % 10;
}

static void gen_policy(struct strbuf *sb, int j, const char *name, int port)
{
	int k;

	strbuf_printf(sb,
		      "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\n"
		      "metadata: {name: %s, namespace: ns-%d}\n"
		      "spec:\n"
		      "  endpointSelector: {matchLabels: {app: app-%d}}\n"
		      "  ingress:\n"
		      "  - fromEndpoints:\n",
		      name, app_ns(j), j);
	for (k = 1; k <= 3; k++)
		strbuf_printf(sb, "    - matchLabels: {app: app-%d}\n", (j + k * 10) % N_LABELSETS);
	for (k = 1; k <= 2; k++) {
		int a = (j + k * 7) % N_LABELSETS;

		strbuf_printf(
			sb,
			"    - matchLabels: {app: app-%d, k8s:io.kubernetes.pod.namespace: ns-%d}\n",
			a, app_ns(a));
	}
	strbuf_printf(sb,
		      "    toPorts:\n    - ports: [{port: '%d', protocol: TCP}, "
		      "{port: '8000', endPort: 8099, protocol: TCP}]\n",
		      port);
	if (j % 10 == 0)
		strbuf_puts(
			sb,
			"      rules:\n        http:\n"
			"        - {method: GET, path: '/api/v1/.*'}\n"
			"        - {method: POST, path: /api/v1/items, headers: ['X-Tenant']}\n");
	if (j % 50 == 0)
		strbuf_puts(sb,
			    "  - fromEntities: [cluster]\n    toPorts: [{ports: [{port: '9090', "
			    "protocol: TCP}]}]\n");
	strbuf_puts(sb, "  egress:\n  - toEndpoints:\n");
	for (k = 1; k <= 3; k++)
		strbuf_printf(sb, "    - matchLabels: {app: app-%d}\n", (j + k) % N_LABELSETS);
	strbuf_printf(sb,
		      "    toPorts: [{ports: [{port: '5432', protocol: TCP}]}]\n"
		      "  - toCIDRSet: [{cidr: 10.%d.0.0/16, except: [10.%d.128.0/17]}]\n"
		      "  ingressDeny:\n"
		      "  - fromEndpoints: [{matchLabels: {app: app-%d}}]\n"
		      "---\n",
		      j % 200, j % 200, (j + 500) % N_LABELSETS);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void stats(const char *what, double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	printf("%-34s p50 %7.3f ms   p99 %7.3f ms   max %7.3f ms\n", what, v[n / 2],
	       v[(n * 99) / 100], v[n - 1]);
}

int main(void)
{
	struct model *m = model__new();
	struct strbuf text = STRBUF_INIT;
	double t0, t_parse, t_load, t_regen, add[N_CHANGES], del[N_CHANGES];
	size_t affected_add = 0, affected_del = 0, entries = 0, i;
	const struct model_ep *const *eps;
	struct pol_set set = { 0 };
	struct errbuf eb;
	uint32_t *changed;
	size_t nchanged;
	int j;

	if (!m)
		return 1;
	for (i = 0; i < N_ENDPOINTS; i++) {
		int app = (int)(i % N_LABELSETS);
		char l1[32], l2[32], name[64], ns[16];
		const char *labels[2] = { l1, l2 };
		uint32_t ip = htonl(0x0a000000u | (uint32_t)(0x100000 + i));

		snprintf(l1, sizeof(l1), "app=app-%d", app);
		snprintf(l2, sizeof(l2), "tier=t%d", app % 5);
		snprintf(ns, sizeof(ns), "ns-%d", app_ns(app));
		snprintf(name, sizeof(name), "%s/ep-%zu", ns, i);
		if (model_endpoint_add(m, 0, name, ns, labels, 2, &ip, 1, NULL, 0, false, NULL,
				       &eb)) {
			fprintf(stderr, "endpoint: %s\n", eb.msg);
			return 1;
		}
	}
	for (j = 0; j < N_POLICIES; j++) {
		char name[32];

		snprintf(name, sizeof(name), "pol-%d", j);
		gen_policy(&text, j, name, 80);
	}
	printf("workload: %d endpoints, %d label sets, %d policies (%zu bytes of YAML)\n",
	       N_ENDPOINTS, N_LABELSETS, N_POLICIES, text.len);

	t0 = now_ms();
	if (pol_parse_buf("bench.yaml", text.p, text.len, &set, &eb)) {
		fprintf(stderr, "parse: %s\n", eb.msg);
		return 1;
	}
	t_parse = now_ms() - t0;
	t0 = now_ms();
	if (model_policies_load(m, &set))
		return 1;
	t_load = now_ms() - t0;
	t0 = now_ms();
	if (model_regenerate(m, &changed, &nchanged))
		return 1;
	t_regen = now_ms() - t0;
	free(changed);
	pol_set_free(&set);
	for (i = 0; i < model_endpoints(m, &eps); i++)
		entries += pol_engine_endpoint_state(model_engine(m), eps[i]->id)->n;

	printf("parse %d policies                  %8.1f ms\n", N_POLICIES, t_parse);
	printf("load into the engine (selectors)     %8.1f ms\n", t_load);
	printf("full resolution (%zu endpoints)    %8.1f ms\n", nchanged, t_regen);
	printf("total, files to map states           %8.1f ms\n", t_parse + t_load + t_regen);
	printf("policy-map entries, all endpoints    %8zu\n", entries);
	printf("peak RSS                             %8.1f MiB\n", peak_rss_kb() / 1024.0);

	/* one policy added, then removed, on the loaded set */
	for (i = 0; i < N_CHANGES; i++) {
		int target = (int)(i * 37 % N_LABELSETS);

		strbuf_reset(&text);
		gen_policy(&text, target, "extra", 7000 + (int)i);
		t0 = now_ms();
		if (pol_parse_buf("extra.yaml", text.p, text.len, &set, &eb) ||
		    model_policies_load(m, &set) || model_regenerate(m, &changed, &nchanged))
			return 1;
		add[i] = now_ms() - t0;
		affected_add += nchanged;
		free(changed);
		pol_set_free(&set);
		{
			char ns[16];

			snprintf(ns, sizeof(ns), "ns-%d", app_ns(target));
			t0 = now_ms();
			if (model_policy_delete(m, POL_KIND_CNP, ns, "extra") ||
			    model_regenerate(m, &changed, &nchanged))
				return 1;
		}
		del[i] = now_ms() - t0;
		affected_del += nchanged;
		free(changed);
	}
	stats("one policy added (parse+resolve)", add, N_CHANGES);
	stats("one policy removed (resolve)", del, N_CHANGES);
	printf("endpoints rewritten per change       %8.1f (add)  %8.1f (remove)\n",
	       (double)affected_add / N_CHANGES, (double)affected_del / N_CHANGES);
	printf("peak RSS                             %8.1f MiB\n", peak_rss_kb() / 1024.0);
	strbuf_free(&text);
	model__free(m);
	return 0;
}
