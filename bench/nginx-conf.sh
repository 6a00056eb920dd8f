#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# Prints the nginx configuration of the benchmarks' hello-world origin
# (bench/l7.sh, bench/http.sh --server nginx): `return 200 "hello\n"` to
# every request, no logs, keep-alive without limits, its files in DIR.
#
#   bench/nginx-conf.sh DIR LISTEN WORKERS CONNECTIONS
#
# LISTEN as nginx's listen directive takes it (80, 127.0.0.1:8080).
dir=${1:?usage: nginx-conf.sh DIR LISTEN WORKERS CONNECTIONS}
listen=${2:?usage: nginx-conf.sh DIR LISTEN WORKERS CONNECTIONS}
workers=${3:?usage: nginx-conf.sh DIR LISTEN WORKERS CONNECTIONS}
conns=${4:?usage: nginx-conf.sh DIR LISTEN WORKERS CONNECTIONS}
cat <<CONF
worker_processes $workers;
worker_rlimit_nofile $((conns + 100));
pid $dir/nginx.pid;
error_log $dir/nginx.err;
events { worker_connections $conns; }
http {
	access_log off;
	client_body_temp_path $dir;
	proxy_temp_path $dir;
	fastcgi_temp_path $dir;
	uwsgi_temp_path $dir;
	scgi_temp_path $dir;
	keepalive_requests 100000000;
	keepalive_timeout 600s;
	server {
		listen $listen backlog=4096;
		location / { return 200 "hello\\n"; }
	}
}
CONF
