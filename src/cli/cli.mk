# SPDX-License-Identifier: Apache-2.0
# velum: the command line (talks to velumd over its unix socket; the offline
# policy commands need no agent). The bash completion script in contrib/ is
# compiled in for `velum completion bash`.
bins += velum
velum_srcs = src/cli/velum.c $(client_srcs) src/cli/trace.c src/cli/request.c src/cli/table.c \
	src/cli/endpoint.c src/cli/namespace.c src/cli/policy.c src/cli/info.c src/cli/observe.c src/cli/output.c \
	src/cli/dryrun.c \
	$(mon_srcs) src/monitor/flow_json.c
velum_libs := jansson

$(BUILD)/gen/velum_completion.h: contrib/bash-completion/velum
	$(call msg,GEN,$@)
	@mkdir -p $(@D)
	$(Q){ echo '/* generated from contrib/bash-completion/velum */'; \
	  echo 'static const char velum_completion_bash[] ='; \
	  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/\t"/' -e 's/$$/\\n"/' $<; \
	  echo ';'; } >$@

$(BUILD)/obj/src/cli/velum.o: $(BUILD)/gen/velum_completion.h
