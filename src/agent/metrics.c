/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The metrics of /metrics beyond the datapath counters of api.c: Hubble's
 * flow metrics (src/monitor/hubble_metrics.c), the flows each policy rule
 * decided, and the agent metrics operators alert on, named as Cilium's
 * (velum_ for cilium_): endpoints by state, BPF map pressure, errors and
 * warnings by level and subsystem, policy import outcomes, and the process
 * metrics of Prometheus' clients (process_*); and the rule hits' file that
 * keeps them across restarts.
 */
#include "agent/agent_internal.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "lib/log.h"
#include "velum/conntrack.h"
#include "velum/ipcache.h"
#include "velum/maps.h"
#include "velum/policy.h"

struct rule_name {
	uint32_t id;
	char *ref;
};

/* The rule ids of every loaded policy, with their references (a->lock held). */
static struct rule_name *rule_names(struct agent *a, size_t *n)
{
	const struct pol_policy *const *ps;
	size_t np = pol_engine_policies(model_engine(a->m), &ps), i, r, d, e, cap = 0;
	struct rule_name *v = NULL;
	struct strbuf sb = STRBUF_INIT;

	*n = 0;
	for (i = 0; i < np; i++)
		for (r = 0; r < ps[i]->nrules; r++)
			for (d = 0; d < 2; d++)
				for (e = 0; e < ps[i]->rules[r].nentries[d]; e++) {
					uint32_t id = ps[i]->rules[r].entries[d][e].id;

					if (*n == cap) {
						struct rule_name *nv;

						cap = cap ? cap * 2 : 64;
						nv = realloc(v, cap * sizeof(*nv));
						if (!nv)
							goto out;
						v = nv;
					}
					strbuf_reset(&sb);
					pol_engine_rule_name(model_engine(a->m), id, &sb);
					v[*n].id = id;
					v[*n].ref = strdup(strbuf_str(&sb));
					if (!v[*n].ref)
						goto out;
					(*n)++;
				}
out:
	strbuf_free(&sb);
	return v;
}

/*
 * Rule hits across restarts: velumd keeps them in RULE_HITS_FILE of its
 * state directory, one "ALLOWED DENIED REFERENCE" line per rule with hits
 * (the reference: "CiliumNetworkPolicy default/x spec.ingress[0]"), written
 * whole (a temporary file renamed) every 10 s when they changed and at
 * stop; at start the counts of the rules loaded again are added back.
 */
#define RULE_HITS_FILE "rule-hits"

/* The text last written (NULL: none yet); hits are saved only once loaded. */
static char *hits_written;
static bool hits_loaded;

int agent_rule_hits_load(struct agent *a)
{
	char path[PATH_MAX], line[1024];
	struct rule_name *names;
	size_t nnames = 0, i, added = 0;
	FILE *f;

	hits_loaded = true;
	snprintf(path, sizeof(path), "%s/%s", a->o.state_dir, RULE_HITS_FILE);
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	pthread_mutex_lock(&a->lock);
	names = rule_names(a, &nnames);
	pthread_mutex_unlock(&a->lock);
	pthread_mutex_lock(&a->flow_lock);
	while (fgets(line, sizeof(line), f)) {
		unsigned long long al, de;
		int off = 0;

		line[strcspn(line, "\n")] = '\0';
		if (sscanf(line, "%llu %llu %n", &al, &de, &off) != 2 || !off)
			continue;
		for (i = 0; i < nnames; i++)
			if (!strcmp(names[i].ref, line + off))
				break;
		if (i < nnames &&
		    !mon_hubble_rule_add(&a->hubble, names[i].id, (struct mon_hm_rule){ al, de }))
			added++;
	}
	pthread_mutex_unlock(&a->flow_lock);
	fclose(f);
	for (i = 0; i < nnames; i++)
		free(names[i].ref);
	free(names);
	pr_debug("velumd: rule hits: %zu rule(s) kept their counts\n", added);
	return 0;
}

