/* conf.c -- daemon settings: a YAML config file, then flags (flags win). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arena.h"
#include "cluster.h"
#include "daemon.h"
#include "mtree.h"
#include "ytree.h"

const char *
daemon_default_zones(const char *env_var, const char *etc_dir)
{
	const char *env = getenv(env_var);

	if (env != NULL && env[0] != '\0')
		return env;
	if (access(etc_dir, R_OK) == 0)
		return etc_dir;
	return "zones";
}

const char *
daemon_default_status_dir(void)
{
	const char *env = getenv("SVCDNS_STATUS_DIR");

	return env != NULL && env[0] != '\0' ? env : DAEMON_STATUS_DIR_DEFAULT;
}

void
daemon_etcd_defaults(struct daemon_etcd *e)
{
	const char *env = getenv("SVCDNS_ETCD");

	if (e->urls == NULL && env != NULL && env[0] != '\0')
		e->urls = env;
	if (e->prefix == NULL)
		e->prefix = "/svcdns";
}

bool
daemon_opt_log_level(const struct opt *o, void *opts, const char *val, bool first, char *err,
                     size_t errlen)
{
	enum log_level lvl;
	(void)o;
	(void)opts;
	(void)first;
	(void)err;
	(void)errlen;

	if (!log_parse_level(val, &lvl))
		return false;
	log_set_level(lvl);
	return true;
}

bool
opt_parse_http(const struct opt *o, void *opts, const char *val, bool first, char *err,
               size_t errlen)
{
	struct daemon_addr a;
	(void)first;

	if (!addr_parse(val, 0, &a) || addr_port(&a) == 0) {
		snprintf(err, errlen, "%s: \"%s\" is not ADDR:PORT", o->name, val);
		return false;
	}
	*OPT_AT(o, opts, const char *) = val;
	return true;
}

bool
opt_parse_service_cidrs(const struct opt *o, void *opts, const char *val, bool first, char *err,
                        size_t errlen)
{
	(void)first;
	if (cluster_config_set_cidrs(OPT_AT(o, opts, struct cluster_config), val) == SVC_OK)
		return true;
	snprintf(err, errlen,
	         "%s %s: expected one or two CIDRs (one per family) with 3 to 24 host bits",
	         o->name, val);
	return false;
}

bool
opt_parse_lb_pools(const struct opt *o, void *opts, const char *val, bool first, char *err,
                   size_t errlen)
{
	(void)first;
	if (cluster_config_set_lb_pools(OPT_AT(o, opts, struct cluster_config), val) == SVC_OK)
		return true;
	snprintf(err, errlen, "%s %s: expected one or two CIDRs (one per family)", o->name, val);
	return false;
}

/* A config file is a few lines; anything near this is a mistake. */
#define CONF_MAX_BYTES (1u << 20)

/* Apply every key of the mapping in PATH; a list value applies its items in order. PATH is
 * read as manifests are (cluster/mtree.h): a regular file, opened without blocking. */
static enum svc_status
load_config(const struct opt_table *t, void *opts, const char *path, struct arena *a)
{
	struct diag d;
	struct ydoc *docs = NULL;
	size_t n_docs = 0, len = 0;
	char *buf = NULL;
	enum svc_status st = SVC_EINVAL;
	struct stat sb;
	int fd;

	diag_init(&d);
	fd = mtree_open(path, &sb, &d);
	if (fd < 0 || mtree_read(fd, path, &sb, CONF_MAX_BYTES, &d, &buf, &len) != SVC_OK) {
		log_diag(&d);
		goto done;
	}
	if (ytree_parse(a, path, buf, len, &d, &docs, &n_docs) != SVC_OK || n_docs > 1) {
		diag_print(&d, stderr);
		if (n_docs > 1)
			log_msg(LL_ERROR, "%s: one document expected", path);
		goto done;
	}
	if (n_docs == 0 || docs[0].root == NULL) {
		st = SVC_OK;
		goto done;
	}
	if (docs[0].root->type != YNODE_MAP) {
		log_msg(LL_ERROR, "%s:%u: a mapping of option: value expected", path,
		        docs[0].root->line);
		goto done;
	}
	for (size_t i = 0; i < docs[0].root->n; i++) {
		const struct yentry *e = &docs[0].root->entries[i];
		const struct ynode *v = e->value;
		const struct opt *o = opt_find(t, e->key->text);
		size_t n = v->type == YNODE_SEQ ? v->n : 1;
		char err[256];

		if (o == NULL || (o->flags & OPT_FLAG_ONLY) || o->type == OPT_HELP) {
			log_msg(LL_ERROR, "%s:%u:%u: %s: unknown option", path, e->key->line,
			        e->key->col, e->key->text);
			goto done;
		}
		if (v->type == YNODE_SEQ && !(o->flags & OPT_LIST)) {
			log_msg(LL_ERROR, "%s:%u:%u: %s: one value expected, not a list", path,
			        v->line, v->col, e->key->text);
			goto done;
		}
		for (size_t j = 0; j < n; j++) {
			const struct ynode *item = v->type == YNODE_SEQ ? v->items[j] : v;

			if (item->type != YNODE_SCALAR) {
				log_msg(LL_ERROR, "%s:%u:%u: %s: a value expected", path,
				        item->line, item->col, e->key->text);
				goto done;
			}
			if (!opt_set(o, opts, item->text, j == 0, err, sizeof(err))) {
				log_msg(LL_ERROR, "%s:%u:%u: %s", path, item->line, item->col, err);
				goto done;
			}
		}
	}
	st = SVC_OK;
done:
	if (fd >= 0)
		close(fd);
	free(buf);
	diag_deinit(&d);
	return st;
}

enum svc_status
daemon_args(const struct opt_table *t, void *opts, int argc, char **argv)
{
	static struct arena config_arena; /* config strings live as long as the process */
	const char *config = NULL;
	int args;

	/* The config file first, so flags override it. */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			config = argv[i + 1];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			config = argv[i] + 9;
	}
	arena_init(&config_arena);
	if (config != NULL && load_config(t, opts, config, &config_arena) != SVC_OK)
		return SVC_EINVAL;
	if (opt_parse_argv(t, opts, argc, argv, &args) != SVC_OK)
		return SVC_EINVAL;
	if (args < argc) {
		log_msg(LL_ERROR, "unexpected argument \"%s\"", argv[args]);
		return SVC_EINVAL;
	}
	return SVC_OK;
}
