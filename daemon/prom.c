/* prom.c -- Prometheus text exposition: a family's HELP and TYPE, then its samples. */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <event2/buffer.h>

#include "daemon.h"

void
prom_family(struct evbuffer *b, const char *name, const char *type, const char *help)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void
prom_u64(struct evbuffer *b, const char *name, const char *labels, uint64_t v)
{
	evbuffer_add_printf(b, "%s%s %lu\n", name, labels ? labels : "", (unsigned long)v);
}

void
prom_scalars(struct evbuffer *b, const struct prom_scalar *table, size_t n, const void *values)
{
	for (size_t i = 0; i < n; i++) {
		const struct prom_scalar *p = &table[i];

		prom_family(b, p->name, p->gauge ? "gauge" : "counter", p->help);
		prom_u64(b, p->name, NULL, *(const uint64_t *)((const char *)values + p->off));
	}
}

void
prom_reloads(struct evbuffer *b, const char *prefix, struct daemon_reload *r)
{
	char name[64];

	snprintf(name, sizeof(name), "%s_reloads_total", prefix);
	prom_family(b, name, "counter", "Manifest reloads, by result.");
	prom_u64(b, name, "{result=\"ok\"}", atomic_load(&r->ok));
	prom_u64(b, name, "{result=\"error\"}", atomic_load(&r->failed));
	snprintf(name, sizeof(name), "%s_manifest_files_in_error", prefix);
	prom_family(b, name, "gauge",
	            "Manifest files whose last version is invalid (they serve their last good "
	            "objects).");
	prom_u64(b, name, NULL, atomic_load(&r->files_in_error));
	snprintf(name, sizeof(name), "%s_reload_duration_seconds", prefix);
	prom_family(b, name, "gauge", "How long the last good reload took.");
	evbuffer_add_printf(b, "%s %.3f\n", name, (double)atomic_load(&r->last_ms) / 1e3);
}

void
prom_store(struct evbuffer *b, const char *prefix, struct daemon_store *s)
{
	static const char *const states[DAEMON_STORE_STATES] = {"connecting", "listing", "watching",
	                                                        "down", "config-mismatch"};
	const struct {
		const char *name, *type, *help;
	} fam[] = {
	        {"store_state", "gauge",
	         "The etcd source's state: 1 for the one it is in (down and config-mismatch serve "
	         "the last state)."},
	        {"store_up", "gauge", "1 while following etcd's changes."},
	        {"store_last_update_age_seconds", "gauge",
	         "Seconds since the last list or change came from etcd (-1: none yet)."},
	        {"store_revision", "gauge", "The last etcd revision seen."},
	        {"store_relists_total", "counter",
	         "Lists after the first (a compacted revision, SIGHUP, changed settings)."},
	        {"store_reconnects_total", "counter", "Watch streams opened again after a break."},
	        {"store_invalid_objects", "gauge",
	         "Keys whose last value is invalid (reported; their last good version serves)."},
	};
	char name[96], labels[48];
	int state = atomic_load(&s->state);
	uint64_t last = atomic_load(&s->last_update_ms);
	size_t i;

	for (i = 0; i < sizeof(fam) / sizeof(fam[0]); i++) {
		snprintf(name, sizeof(name), "%s_%s", prefix, fam[i].name);
		prom_family(b, name, fam[i].type, fam[i].help);
		switch (i) {
		case 0:
			for (int k = 0; k < DAEMON_STORE_STATES; k++) {
				snprintf(labels, sizeof(labels), "{state=\"%s\"}", states[k]);
				prom_u64(b, name, labels, k == state);
			}
			break;
		case 1:
			prom_u64(b, name, NULL, state == DAEMON_STORE_WATCHING);
			break;
		case 2:
			if (last == 0)
				evbuffer_add_printf(b, "%s -1\n", name);
			else
				evbuffer_add_printf(b, "%s %.3f\n", name,
				                    (double)(now_ms() - last) / 1000.0);
			break;
		case 3:
			prom_u64(b, name, NULL, (uint64_t)atomic_load(&s->revision));
			break;
		case 4:
			prom_u64(b, name, NULL, atomic_load(&s->relists));
			break;
		case 5:
			prom_u64(b, name, NULL, atomic_load(&s->reconnects));
			break;
		default:
			prom_u64(b, name, NULL, atomic_load(&s->invalid));
			break;
		}
	}
}

/* The open descriptors: the entries of /proc/self/fd, less the one reading it. */
static uint64_t
open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	uint64_t n = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n > 0 ? n - 1 : 0;
}

void
prom_process(struct evbuffer *b)
{
	static double start_s; /* the first scrape's idea of the start: boot time + start ticks */
	struct rlimit rl;
	struct rusage ru;
	long pages = 0, page = sysconf(_SC_PAGESIZE), tck = sysconf(_SC_CLK_TCK);
	FILE *f;

	prom_family(b, "process_open_fds", "gauge", "Open file descriptors.");
	prom_u64(b, "process_open_fds", NULL, open_fds());
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		prom_family(b, "process_max_fds", "gauge", "The limit of open file descriptors.");
		prom_u64(b, "process_max_fds", NULL, (uint64_t)rl.rlim_cur);
	}
	f = fopen("/proc/self/statm", "r");
	if (f != NULL && fscanf(f, "%*s %ld", &pages) == 1) {
		prom_family(b, "process_resident_memory_bytes", "gauge", "Resident memory.");
		prom_u64(b, "process_resident_memory_bytes", NULL,
		         (uint64_t)pages * (uint64_t)page);
	}
	if (f != NULL)
		fclose(f);
	if (getrusage(RUSAGE_SELF, &ru) == 0) {
		prom_family(b, "process_cpu_seconds_total", "counter", "User and system CPU time.");
		evbuffer_add_printf(b, "process_cpu_seconds_total %.3f\n",
		                    (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
		                            (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) /
		                                    1e6);
	}
	if (start_s == 0) {
		unsigned long long ticks = 0;
		double btime = 0;
		char line[256];

		f = fopen("/proc/self/stat", "r");
		/* Field 22, after the command in parentheses, which may hold spaces. */
		if (f != NULL && fgets(line, sizeof(line), f) != NULL && strrchr(line, ')') != NULL)
			sscanf(strrchr(line, ')') + 2,
			       "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d "
			       "%*d "
			       "%*d %*d %llu",
			       &ticks);
		if (f != NULL)
			fclose(f);
		f = fopen("/proc/stat", "r");
		while (f != NULL && fgets(line, sizeof(line), f) != NULL)
			if (sscanf(line, "btime %lf", &btime) == 1)
				break;
		if (f != NULL)
			fclose(f);
		if (btime > 0 && tck > 0)
			start_s = btime + (double)ticks / (double)tck;
	}
	if (start_s > 0) {
		prom_family(b, "process_start_time_seconds", "gauge",
		            "When the process started, in seconds since the epoch.");
		evbuffer_add_printf(b, "process_start_time_seconds %.2f\n", start_s);
	}
}
