/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of namespaces with labels in the model (src/model/model.c):
 * the namespace labels every endpoint carries, the Kubernetes NetworkPolicy
 * e2e cases that select peers by namespace labels (namespaceSelector with
 * matchLabels and matchExpressions, with podSelector in one peer and as
 * separate peers), and a namespace relabel that flips verdicts and
 * regenerates exactly the endpoints whose policy changes.
 *
 * The e2e suite's world: namespaces x, y, z labelled ns=<name>, each with
 * pods a, b, c labelled pod=<name>.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "model/model.h"

struct h {
	struct model *m;
	struct errbuf eb;
};

static void relabel(struct h *h, const char *ns, const char *labels)
{
	char buf[256], *save, *tok;
	const char *lv[8];
	size_t n = 0;

	snprintf(buf, sizeof(buf), "%s", labels);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		lv[n++] = tok;
	if (model_namespace_relabel(h->m, ns, lv, n, &h->eb))
		fail_msg("namespace %s: %s", ns, h->eb.msg);
}

static void add_ep(struct h *h, const char *ns, const char *pod, unsigned ip)
{
	char full[64], label[32];
	const char *lv[] = { label };
	uint32_t a = htonl(0x0a000000u | ip);

	snprintf(full, sizeof(full), "%s/%s", ns, pod);
	snprintf(label, sizeof(label), "pod=%s", pod);
	if (model_endpoint_add(h->m, 0, full, ns, lv, 1, &a, 1, NULL, 0, false, NULL, &h->eb))
		fail_msg("endpoint %s: %s", full, h->eb.msg);
}

static int setup(void **state)
{
	static const char *const nss[] = { "x", "y", "z" }, *const pods[] = { "a", "b", "c" };
	struct h *h = calloc(1, sizeof(*h));
	char l[16];
	size_t i, j;

	if (!h)
		return -1;
	h->m = model__new();
	*state = h;
	if (!h->m)
		return -1;
	for (i = 0; i < 3; i++) {
		snprintf(l, sizeof(l), "ns=%s", nss[i]);
		relabel(h, nss[i], l);
		for (j = 0; j < 3; j++)
			add_ep(h, nss[i], pods[j], (unsigned)(i * 16 + j + 1));
	}
	return model_regenerate(h->m, NULL, NULL);
}

static int teardown(void **state)
{
	struct h *h = *state;

	model__free(h->m);
	free(h);
	return 0;
}

static void load(struct h *h, const char *text)
{
	struct pol_set set = { 0 };

	if (pol_parse_buf("np.yaml", text, strlen(text), &set, &h->eb))
		fail_msg("parse: %s", h->eb.msg);
	assert_int_equal(model_policies_load(h->m, &set), 0);
	pol_set_free(&set);
	assert_int_equal(model_regenerate(h->m, NULL, NULL), 0);
}

/* Whether ingress to endpoint `to` ("ns/pod") from `from` passes on TCP 80. */
static bool allows(struct h *h, const char *from, const char *to)
{
	const struct model_ep *t = model_endpoint(h->m, to), *f = model_endpoint(h->m, from);
	struct pol_verdict v;

	assert_non_null(t);
	assert_non_null(f);
	pol_mapstate_lookup(pol_engine_endpoint_state(model_engine(h->m), t->id), POL_INGRESS,
			    f->identity, IPPROTO_TCP, 80, &v);
	return pol_verdict_passes(&v);
}

/* The 9x9 ingress matrix to x/a as a string: one char per source pod, x/a x/b ... z/c. */
static void matrix_to(struct h *h, const char *to, char out[10])
{
	static const char *const srcs[] = { "x/a", "x/b", "x/c", "y/a", "y/b",
					    "y/c", "z/a", "z/b", "z/c" };
	size_t i;

	for (i = 0; i < 9; i++)
		out[i] = allows(h, srcs[i], to) ? '1' : '.';
	out[9] = 0;
}

#define KNP(body)                                                                                \
	"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: " \
	"x}\nspec:\n  podSelector: {matchLabels: {pod: a}}\n  policyTypes: [Ingress]\n" body

static void check(struct h *h, const char *want)
{
	char got[10];

	matrix_to(h, "x/a", got);
	assert_string_equal(got, want);
}