void agent_rule_hits_save(struct agent *a)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	struct strbuf sb = STRBUF_INIT;
	struct rule_name *names;
	size_t nnames = 0, i;
	FILE *f;

	if (!hits_loaded)
		return;
	pthread_mutex_lock(&a->lock);
	names = rule_names(a, &nnames);
	pthread_mutex_unlock(&a->lock);
	pthread_mutex_lock(&a->flow_lock);
	for (i = 0; i < nnames; i++) {
		struct mon_hm_rule h = mon_hubble_rule_hits(&a->hubble, names[i].id);

		if (h.allowed || h.denied)
			strbuf_printf(&sb, "%llu %llu %s\n", (unsigned long long)h.allowed,
				      (unsigned long long)h.denied, names[i].ref);
	}
	pthread_mutex_unlock(&a->flow_lock);
	for (i = 0; i < nnames; i++)
		free(names[i].ref);
	free(names);
	if (sb.oom || (hits_written && !strcmp(hits_written, strbuf_str(&sb))) ||
	    (!hits_written && !sb.len))
		goto out;
	snprintf(path, sizeof(path), "%s/%s", a->o.state_dir, RULE_HITS_FILE);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "we");
	if (!f || fwrite(strbuf_str(&sb), 1, sb.len, f) != sb.len || fclose(f) ||
	    rename(tmp, path)) {
		pr_warn("velumd: rule hits: cannot write %s: %s\n", path, strerror(errno));
		unlink(tmp);
		goto out;
	}
	free(hits_written);
	hits_written = strdup(strbuf_str(&sb));
out:
	strbuf_free(&sb);
}

static void message_sample(void *ctx, const char *level, const char *subsystem,
			   unsigned long long n)
{
	mon_metric_sample(ctx, "velum_errors_warnings_total",
			  (const char *const[]){ "level", level, "subsystem", subsystem, NULL },
			  (double)n);
}

static void pressure_sample(void *ctx, const char *name, uint32_t n, uint32_t max)
{
	mon_metric_sample(ctx, "velum_bpf_map_pressure",
			  (const char *const[]){ "map_name", name, NULL },
			  max ? (double)n / max : 0);
}

/* process_* as Prometheus' clients export them, from /proc/self. */
static void process_metrics(struct agent *a, struct strbuf *sb)
{
	unsigned long utime = 0, stime = 0, vsize = 0;
	long rss = 0, tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	struct rlimit rl;
	struct dirent *de;
	size_t fds = 0;
	char buf[1024], *p;
	FILE *f = fopen("/proc/self/stat", "r");
	DIR *d;

	if (f) {
		size_t len = fread(buf, 1, sizeof(buf) - 1, f);

		buf[len] = '\0';
		fclose(f);
		/* after the command's ')': state, then fields 4..; utime is 14, vsize 23 */
		p = strrchr(buf, ')');
		if (p && sscanf(p + 2,
				"%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d "
				"%*d %*d %*d %*u %lu %ld",
				&utime, &stime, &vsize, &rss) != 4)
			utime = stime = vsize = 0, rss = 0;
	}
	d = opendir("/proc/self/fd");
	while (d && (de = readdir(d)))
		fds += de->d_name[0] != '.';
	if (d) {
		closedir(d);
		fds--; /* the directory's own descriptor */
	}
	mon_metric_header(sb, "process_cpu_seconds_total", "counter",
			  "Total user and system CPU time spent in seconds");
	mon_metric_sample(sb, "process_cpu_seconds_total", NULL,
			  tick > 0 ? (double)(utime + stime) / (double)tick : 0);
	mon_metric_header(sb, "process_resident_memory_bytes", "gauge",
			  "Resident memory size in bytes");
	mon_metric_sample(sb, "process_resident_memory_bytes", NULL, (double)rss * (double)page);
	mon_metric_header(sb, "process_virtual_memory_bytes", "gauge",
			  "Virtual memory size in bytes");
	mon_metric_sample(sb, "process_virtual_memory_bytes", NULL, (double)vsize);
	mon_metric_header(sb, "process_open_fds", "gauge", "Number of open file descriptors");
	mon_metric_sample(sb, "process_open_fds", NULL, (double)fds);
	if (!getrlimit(RLIMIT_NOFILE, &rl)) {
		mon_metric_header(sb, "process_max_fds", "gauge",
				  "Maximum number of open file descriptors");
		mon_metric_sample(sb, "process_max_fds", NULL, (double)rl.rlim_cur);
	}
	mon_metric_header(sb, "process_start_time_seconds", "gauge",
			  "Start time of the process since unix epoch in seconds");
	mon_metric_sample(sb, "process_start_time_seconds", NULL, (double)a->started_ns / 1e9);
}

