/* prom.c -- Prometheus text exposition: a family's HELP and TYPE, then its samples. */
#include <stdio.h>
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
}
