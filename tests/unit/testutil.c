/* testutil.c -- helpers shared by the unit tests. */
#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct cluster *
tu_build(const char *yaml, const struct cluster_config *cfg, struct diag *d)
{
	struct cluster_objects objs;
	struct cluster_config def;
	struct cluster *c = NULL;
	size_t errors = d->errors;

	if (cfg == NULL) {
		cluster_config_init(&def);
		cfg = &def;
	}
	cluster_objects_init(&objs);
	cluster_objects_load_buffer(&objs, "test.yaml", yaml, strlen(yaml), d);
	if (d->errors == errors)
		cluster_build(&objs, cfg, d, &c);
	cluster_objects_deinit(&objs);
	return c;
}

struct cluster *
tu_build_ok(const char *yaml, const struct cluster_config *cfg, struct diag *d)
{
	struct cluster *c;

	diag_init(d);
	c = tu_build(yaml, cfg, d);
	if (c == NULL) {
		tu_dump(d);
		fail_msg("build failed");
	}
	return c;
}

static bool
tu_diag_match(const struct diag_entry *e, enum diag_level level, const char *field,
              const char *needle)
{
	/* Out of memory, diag_add keeps an entry without its text: it matches no FIELD or NEEDLE.
	 */
	return e->level == level &&
	       (field == NULL || (e->field != NULL && strcmp(e->field, field) == 0)) &&
	       (needle == NULL || (e->message != NULL && strstr(e->message, needle) != NULL));
}

const struct diag_entry *
tu_diag_find(const struct diag *d, enum diag_level level, const char *field, const char *needle)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		if (tu_diag_match(&d->entries[i], level, field, needle))
			return &d->entries[i];
	return NULL;
}

size_t
tu_diag_count(const struct diag *d, enum diag_level level, const char *field, const char *needle)
{
	size_t i, n = 0;

	for (i = 0; i < d->n; i++)
		if (tu_diag_match(&d->entries[i], level, field, needle))
			n++;
	return n;
}

const struct diag_entry *
tu_diag_expect_at(const struct diag *d, enum diag_level level, const char *field,
                  const char *needle, const char *file, int line)
{
	const struct diag_entry *e = tu_diag_find(d, level, field, needle);

	if (e == NULL) {
		tu_dump(d);
		print_error("no %s at %s containing \"%s\"\n",
		            level == DIAG_ERROR ? "error" : "warning", field ? field : "-",
		            needle ? needle : "-");
		_fail(file, line);
	}
	return e;
}

void
tu_dump(const struct diag *d)
{
	diag_print(d, stderr);
}

char *
tu_tmpdir(void)
{
	char tmpl[] = "/tmp/svctest.XXXXXX";
	char *p = mkdtemp(tmpl);

	return p ? strdup(p) : NULL;
}

void
tu_rmrf(const char *path)
{
	char cmd[4200];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", path);
}

void
tu_write(const char *dir, const char *name, const char *text)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (f == NULL)
		return;
	fputs(text, f);
	fclose(f);
}

double
tu_cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void
tu_mkdir(const char *dir, const char *name)
{
	char p[4096];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	assert_int_equal(mkdir(p, 0755), 0);
}

void
tu_symlink(const char *dir, const char *name, const char *target)
{
	char p[4096];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	assert_int_equal(symlink(target, p), 0);
}

void
tu_rename(const char *dir, const char *from, const char *to)
{
	char a[4096], b[4096];

	snprintf(a, sizeof(a), "%s/%s", dir, from);
	snprintf(b, sizeof(b), "%s/%s", dir, to);
	assert_int_equal(rename(a, b), 0);
}

int
tu_free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

bool
tu_etcd_start(struct tu_etcd *e)
{
	char purl[64], cmd[160];
	int i;

	if (system("command -v etcd >/dev/null 2>&1") != 0)
		return false;
	e->dir = tu_tmpdir();
	snprintf(e->url, sizeof(e->url), "http://127.0.0.1:%d", tu_free_port());
	snprintf(purl, sizeof(purl), "http://127.0.0.1:%d", tu_free_port());
	e->pid = fork();
	assert_true(e->pid >= 0);
	if (e->pid == 0) {
		char log[4200], cluster[128];

		snprintf(log, sizeof(log), "%s/log", e->dir);
		snprintf(cluster, sizeof(cluster), "t=%s", purl);
		if (freopen(log, "w", stdout) == NULL || freopen(log, "a", stderr) == NULL)
			_exit(127);
		execlp("etcd", "etcd", "--name", "t", "--data-dir", e->dir, "--listen-client-urls",
		       e->url, "--advertise-client-urls", e->url, "--listen-peer-urls", purl,
		       "--initial-advertise-peer-urls", purl, "--initial-cluster", cluster,
		       (char *)NULL);
		_exit(127);
	}
	/* Ready once etcdctl gets an answer. */
	snprintf(cmd, sizeof(cmd), "ETCDCTL_API=3 etcdctl --endpoints=%s get x >/dev/null 2>&1",
	         e->url);
	for (i = 0; i < 150 && system(cmd) != 0; i++)
		usleep(100 * 1000);
	assert_true(i < 150);
	return true;
}

void
tu_etcd_stop(struct tu_etcd *e)
{
	if (e->pid > 0) {
		kill(e->pid, SIGTERM);
		waitpid(e->pid, NULL, 0);
		e->pid = -1;
	}
	if (e->dir != NULL)
		tu_rmrf(e->dir);
	free(e->dir);
	e->dir = NULL;
}
