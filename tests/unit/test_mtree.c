/* test_mtree.c -- loading a zones tree that holds symbolic link loops, files reached twice,
 * a ConfigMap volume, FIFOs, sockets and unreadable entries (issue 9, items 4 and 19). */
#include "testutil.h"

#include "mtree.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* A load that hangs (a symlink loop walked, a FIFO opened for reading) fails the test. */
#define HANG_SECONDS 20

static void
on_alarm(int sig)
{
	static const char msg[] = "test_mtree: the load hangs\n";

	(void)sig;
	(void)!write(2, msg, sizeof(msg) - 1);
	_exit(1);
}

static void
guard(void)
{
	signal(SIGALRM, on_alarm);
	alarm(HANG_SECONDS);
}

static void
unguard(void)
{
	alarm(0);
}

static char *
service_yaml(const char *ns, const char *name)
{
	static char buf[256];

	snprintf(buf, sizeof(buf),
	         "apiVersion: v1\nkind: Service\nmetadata: {name: %s, namespace: %s}\n"
	         "spec: {ports: [{port: 80}]}\n",
	         name, ns);
	return buf;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct loaded {
	struct diag d;
	struct cluster *c;
	enum svc_status st;
};

static void
load(struct loaded *l, const char *dir)
{
	struct cluster_config cfg;

	cluster_config_init(&cfg);
	diag_init(&l->d);
	guard();
	l->st = cluster_load(dir, &cfg, &l->d, &l->c);
	unguard();
}

static void
unload(struct loaded *l)
{
	cluster_unref(l->c);
	diag_deinit(&l->d);
}

/* An entry of L's diagnostics whose file ends in SUFFIX and whose text has NEEDLE. */
static bool
has_at(const struct loaded *l, enum diag_level level, const char *suffix, const char *needle)
{
	size_t i, sl = strlen(suffix);

	for (i = 0; i < l->d.n; i++) {
		const struct diag_entry *e = &l->d.entries[i];
		size_t fl = e->file ? strlen(e->file) : 0;

		if (e->level == level && fl >= sl && !strcmp(e->file + fl - sl, suffix) &&
		    e->message != NULL && strstr(e->message, needle) != NULL)
			return true;
	}
	return false;
}

/* Three `ln -s .. loopN` in a namespace directory: each file is loaded once, fast, and each
 * loop is a warning naming it. */
static void
test_symlink_loops(void **state)
{
	char *dir = tu_tmpdir();
	struct loaded l;
	double t0;

	(void)state;
	tu_mkdir(dir, "ns1");
	tu_write(dir, "top.yaml", service_yaml("default", "top"));
	tu_write(dir, "ns1/a.yaml", service_yaml("ns1", "a"));
	tu_write(dir, "ns1/b.yaml", service_yaml("ns1", "b"));
	tu_symlink(dir, "ns1/loop1", "..");
	tu_symlink(dir, "ns1/loop2", "..");
	tu_symlink(dir, "ns1/loop3", "..");
	t0 = now_s();
	load(&l, dir);
	assert_true(now_s() - t0 < 2.0);
	if (l.c == NULL)
		tu_dump(&l.d);
	assert_int_equal(l.st, SVC_OK);
	assert_non_null(l.c);
	assert_int_equal(l.d.errors, 0);
	assert_int_equal(l.c->n_services, 3);
	assert_true(has_at(&l, DIAG_WARNING, "/ns1/loop1", "symbolic link loop"));
	assert_true(has_at(&l, DIAG_WARNING, "/ns1/loop3", "symbolic link loop"));
	assert_int_equal(l.d.warnings, 3);
	unload(&l);
	tu_rmrf(dir);
	free(dir);
}

/* A file reached by two names (a link beside it, a linked directory) is loaded once; so is a
 * directory reached twice. */
static void
test_file_twice(void **state)
{
	char *dir = tu_tmpdir();
	struct loaded l;

	(void)state;
	tu_mkdir(dir, "real");
	tu_write(dir, "real/a.yaml", service_yaml("default", "a"));
	tu_symlink(dir, "b.yaml", "real/a.yaml");
	tu_symlink(dir, "c.yaml", "real/a.yaml");
	tu_symlink(dir, "same", "real");
	load(&l, dir);
	if (l.c == NULL)
		tu_dump(&l.d);
	assert_non_null(l.c);
	assert_int_equal(l.d.errors, 0);
	assert_int_equal(l.c->n_services, 1);
	assert_true(has_at(&l, DIAG_WARNING, "/c.yaml", "same file as"));
	assert_true(has_at(&l, DIAG_WARNING, "/same", "same directory as"));
	unload(&l);
	tu_rmrf(dir);
	free(dir);
}

/* A ConfigMap volume: the visible names are links into ..data, a link to a hidden timestamped
 * directory; neither hidden name is read on its own. */
static void
test_configmap_layout(void **state)
{
	char *dir = tu_tmpdir();
	struct loaded l;

	(void)state;
	tu_mkdir(dir, "..2024_05_01_10_00_00.123");
	tu_write(dir, "..2024_05_01_10_00_00.123/a.yaml", service_yaml("default", "a"));
	tu_write(dir, "..2024_05_01_10_00_00.123/b.yaml", service_yaml("default", "b"));
	tu_symlink(dir, "..data", "..2024_05_01_10_00_00.123");
	tu_symlink(dir, "a.yaml", "..data/a.yaml");
	tu_symlink(dir, "b.yaml", "..data/b.yaml");
	load(&l, dir);
	if (l.c == NULL)
		tu_dump(&l.d);
	assert_non_null(l.c);
	assert_int_equal(l.d.errors + l.d.warnings, 0);
	assert_int_equal(l.c->n_services, 2);
	assert_non_null(cluster_service_by_name(l.c, "default", "a"));
	assert_non_null(cluster_service_by_name(l.c, "default", "b"));
	unload(&l);
	tu_rmrf(dir);
	free(dir);
}

/* The zones directory may itself be a link. */
static void
test_root_link(void **state)
{
	char *dir = tu_tmpdir();
	char real[4096], link[4096];
	struct loaded l;

	(void)state;
	tu_mkdir(dir, "v1");
	tu_write(dir, "v1/a.yaml", service_yaml("default", "a"));
	tu_symlink(dir, "zones", "v1");
	snprintf(link, sizeof(link), "%s/%s", dir, "zones");
	load(&l, link);
	assert_non_null(l.c);
	assert_non_null(cluster_service_by_name(l.c, "default", "a"));
	unload(&l);
	/* Not a directory: an error naming it. */
	snprintf(real, sizeof(real), "%s/%s", dir, "v1/a.yaml");
	load(&l, real);
	assert_null(l.c);
	assert_int_equal(l.st, SVC_EIO);
	assert_true(has_at(&l, DIAG_ERROR, "/v1/a.yaml", "cannot read directory"));
	unload(&l);
	tu_rmrf(dir);
	free(dir);
}

/* A FIFO named like a manifest neither blocks the load nor goes unmentioned; the other files
 * load. Nor does a socket, or a link to nothing (a warning). */
static void
test_special_files(void **state)
{
	char *dir = tu_tmpdir();
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct loaded l;
	char p[4096];
	int s;

	(void)state;
	tu_write(dir, "a.yaml", service_yaml("default", "a"));
	tu_write(dir, "z.yaml", service_yaml("default", "z"));
	snprintf(p, sizeof(p), "%s/%s", dir, "fifo.yaml");
	assert_int_equal(mkfifo(p, 0644), 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s", dir, "sock.yaml");
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(s >= 0);
	assert_int_equal(bind(s, (struct sockaddr *)&sun, sizeof(sun)), 0);
	tu_symlink(dir, "gone.yaml", "nothing-here.yaml");
	load(&l, dir);
	/* The errors fail the load (a check exits 1), and the rest still serves. */
	assert_int_equal(l.st, SVC_EINVAL);
	assert_non_null(l.c);
	assert_int_equal(l.c->n_services, 2);
	assert_true(has_at(&l, DIAG_ERROR, "/fifo.yaml", "not a regular file"));
	assert_true(has_at(&l, DIAG_ERROR, "/sock.yaml", "not a regular file"));
	assert_true(has_at(&l, DIAG_WARNING, "/gone.yaml", "symbolic link to nothing"));
	assert_int_equal(l.d.errors, 2);
	unload(&l);
	close(s);
	tu_rmrf(dir);
	free(dir);
}

/* Loading a FIFO by name returns at once with an error: what the walk meets when a FIFO is
 * swapped in between its stat and its open. */
static void
test_fifo_file(void **state)
{
	char *dir = tu_tmpdir();
	struct cluster_objects objs;
	struct diag d;
	char p[4096];

	(void)state;
	snprintf(p, sizeof(p), "%s/%s", dir, "x.yaml");
	assert_int_equal(mkfifo(p, 0644), 0);
	cluster_objects_init(&objs);
	diag_init(&d);
	guard();
	assert_int_not_equal(cluster_objects_load_file(&objs, p, &d), SVC_OK);
	unguard();
	assert_int_equal(d.errors, 1);
	assert_string_equal(d.entries[0].file, p);
	assert_non_null(strstr(d.entries[0].message, "not a regular file"));
	cluster_objects_deinit(&objs);
	diag_deinit(&d);
	tu_rmrf(dir);
	free(dir);
}

/* In a child without root's powers (as nobody when run as root): a file and a directory that
 * cannot be read are errors naming them, and the rest of the tree still loads. 0 when so. */
static int
unreadable_child(const char *dir)
{
	struct loaded l;
	int bad = 0;

	if (getuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
		return 10;
	load(&l, dir);
	if (!has_at(&l, DIAG_ERROR, "/secret.yaml", "Permission denied"))
		bad |= 1;
	if (!has_at(&l, DIAG_ERROR, "/a-closed", "Permission denied"))
		bad |= 2;
	if (l.d.errors != 2)
		bad |= 4;
	/* Loading went on past both: b.yaml (after a-closed) and the rest serve. */
	if (l.c == NULL || l.c->n_services != 2 || l.st != SVC_EINVAL)
		bad |= 8;
	if (l.d.errors > 0) {
		struct cluster_objects objs;
		struct diag d;

		cluster_objects_init(&objs);
		diag_init(&d);
		cluster_objects_load_dir(&objs, dir, &d);
		if (objs.n_services != 2)
			bad |= 16;
		cluster_objects_deinit(&objs);
		diag_deinit(&d);
	}
	if (bad)
		tu_dump(&l.d);
	unload(&l);
	return bad;
}

static void
test_unreadable(void **state)
{
	char *dir = tu_tmpdir();
	char p[4096];
	pid_t pid;
	int status;

	(void)state;
	assert_int_equal(chmod(dir, 0755), 0);
	tu_mkdir(dir, "a-closed");
	tu_write(dir, "a-closed/hidden.yaml", service_yaml("default", "hidden"));
	tu_write(dir, "b.yaml", service_yaml("default", "b"));
	tu_write(dir, "secret.yaml", service_yaml("default", "secret"));
	tu_write(dir, "z.yaml", service_yaml("default", "z"));
	snprintf(p, sizeof(p), "%s/%s", dir, "secret.yaml");
	assert_int_equal(chmod(p, 0), 0);
	snprintf(p, sizeof(p), "%s/%s", dir, "a-closed");
	assert_int_equal(chmod(p, 0), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(unreadable_child(dir));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(chmod(p, 0755), 0);
	tu_rmrf(dir);
	free(dir);
}

/* A walk meets a file whose inode number an earlier file of the same walk had: that file was
 * replaced meanwhile (as editors and svcctl do) and its number reused. The later file is a file
 * of its own and is read, not skipped as "the same file". */
struct reuse {
	const char *dir;
	ino_t a_ino;
	bool reused; /* z.yaml got a.yaml's old inode number */
	size_t files;
	bool z_read;
};

static enum svc_status
on_reuse_file(void *arg, const char *path, int fd, const struct stat *st)
{
	struct reuse *r = arg;
	char p[4200], tmp[64];
	struct stat s;

	(void)fd;
	r->files++;
	if (strstr(path, "/z.yaml") != NULL)
		r->z_read = true;
	if (strstr(path, "/m.yaml") == NULL)
		return SVC_OK;
	/* a.yaml (read and closed) replaced: its inode is free. New files until one gets it. */
	tu_write(r->dir, ".a.new", service_yaml("default", "a"));
	tu_rename(r->dir, ".a.new", "a.yaml");
	for (int i = 0; i < 200 && !r->reused; i++) {
		snprintf(tmp, sizeof(tmp), ".z%d", i);
		tu_write(r->dir, tmp, service_yaml("default", "z"));
		snprintf(p, sizeof(p), "%s/%s", r->dir, tmp);
		assert_int_equal(stat(p, &s), 0);
		if (s.st_ino == r->a_ino) {
			tu_rename(r->dir, tmp, "z.yaml");
			r->reused = true;
		}
	}
	(void)st;
	return SVC_OK;
}

static void
test_inode_reused(void **state)
{
	char *dir = tu_tmpdir(), p[4096];
	struct reuse r = {.dir = dir};
	const struct mtree_ops ops = {.file = on_reuse_file, .arg = &r};
	struct stat s;
	struct diag d;

	(void)state;
	tu_write(dir, "a.yaml", service_yaml("default", "a"));
	tu_write(dir, "m.yaml", service_yaml("default", "m"));
	tu_write(dir, "z.yaml", service_yaml("default", "z0"));
	snprintf(p, sizeof(p), "%s/a.yaml", dir);
	assert_int_equal(stat(p, &s), 0);
	r.a_ino = s.st_ino;
	diag_init(&d);
	assert_int_equal(mtree_walk(dir, &ops, &d), SVC_OK);
	if (r.reused) {
		assert_true(r.z_read);
		assert_int_equal(r.files, 3);
		assert_int_equal(tu_diag_count(&d, DIAG_WARNING, NULL, "same file"), 0);
	} else {
		fprintf(stderr,
		        "test_inode_reused: this file system gave no inode back; not checked\n");
	}
	diag_deinit(&d);
	tu_rmrf(dir);
	free(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_symlink_loops),    cmocka_unit_test(test_file_twice),
	        cmocka_unit_test(test_configmap_layout), cmocka_unit_test(test_root_link),
	        cmocka_unit_test(test_special_files),    cmocka_unit_test(test_fifo_file),
	        cmocka_unit_test(test_unreadable),       cmocka_unit_test(test_inode_reused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
