/* signals.c -- a daemon's signals on its event loop: SIGHUP asks the builder thread for a
 * rebuild (the loop goes on serving), SIGTERM and SIGINT stop the loop. */
#include <event2/event.h>
#include <signal.h>
#include <stdlib.h>

#include "builder.h"
#include "daemon.h"

static const int sigs[] = {SIGHUP, SIGTERM, SIGINT};
#define N_SIGS (sizeof(sigs) / sizeof(sigs[0]))

struct daemon_signals {
	struct event_base *base;
	struct builder *const *builder;
	const char *zones;
	struct event *ev[N_SIGS];
};

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct daemon_signals *s = arg;
	(void)what;

	if (sig == SIGHUP) {
		log_msg(LL_INFO, "SIGHUP: reloading %s", s->zones);
		if (*s->builder != NULL)
			builder_reload(*s->builder);
		return;
	}
	log_msg(LL_INFO, "%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	event_base_loopbreak(s->base);
}

enum svc_status
daemon_signals_start(struct event_base *base, struct builder *const *builder, const char *zones,
                     struct daemon_signals **out)
{
	struct daemon_signals *s = calloc(1, sizeof(*s));
	enum svc_status st = SVC_ENOMEM;

	*out = s;
	if (s == NULL)
		goto done;
	s->base = base;
	s->builder = builder;
	s->zones = zones;
	for (size_t i = 0; i < N_SIGS; i++) {
		s->ev[i] = evsignal_new(base, sigs[i], on_signal, s);
		if (s->ev[i] == NULL || event_add(s->ev[i], NULL) != 0)
			goto done;
	}
	st = SVC_OK;
done:
	return st;
}

void
daemon_signals_stop(struct daemon_signals *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < N_SIGS; i++) {
		if (s->ev[i] != NULL)
			event_free(s->ev[i]);
	}
	free(s);
}
