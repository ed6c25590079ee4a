/* The daemon's signals: which stop it, which reload it, which it only notes in the log. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "daemon.h"
#include "log.h"
#include "reload.h"
#include "signals.h"

enum signal_action {
	SIG_ACT_STOP,   /* SIGTERM, SIGINT: drain the first time, then stop at once; SIGQUIT: at once */
	SIG_ACT_RELOAD, /* SIGHUP: reload the .env file and the catalog */
	SIG_ACT_NOTE,   /* logged and ignored */
};

static const struct {
	int signo;
	const char *name;
	enum signal_action action;
} handled[] = {
	{ SIGTERM, "SIGTERM", SIG_ACT_STOP },
	{ SIGINT, "SIGINT", SIG_ACT_STOP },
	{ SIGQUIT, "SIGQUIT", SIG_ACT_STOP },
	{ SIGHUP, "SIGHUP", SIG_ACT_RELOAD },
	{ SIGUSR1, "SIGUSR1", SIG_ACT_NOTE },
	{ SIGUSR2, "SIGUSR2", SIG_ACT_NOTE },
	{ SIGALRM, "SIGALRM", SIG_ACT_NOTE },
	{ SIGVTALRM, "SIGVTALRM", SIG_ACT_NOTE },
	{ SIGPROF, "SIGPROF", SIG_ACT_NOTE },
	{ SIGIO, "SIGIO", SIG_ACT_NOTE }, /* also SIGPOLL */
	{ SIGXCPU, "SIGXCPU", SIG_ACT_NOTE },
	{ SIGXFSZ, "SIGXFSZ", SIG_ACT_NOTE },
	{ SIGPWR, "SIGPWR", SIG_ACT_NOTE },
	{ SIGSTKFLT, "SIGSTKFLT", SIG_ACT_NOTE },
	{ SIGTRAP, "SIGTRAP", SIG_ACT_NOTE },
};
#define NHANDLED (sizeof(handled) / sizeof(handled[0]))

/* One watcher per signal: those of the table, then SIGRTMIN..SIGRTMAX. */
struct signals {
	size_t n;
	ev_signal w[];
};

static void signal_name(int signo, char *buf, size_t len)
{
	for (size_t i = 0; i < NHANDLED; i++) {
		if (handled[i].signo == signo) {
			snprintf(buf, len, "%s", handled[i].name);
			return;
		}
	}
	snprintf(buf, len, "SIGRTMIN+%d", signo - SIGRTMIN);
}

static enum signal_action signal_action(int signo)
{
	for (size_t i = 0; i < NHANDLED; i++)
		if (handled[i].signo == signo)
			return handled[i].action;
	return SIG_ACT_NOTE;
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct daemon *d = w->data;
	char name[32];
	(void)revents;

	signal_name(w->signum, name, sizeof(name));
	switch (signal_action(w->signum)) {
	case SIG_ACT_STOP: {
		char why[64];

		(void)loop;
		if (d->finishing) {
			log_info("received %s: already stopping (closing the servers)", name);
			break;
		}
		snprintf(why, sizeof(why), "received %s%s", name, d->draining ? " again" : "");
		/* SIGQUIT, or a second SIGTERM/SIGINT, stops at once; the first drains. */
		if (w->signum == SIGQUIT || d->stopping)
			daemon_stop_now(d, why);
		else
			daemon_drain(d, why);
		break;
	}
	case SIG_ACT_RELOAD: {
		char why[64], err[1024];

		/* reload_run() logs the outcome, a refusal included. */
		snprintf(why, sizeof(why), "received %s", name);
		json_decref(reload_run(d, why, err, sizeof(err)));
		break;
	}
	case SIG_ACT_NOTE:
		log_warn("received %s: ignored (mcppoold stops on SIGTERM, SIGINT or SIGQUIT)",
			 name);
		break;
	}
}

int signals_start(struct daemon *d)
{
	size_t nrt = SIGRTMAX >= SIGRTMIN ? (size_t)(SIGRTMAX - SIGRTMIN + 1) : 0;
	struct signals *s = calloc(1, sizeof(*s) + (NHANDLED + nrt) * sizeof(ev_signal));

	if (!s)
		return -1;
	for (size_t i = 0; i < NHANDLED + nrt; i++) {
		int signo = i < NHANDLED ? handled[i].signo : SIGRTMIN + (int)(i - NHANDLED);

		if (signo >= NSIG)
			break; /* libev cannot watch it: it keeps its default */
		ev_signal_init(&s->w[i], on_signal, signo);
		s->w[i].data = d;
		ev_signal_start(d->loop, &s->w[i]);
		s->n++;
	}
	d->signals = s;
	return 0;
}

void signals_stop(struct daemon *d)
{
	struct signals *s = d->signals;
	sigset_t set, old;

	if (!s)
		return;
	/*
	 * Stopping a watcher gives its signal the default action back, which for
	 * most of them ends the process: block them meanwhile, then ignore them
	 * (which discards one already pending), so a late SIGTERM cannot turn a
	 * clean exit into a death by signal.
	 */
	sigemptyset(&set);
	for (size_t i = 0; i < s->n; i++)
		sigaddset(&set, s->w[i].signum);
	sigprocmask(SIG_BLOCK, &set, &old);
	for (size_t i = 0; i < s->n; i++) {
		ev_signal_stop(d->loop, &s->w[i]);
		signal(s->w[i].signum, SIG_IGN);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	free(s);
	d->signals = NULL;
}
