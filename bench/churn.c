/* churn.c -- memory over a stream of changes, with the libraries alone (bench/churn.sh builds
 * and runs it): what svcdns's builder holds (the store of DIR's files, its last snapshot, the
 * zone), read after each round of changes as RSS and as the bytes malloc has in use
 * (mallinfo2), so the allocator's share of any growth shows.
 *
 * usage: churn DIR ROUNDS CHANGE_CMD RESTORE_CMD
 *   each round runs CHANGE_CMD (which rewrites files of DIR) and builds; then RESTORE_CMD and two
 *   builds. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

#include "cluster.h"
#include "dirsrc.h"
#include "dnsz.h"
#include "store.h"

static struct store *store;
static struct dirsrc *src;
static struct dnsz_builder *zb;
static struct dnsz *zone;

static void
report(const char *what)
{
	struct mallinfo2 m;
	char line[256];
	long rss = 0;
	FILE *f;

	malloc_trim(0); /* as the daemons do after each build */
	m = mallinfo2();
	f = fopen("/proc/self/status", "r");
	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld", &rss) == 1)
			break;
	if (f != NULL)
		fclose(f);
	printf("%-12s RSS %5ld MB  in use %5zu MB\n", what, rss / 1024,
	       (m.uordblks + m.hblkhd) >> 20);
	fflush(stdout);
}

static int
build(void)
{
	struct cluster *c = NULL;
	struct dnsz *z = NULL;
	struct diag d;
	int rc = 0;

	diag_init(&d);
	if (dirsrc_scan(src, store, &d, NULL) == SVC_EIO ||
	    store_snapshot(store, &d, &c) != SVC_OK || dnsz_update(zb, c, &z) != SVC_OK)
		rc = -1;
	if (z != NULL) {
		dnsz_unref(zone);
		zone = z;
	}
	cluster_unref(c);
	diag_deinit(&d);
	return rc;
}

int
main(int argc, char **argv)
{
	struct dnsz_options zo = {.domain = "cluster.local", .ttl = 5};
	struct cluster_config cfg;
	char what[32];
	int rounds;

	if (argc != 5) {
		fprintf(stderr, "usage: churn DIR ROUNDS CHANGE_CMD RESTORE_CMD\n");
		return 2;
	}
	rounds = atoi(argv[2]);
	cluster_config_init(&cfg);
	cfg.skip_endpoints_view = true; /* as the daemons */
	if (store_create(&cfg, &store) != SVC_OK || dirsrc_create(argv[1], &src) != SVC_OK ||
	    dnsz_builder_create(&zo, &zb) != SVC_OK || build() != 0)
		return 1;
	dirsrc_racy_window(src, -1); /* every rewrite is a rename: a new inode */
	report("start");
	for (int r = 1; r <= rounds; r++) {
		if (system(argv[3]) != 0 || build() != 0)
			return 1;
		snprintf(what, sizeof(what), "round %d", r);
		if (r % 20 == 0 || r == rounds)
			report(what);
	}
	if (system(argv[4]) != 0 || build() != 0 || build() != 0)
		return 1;
	report("restored");
	dnsz_unref(zone);
	dnsz_builder_destroy(zb);
	dirsrc_destroy(src);
	store_destroy(store);
	return 0;
}
