/* conf.c -- daemon settings: a YAML config file, then flags (flags win). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"
#include "daemon.h"
#include "ytree.h"

bool
daemon_parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	return errno == 0 && *end == '\0' && end != s && s[0] != '-' && *out <= max;
}

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

/* Options every daemon has; false when KEY is not one. */
static bool
common(const char *key, const char *val, bool *ok)
{
	enum log_level lvl;

	if (strcmp(key, "log-level") != 0)
		return false;
	*ok = log_parse_level(val, &lvl);
	if (*ok)
		log_set_level(lvl);
	return true;
}

static bool
apply_one(daemon_apply_fn apply, void *ctx, const char *key, const char *val, char *err,
          size_t errlen)
{
	bool ok;

	if (common(key, val, &ok)) {
		if (!ok)
			snprintf(err, errlen, "%s: invalid value \"%s\"", key, val);
		return ok;
	}
	return apply(ctx, key, val, err, errlen);
}

/* Apply every key of the mapping in PATH; a list value applies its items in order. */
static enum svc_status
load_config(const char *path, struct arena *a, daemon_apply_fn apply, void *ctx)
{
	struct diag d;
	struct ydoc *docs = NULL;
	size_t n_docs = 0, len = 0;
	char *buf = NULL;
	enum svc_status st = SVC_EINVAL;
	FILE *f = fopen(path, "r");
	long size;

	diag_init(&d);
	if (f == NULL) {
		log_msg(LOG_ERROR, "%s: %s", path, strerror(errno));
		goto done;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
		goto done;
	buf = arena_alloc(a, (size_t)size + 1);
	if (buf == NULL)
		goto done;
	len = fread(buf, 1, (size_t)size, f);
	buf[len] = '\0';
	if (ytree_parse(a, path, buf, len, &d, &docs, &n_docs) != SVC_OK || n_docs > 1) {
		diag_print(&d, stderr);
		if (n_docs > 1)
			log_msg(LOG_ERROR, "%s: one document expected", path);
		goto done;
	}
	if (n_docs == 0 || docs[0].root == NULL) {
		st = SVC_OK;
		goto done;
	}
	if (docs[0].root->type != YNODE_MAP) {
		log_msg(LOG_ERROR, "%s:%u: a mapping of option: value expected", path,
		        docs[0].root->line);
		goto done;
	}
	for (size_t i = 0; i < docs[0].root->n; i++) {
		const struct yentry *e = &docs[0].root->entries[i];
		const struct ynode *v = e->value;
		size_t n = v->type == YNODE_SEQ ? v->n : 1;
		char err[256];

		for (size_t j = 0; j < n; j++) {
			const struct ynode *item = v->type == YNODE_SEQ ? v->items[j] : v;

			if (item->type != YNODE_SCALAR) {
				log_msg(LOG_ERROR, "%s:%u:%u: %s: a value expected", path,
				        item->line, item->col, e->key->text);
				goto done;
			}
			if (!apply_one(apply, ctx, e->key->text, item->text, err, sizeof(err))) {
				log_msg(LOG_ERROR, "%s:%u:%u: %s", path, item->line, item->col,
				        err);
				goto done;
			}
		}
	}
	st = SVC_OK;
done:
	if (f != NULL)
		fclose(f);
	diag_deinit(&d);
	return st;
}

enum svc_status
daemon_args(int argc, char **argv, const struct option *longopts, const char *usage,
            daemon_apply_fn apply, void *ctx, bool *check)
{
	static struct arena config_arena; /* config strings live as long as the process */
	const char *config = NULL;
	char err[256];
	int c;

	*check = false;
	/* The config file first, so flags override it. */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			config = argv[i + 1];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			config = argv[i] + 9;
	}
	arena_init(&config_arena);
	if (config != NULL && load_config(config, &config_arena, apply, ctx) != SVC_OK)
		return SVC_EINVAL;
	/* A new source: repeatable options start their list afresh. */
	apply(ctx, NULL, NULL, err, sizeof(err));

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		const char *key = NULL;

		if (c == 'h') {
			fputs(usage, stdout);
			exit(0);
		}
		if (c == '?') {
			fputs(usage, stderr);
			return SVC_EINVAL;
		}
		for (const struct option *lo = longopts; lo->name != NULL; lo++) {
			if (lo->val == c)
				key = lo->name;
		}
		if (key == NULL)
			continue;
		if (strcmp(key, "config") == 0)
			continue;
		if (strcmp(key, "check") == 0) {
			*check = true;
			continue;
		}
		if (!apply_one(apply, ctx, key, optarg != NULL ? optarg : "true", err,
		               sizeof(err))) {
			log_msg(LOG_ERROR, "--%s", err);
			return SVC_EINVAL;
		}
	}
	if (optind < argc) {
		log_msg(LOG_ERROR, "unexpected argument \"%s\"", argv[optind]);
		fputs(usage, stderr);
		return SVC_EINVAL;
	}
	return SVC_OK;
}