void agent_metrics_more(struct agent *a, struct strbuf *sb)
{
	const struct model_ep *const *eps;
	struct agent_summary sum;
	struct rule_name *names;
	struct strbuf hub = STRBUF_INIT;
	struct {
		uint32_t ep_id, n;
	} * pols;
	size_t nnames = 0, nep, i, j, npol = 0;
	uint64_t changes[2];

	pthread_mutex_lock(&a->lock);
	names = rule_names(a, &nnames);
	nep = model_endpoints(a->m, &eps);
	pols = calloc(nep ? nep : 1, sizeof(*pols));
	for (i = 0; pols && i < nep; i++) {
		const struct pol_mapstate *ms =
			pol_engine_endpoint_state(model_engine(a->m), eps[i]->id);

		if (ms) {
			pols[npol].ep_id = eps[i]->id;
			pols[npol++].n = (uint32_t)ms->n;
		}
	}
	memcpy(changes, a->policy_changes, sizeof(changes));
	pthread_mutex_unlock(&a->lock);

	pthread_mutex_lock(&a->flow_lock);
	mon_hubble_format(&a->hubble, &hub);
	mon_metric_header(&hub, "velum_policy_rule_hits_total", "counter",
			  "Policy verdicts (kernel and L7) each loaded rule decided, allowed or "
			  "denied (kept across restarts)");
	for (i = 0; i < nnames; i++) {
		struct mon_hm_rule h = mon_hubble_rule_hits(&a->hubble, names[i].id);
		char id[16];

		snprintf(id, sizeof(id), "%u", names[i].id);
		for (j = 0; j < 2; j++)
			mon_metric_sample(&hub, "velum_policy_rule_hits_total",
					  (const char *const[]){ "rule", names[i].ref, "rule_id",
								 id, "verdict",
								 j ? "denied" : "allowed", NULL },
					  (double)(j ? h.denied : h.allowed));
	}
	pthread_mutex_unlock(&a->flow_lock);
	for (i = 0; i < nnames; i++)
		free(names[i].ref);
	free(names);
	strbuf_puts(sb, strbuf_str(&hub));
	strbuf_free(&hub);

	sum = agent_summary(a);
	mon_metric_header(sb, "velum_endpoint_state", "gauge",
			  "Number of endpoints by state (error: its datapath failed)");
	mon_metric_sample(sb, "velum_endpoint_state",
			  (const char *const[]){ "endpoint_state", "ready", NULL },
			  (double)(sum.endpoints - sum.endpoints_failed));
	mon_metric_sample(sb, "velum_endpoint_state",
			  (const char *const[]){ "endpoint_state", "error", NULL },
			  (double)sum.endpoints_failed);
	mon_metric_header(sb, "velum_bpf_map_pressure", "gauge",
			  "Fill ratio of the BPF maps with a fill level (velum_pol_N: endpoint N's "
			  "policy map)");
	/* read without a->lock, as the datapath counters are: a scrape never waits for an import */
	dp_maps_fill(a->dp, pressure_sample, sb);
	for (i = 0; i < npol; i++) {
		char name[32];

		snprintf(name, sizeof(name), VELUM_POLICY_INNER_FMT, pols[i].ep_id);
		pressure_sample(sb, name, pols[i].n, VELUM_POLICY_MAP_MAX);
	}
	free(pols);
	mon_metric_header(sb, "velum_errors_warnings_total", "counter",
			  "Errors and warnings velumd logged, by level and subsystem");
	log_counts_foreach(message_sample, sb);
	mon_metric_header(sb, "velum_policy_change_total", "counter",
			  "Policy changes (imports and deletes), by outcome");
	mon_metric_sample(sb, "velum_policy_change_total",
			  (const char *const[]){ "outcome", "success", NULL }, (double)changes[0]);
	mon_metric_sample(sb, "velum_policy_change_total",
			  (const char *const[]){ "outcome", "fail", NULL }, (double)changes[1]);
	process_metrics(a, sb);
}