/* Endpoints carry their namespace's labels in Cilium's form; they cannot set them. */
static void test_namespace_labels_derived(void **state)
{
	struct h *h = *state;
	const struct model_ep *e = model_endpoint(h->m, "y/b");
	const char *forged[] = { "io.cilium.k8s.namespace.labels.ns=x" };
	uint32_t a = htonl(0x0a0000f0);
	const struct pol_label *l;

	l = pol_labels_find(&e->labels, POL_SOURCE_K8S, POL_LABEL_NS_LABELS "ns");
	assert_non_null(l);
	assert_string_equal(l->value, "y");
	l = pol_labels_find(&e->labels, POL_SOURCE_K8S, POL_LABEL_NS_LABELS MODEL_NS_NAME_LABEL);
	assert_non_null(l);
	assert_string_equal(l->value, "y");
	assert_int_equal(model_endpoint_add(h->m, 0, "y/forged", "y", forged, 1, &a, 1, NULL, 0,
					    false, NULL, &h->eb),
			 -EINVAL);
	assert_non_null(strstr(h->eb.msg, "set by velum"));
	/* an endpoint relabel keeps its namespace's labels */
	assert_int_equal(
		model_endpoint_relabel(h->m, "y/b", (const char *[]){ "pod=q" }, 1, &h->eb), 0);
	e = model_endpoint(h->m, "y/b");
	assert_non_null(pol_labels_find(&e->labels, POL_SOURCE_K8S, POL_LABEL_NS_LABELS "ns"));
	/* a new namespace named by an endpoint has no labels but its name */
	add_ep(h, "w", "a", 200);
	assert_non_null(model_namespace(h->m, "w"));
	assert_int_equal(model_namespace(h->m, "w")->labels.n, 0);
}

/* Bad names and labels change nothing; the name label only with the name as value. */
static void test_namespace_relabel_refused(void **state)
{
	struct h *h = *state;
	const struct model_ep *e = model_endpoint(h->m, "x/a");
	uint32_t id = e->identity;
	const char *dup[] = { "team=a", "team=b" };
	const char *src[] = { "k8s:team=a" };
	const char *name_ok[] = { "kubernetes.io/metadata.name=x", "team=a" };
	const char *name_bad[] = { "kubernetes.io/metadata.name=y" };
	const char *badval[] = { "team=-a" };

	assert_int_equal(model_namespace_relabel(h->m, "x", dup, 2, &h->eb), -EINVAL);
	assert_non_null(strstr(h->eb.msg, "given twice"));
	assert_int_equal(model_namespace_relabel(h->m, "x", src, 1, &h->eb), -EINVAL);
	assert_int_equal(model_namespace_relabel(h->m, "x", name_bad, 1, &h->eb), -EINVAL);
	assert_non_null(strstr(h->eb.msg, "set by velum"));
	assert_int_equal(model_namespace_relabel(h->m, "x", badval, 1, &h->eb), -EINVAL);
	assert_int_equal(model_namespace_relabel(h->m, "Bad_NS", NULL, 0, &h->eb), -EINVAL);
	assert_null(model_namespace(h->m, "Bad_NS"));
	assert_int_equal(model_endpoint(h->m, "x/a")->identity, id);
	assert_int_equal(model_namespace_relabel(h->m, "x", name_ok, 2, &h->eb), 0);
	assert_int_equal(model_namespace(h->m, "x")->labels.n, 1);
	assert_int_equal(model_namespace_remove(h->m, "x", &h->eb), -EBUSY);
	assert_non_null(strstr(h->eb.msg, "3 endpoint(s)"));
	assert_int_equal(model_namespace_relabel(h->m, "empty", NULL, 0, &h->eb), 0);
	assert_int_equal(model_namespace_remove(h->m, "empty", &h->eb), 0);
	assert_int_equal(model_namespace_remove(h->m, "empty", &h->eb), -ENOENT);
}

/* e2e: "should enforce policy to allow traffic only from a different namespace, based on
 * NamespaceSelector" (matchLabels, ns: y) */
static void test_namespace_e2e_selector_match_labels(void **state)
{
	struct h *h = *state;

	load(h, KNP("  ingress: [{from: [{namespaceSelector: {matchLabels: {ns: y}}}]}]\n"));
	check(h, "...111...");
}

/* e2e: "should enforce policy based on NamespaceSelector with MatchExpressions" (ns In [y]) */
static void test_namespace_e2e_selector_match_expressions(void **state)
{
	struct h *h = *state;

	load(h, KNP("  ingress:\n  - from:\n    - namespaceSelector:\n        matchExpressions:\n"
		    "        - {key: ns, operator: In, values: [y]}\n"));
	check(h, "...111...");
	/* NotIn [x]: y and z */
	load(h, KNP("  ingress:\n  - from:\n    - namespaceSelector:\n        matchExpressions:\n"
		    "        - {key: ns, operator: NotIn, values: [x]}\n"));
	check(h, "...111111");
}

