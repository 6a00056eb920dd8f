/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Access events as JSON lines, with Hubble's names for the fields of an
 * L7 flow (`l7.type`, `l7.latency_ns`, `l7.http.{code,method,url,protocol}`).
 */
#include "proxy/access.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lib/strbuf.h"

static void put_peer(struct strbuf *sb, const char *key, const struct px_ev_peer *p)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	char ip[INET6_ADDRSTRLEN] = "";

	if (!memcmp(p->addr, mapped, sizeof(mapped)))
		inet_ntop(AF_INET, p->addr + 12, ip, sizeof(ip));
	else
		inet_ntop(AF_INET6, p->addr, ip, sizeof(ip));
	strbuf_printf(sb, "\"%s\":{\"ip\":\"%s\",\"port\":%u,\"identity\":%u}", key, ip, p->port,
		      p->identity);
}

static void put_str(struct strbuf *sb, const char *key, const char *s)
{
	strbuf_printf(sb, "\"%s\":", key);
	strbuf_json_str(sb, s, strlen(s));
}

int px_access_format_json(const struct px_access_event *ev, struct strbuf *sb)
{
	static const char *const verdicts[] = { "", "FORWARDED", "DROPPED", "ERROR" };
	time_t secs = (time_t)(ev->time_ns / 1000000000u);
	struct tm tm;
	char ts[32], url[sizeof(ev->host) + sizeof(ev->url) + 8];
	int u_len;

	gmtime_r(&secs, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	strbuf_printf(sb, "{\"time\":\"%s.%09uZ\",\"verdict\":\"%s\",", ts,
		      (unsigned)(ev->time_ns % 1000000000u), verdicts[ev->verdict & 3]);
	put_peer(sb, "source", &ev->src);
	strbuf_putc(sb, ',');
	put_peer(sb, "destination", &ev->dst);
	if (ev->direction == PX_DIR_INGRESS || ev->direction == PX_DIR_EGRESS)
		strbuf_printf(sb, ",\"traffic_direction\":\"%s\"",
			      ev->direction == PX_DIR_INGRESS ? "INGRESS" : "EGRESS");
	strbuf_printf(sb, ",\"type\":\"L7\",\"l7\":{\"type\":\"%s\",",
		      ev->type == PX_EV_RESPONSE ? "RESPONSE" : "REQUEST");
	if (ev->type == PX_EV_RESPONSE)
		strbuf_printf(sb, "\"latency_ns\":%llu,", (unsigned long long)ev->latency_ns);
	strbuf_puts(sb, "\"http\":{");
	if (ev->status)
		strbuf_printf(sb, "\"code\":%u,", ev->status);
	put_str(sb, "method", ev->method);
	/* Hubble's url is absolute: scheme and host in front of the judged target. */
	strbuf_puts(sb, ",\"url\":");
	u_len = snprintf(url, sizeof(url), "http://%s%s", ev->host, ev->url);
	strbuf_json_str(sb, url, u_len < (int)sizeof(url) ? (size_t)u_len : sizeof(url) - 1);
	strbuf_printf(sb, ",\"protocol\":\"HTTP/%u.%u\"}},", ev->http_major, ev->http_minor);
	if (ev->rule >= 0)
		strbuf_printf(sb, "\"rule\":%d,\"rule_line\":%u,", ev->rule, ev->rule_line);
	if (ev->rule_name[0]) {
		put_str(sb, "rule_name", ev->rule_name);
		strbuf_putc(sb, ',');
	}
	put_str(sb, "reason", ev->reason);
	strbuf_putc(sb, '}');
	return sb->oom ? -ENOMEM : 0;
}