/* e2e: "should enforce policy based on PodSelector and NamespaceSelector" (one peer: AND) */
static void test_namespace_e2e_pod_and_namespace(void **state)
{
	struct h *h = *state;

	load(h, KNP("  ingress:\n  - from:\n    - namespaceSelector:\n        matchExpressions:\n"
		    "        - {key: ns, operator: NotIn, values: [x]}\n"
		    "      podSelector: {matchLabels: {pod: b}}\n"));
	check(h, "....1..1.");
}

/* e2e: "should enforce policy based on PodSelector or NamespaceSelector" (two peers: OR) */
static void test_namespace_e2e_pod_or_namespace(void **state)
{
	struct h *h = *state;

	load(h, KNP("  ingress:\n  - from:\n    - namespaceSelector:\n        matchExpressions:\n"
		    "        - {key: ns, operator: NotIn, values: [x]}\n"
		    "    - podSelector: {matchLabels: {pod: b}}\n"));
	/* a podSelector alone selects in the policy's namespace */
	check(h, ".1.111111");
}

/* e2e: "should allow ingress access from updated namespace": a relabel flips the verdict */
static void test_namespace_e2e_updated_namespace(void **state)
{
	struct h *h = *state;
	const struct model_ep *xa = model_endpoint(h->m, "x/a");
	uint32_t *changed = NULL, old_yb;
	size_t n = 0, i, others;

	load(h, KNP("  ingress: [{from: [{namespaceSelector: {matchLabels: {ns2: updated}}}]}]\n"));
	check(h, ".........");
	old_yb = model_endpoint(h->m, "y/b")->identity;
	relabel(h, "y", "ns=y,ns2=updated");
	assert_int_not_equal(model_endpoint(h->m, "y/b")->identity, old_yb);
	assert_int_equal(model_regenerate(h->m, &changed, &n), 0);
	/*
	 * x/a's state admits the new identities, y's re-identified endpoints
	 * regenerate; x/b, x/c and z (same identity, no new peer) do not
	 */
	for (i = others = 0; i < n; i++)
		if (changed[i] != xa->id)
			others += !strcmp(model_endpoint_by_id(h->m, changed[i])->ns, "y");
	free(changed);
	assert_int_equal(n, 4);
	assert_int_equal(others, 3);
	check(h, "...111...");
	/* removing the label again flips it back */
	relabel(h, "y", "ns=y");
	assert_int_equal(model_regenerate(h->m, &changed, &n), 0);
	free(changed);
	assert_int_equal(n, 4);
	check(h, ".........");
}

/* A relabel of a namespace whose endpoints a policy selects by namespace label. */
static void test_namespace_relabel_selected(void **state)
{
	struct h *h = *state;
	uint32_t *changed = NULL;
	size_t n = 0, i;

	/* z's pods accept only from y; x/a keeps default allow */
	load(h,
	     "apiVersion: cilium.io/v2\nkind: CiliumClusterwideNetworkPolicy\nmetadata: {name: "
	     "c}\nspec:\n  endpointSelector: {matchLabels: "
	     "{k8s:io.cilium.k8s.namespace.labels.tier: locked}}\n  ingress:\n  - fromEndpoints: "
	     "[{matchLabels: {k8s:io.cilium.k8s.namespace.labels.ns: y}}]\n");
	assert_true(allows(h, "x/a", "z/a"));
	relabel(h, "z", "ns=z,tier=locked");
	assert_int_equal(model_regenerate(h->m, &changed, &n), 0);
	/* z's three endpoints become selected; nobody else changes */
	assert_int_equal(n, 3);
	for (i = 0; i < n; i++)
		assert_string_equal(model_endpoint_by_id(h->m, changed[i])->ns, "z");
	free(changed);
	assert_false(allows(h, "x/a", "z/a"));
	assert_true(allows(h, "y/c", "z/a"));
	/* the same labels again: nothing changes */
	relabel(h, "z", "tier=locked,ns=z");
	assert_int_equal(model_regenerate(h->m, &changed, &n), 0);
	assert_int_equal(n, 0);
	free(changed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_namespace_labels_derived, setup, teardown),
		cmocka_unit_test_setup_teardown(test_namespace_relabel_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_namespace_e2e_selector_match_labels, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_namespace_e2e_selector_match_expressions,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_namespace_e2e_pod_and_namespace, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_namespace_e2e_pod_or_namespace, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_namespace_e2e_updated_namespace, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_namespace_relabel_selected, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
