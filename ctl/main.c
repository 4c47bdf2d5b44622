/* main.c -- svcctl: kubectl-style commands over the manifests in a zones directory. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl.h"
#include "ctl_edit.h"
#include "ctl_select.h"
#include "ctl_etcd.h"
#include "daemon.h"

int
ctl_kind_parse(const char *w)
{
	static const struct {
		const char *word;
		enum cluster_kind kind;
	} words[] = {
	        {"services", CLUSTER_KIND_SERVICE},
	        {"service", CLUSTER_KIND_SERVICE},
	        {"svc", CLUSTER_KIND_SERVICE},
	        {"endpoints", CLUSTER_KIND_ENDPOINTS},
	        {"ep", CLUSTER_KIND_ENDPOINTS},
	        {"pods", CLUSTER_KIND_POD},
	        {"pod", CLUSTER_KIND_POD},
	        {"po", CLUSTER_KIND_POD},
	        {"namespaces", CLUSTER_KIND_NAMESPACE},
	        {"namespace", CLUSTER_KIND_NAMESPACE},
	        {"ns", CLUSTER_KIND_NAMESPACE},
	        {"endpointslices", CLUSTER_KIND_ENDPOINTSLICE},
	        {"endpointslice", CLUSTER_KIND_ENDPOINTSLICE},
	        {"nodes", CLUSTER_KIND_NODE},
	        {"node", CLUSTER_KIND_NODE},
	        {"no", CLUSTER_KIND_NODE},
	        {"leases", CLUSTER_KIND_LEASE},
	        {"lease", CLUSTER_KIND_LEASE},
	        {"podstatus", CLUSTER_KIND_PODSTATUS},
	        {"podstatuses", CLUSTER_KIND_PODSTATUS},
	};
	size_t i;

	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (!strcmp(words[i].word, w))
			return (int)words[i].kind;
	return -1;
}

const char *
ctl_kind_plural(enum cluster_kind k)
{
	static const char *const names[CLUSTER_KIND_COUNT] = {
	        "services",   "pods",  "endpoints", "endpointslices",
	        "namespaces", "nodes", "leases",    "podstatuses"};

	return k < CLUSTER_KIND_COUNT ? names[k] : "objects";
}

const char *
ctl_source(const struct ctl *ctl)
{
	static char buf[ETCDOBJ_KEY_MAX + 8];

	if (ctl->e == NULL)
		return ctl->zones;
	snprintf(buf, sizeof(buf), "etcd %s", ctl_etcd_prefix(ctl->e));
	return buf;
}

struct cluster *
ctl_load(const struct ctl *ctl, size_t *errors)
{
	struct diag d;
	struct cluster *c = NULL;

	if (ctl->e != NULL) {
		/* Only what is asked for: one kind, one namespace (services need nothing else;
		 * endpoints, their pods and slices; namespaces, everything). */
		int kind = ctl->scope_kind == CLUSTER_KIND_NAMESPACE ||
		                           ctl->scope_kind == CLUSTER_KIND_ENDPOINTS ||
		                           ctl->scope_kind == CLUSTER_KIND_ENDPOINTSLICE
		                   ? -1
		                   : ctl->scope_kind;
		const char *ns = ctl->all_ns || ctl->scope_kind == CLUSTER_KIND_NAMESPACE ||
		                                 ctl->scope_kind < 0
		                         ? NULL
		                         : ctl->ns;

		if (ctl_etcd_load(ctl->e, ctl, kind, ns, NULL, &c, errors) != 0) {
			cluster_unref(c);
			return NULL;
		}
		return c;
	}
	diag_init(&d);
	cluster_load_status(ctl->zones, ctl->status_dir, &ctl->cfg, &d, &c);
	diag_sort(&d);
	/* Warnings too: a field we do not support is reported, never silently dropped. */
	diag_print(&d, stderr);
	*errors = d.errors;
	diag_deinit(&d);
	return c;
}

static const char *
default_zones(void)
{
	const char *env = getenv("SVCDNS_ZONES");
	struct stat sb;

	if (env != NULL && *env != '\0')
		return env;
	if (stat("/etc/svcdns/zones", &sb) == 0 && S_ISDIR(sb.st_mode))
		return "/etc/svcdns/zones";
	return "zones";
}

/* What the flags fill in. */
struct main_flags {
	struct ctl ctl;
	const char *output;   /* -o, checked once every flag is read */
	const char *selector; /* -l */
};

#define F(field) OPT_FIELD(struct main_flags, field)
static const struct opt main_opts[] = {
        {"status-dir", 0, OPT_STR, F(ctl.status_dir), .min = 1, .metavar = "DIR",
         .help = "the probers' PodStatus files (default "
                 "$SVCDNS_STATUS_DIR,\n" DAEMON_STATUS_DIR_DEFAULT ")"},
        {"zones", 0, OPT_STR, F(ctl.zones), .min = 1, .metavar = "DIR",
         .help = "manifests (default $SVCDNS_ZONES, /etc/svcdns/zones, ./zones)"},
        {"namespace", 'n', OPT_STR, F(ctl.ns), .min = 1, .metavar = "NS",
         .help = "namespace (default \"default\")"},
        {"all-namespaces", 'A', OPT_BOOL, F(ctl.all_ns), .help = "every namespace"},
        {"output", 'o', OPT_STR, F(output), .min = 1, .metavar = "FORMAT",
         .help = "wide, yaml, json, name, jsonpath=TEMPLATE or\ncustom-columns=NAME:PATH[,...]"},
        {"selector", 'l', OPT_STR, F(selector), .metavar = "SELECTOR",
         .help = "only objects whose labels match: k=v, k==v, k!=v, k in (a,b),\n"
                 "k notin (a,b), k, !k, comma-separated (all must hold)"},
        {"port", 0, OPT_STR, F(ctl.expose.port), .min = 1, .metavar = "PORT",
         .help = "expose: the service's port (default: the object's ports)"},
        {"target-port", 0, OPT_STR, F(ctl.expose.target_port), .min = 1, .metavar = "PORT",
         .help = "expose: the port, number or name, of the pods (default: --port)"},
        {"type", 0, OPT_STR, F(ctl.expose.type), .min = 1, .metavar = "TYPE",
         .help = "expose: ClusterIP (default), NodePort or LoadBalancer"},
        {"name", 0, OPT_STR, F(ctl.expose.name), .min = 1, .metavar = "NAME",
         .help = "expose: the service's name (default: the object's)"},
        {"protocol", 0, OPT_STR, F(ctl.expose.protocol), .min = 1, .metavar = "PROTO",
         .help = "expose: TCP (default), UDP or SCTP"},
        {"watch", 'w', OPT_BOOL, F(ctl.watch),
         .help = "get: after the list, a row for each object added, changed or deleted, as\n"
                 "it happens (the directory's or etcd's watch), until interrupted"},
        {"show-labels", 0, OPT_BOOL, F(ctl.show_labels),
         .help = "a LABELS column, the last (tables only)"},
        {"filename", 'f', OPT_STR, F(ctl.file), .min = 1, .metavar = "FILE",
         .help = "manifest file, or - for standard input"},
        {"service-cidr", 0, OPT_FUNC, F(ctl.cfg), .parse = opt_parse_service_cidrs,
         .metavar = "CIDRS", .help = "service CIDR(s), comma-separated (default 10.96.0.0/12)"},
        {"lb-pool", 0, OPT_FUNC, F(ctl.cfg), .parse = opt_parse_lb_pools, .metavar = "CIDRS",
         .help = "load-balancer address pool(s), one per family, comma-separated;\n"
                 "LoadBalancer services without an address get one from it\n"
                 "(default: none, they stay <pending>)"},
        {"domain", 0, OPT_STR, F(ctl.domain), .min = 1, .metavar = "DOMAIN",
         .help = "cluster domain, for etcd's settings (default cluster.local)"},
        DAEMON_OPTS_ETCD(struct main_flags, ctl.etcd),
        {"help", 'h', OPT_HELP, .help = "this text"},
        {"version", 0, OPT_VERSION, .help = "print the version and exit"},
        {"man", 0, OPT_MAN, .flags = OPT_HIDDEN},
};
#undef F

static const struct opt_table main_table = {
        .synopsis = "svcctl [--zones DIR | --etcd URL[,URL...]] COMMAND [ARGS] [flags]",
        .summary = "kubectl-style commands over the svcdns cluster model",
        .man_section = 1,
        .about = "\n"
                 "commands:\n"
                 "  get services|endpoints|endpointslices|pods|namespaces|nodes|all [NAME...] [-n "
                 "NS | -A]\n"
                 "                        [-l SELECTOR]\n"
                 "                        [-o wide|yaml|json|name|jsonpath=...] "
                 "[--show-labels]\n"
                 "  describe service|pod|endpoints|node [NAME...] [-n NS | -A]   kubectl's "
                 "pages;\n"
                 "                        a LoadBalancer's holder (etcd), a pod's probe "
                 "results\n"
                 "  create -f FILE|DIR    validate against the cluster, allocate, write into "
                 "DIR or etcd\n"
                 "  apply -f FILE         create, or update an existing object (keeps its "
                 "allocations)\n"
                 "  delete KIND NAME... [-n NS]\n"
                 "  expose pod|service NAME [--port P] [--target-port T] [--type T] [--name N]\n"
                 "                        a service selecting what the object selects\n"
                 "  check                 validate DIR; print every problem as "
                 "file:line:col: field: msg\n"
                 "  completion bash       a bash completion script: source <(svcctl "
                 "completion bash)\n"
                 "  version               svcctl's version\n"
                 "\n"
                 "Writes lock DIR, change only their own documents, and never follow a "
                 "symbolic link.\n"
                 "With --etcd (or $SVCDNS_ETCD) the cluster is etcd's: writes are "
                 "transactions that\n"
                 "compare each object's revision and claim its addresses and ports.",
        .opts = main_opts,
        .n = sizeof(main_opts) / sizeof(main_opts[0]),
};

int
main(int argc, char **argv)
{
	struct main_flags f = {0};
	struct ctl *ctl = &f.ctl;
	const char *verb;
	int args, rc;

	cluster_config_init(&ctl->cfg);
	ctl->ns = "default";
	/* kubectl style: flags may follow the arguments, whatever the environment says. */
	unsetenv("POSIXLY_CORRECT");
	if (opt_parse_argv(&main_table, &f, argc, argv, &args) != SVC_OK)
		return 1;
	verb = args < argc ? argv[args] : NULL;
	ctl->args = argv + args + (verb != NULL);
	ctl->n_args = argc - args - (verb != NULL);
	if (ctl->zones == NULL)
		ctl->zones = default_zones();
	if (ctl->status_dir == NULL)
		ctl->status_dir = daemon_default_status_dir();
	if (ctl->domain == NULL)
		ctl->domain = "cluster.local";
	daemon_etcd_defaults(&ctl->etcd);
	ctl->scope_kind = -1;
	if (f.output == NULL || !strcmp(f.output, "table"))
		ctl->output = CTL_OUT_TABLE;
	else if (!strcmp(f.output, "wide"))
		ctl->output = CTL_OUT_WIDE;
	else if (!strcmp(f.output, "yaml"))
		ctl->output = CTL_OUT_YAML;
	else if (!strcmp(f.output, "name"))
		ctl->output = CTL_OUT_NAME;
	else if (!strcmp(f.output, "json"))
		ctl->output = CTL_OUT_JSON;
	else if (!strncmp(f.output, "jsonpath=", 9)) {
		ctl->output = CTL_OUT_JSONPATH;
		ctl->jsonpath = f.output + 9;
	} else if (!strncmp(f.output, "custom-columns=", 15)) {
		ctl->output = CTL_OUT_COLUMNS;
		ctl->jsonpath = f.output + 15;
	} else {
		fprintf(stderr,
		        "error: unable to match a printer suitable for the output format "
		        "\"%s\"; allowed formats are: "
		        "custom-columns,json,jsonpath,name,wide,yaml\n",
		        f.output);
		return 1;
	}
	if (f.selector != NULL) {
		static struct ctl_selector sel;
		char err[300];

		if (!ctl_selector_parse(f.selector, &sel, err, sizeof(err))) {
			fprintf(stderr, "error: %s\n", err);
			return 1;
		}
		ctl->selector = &sel;
	}
	if (verb != NULL && ctl->etcd.urls != NULL) {
		signal(SIGPIPE,
		       SIG_IGN); /* a member closing a connection is an error, not an end */
		bool writes = strcmp(verb, "get") != 0 && strcmp(verb, "check") != 0 &&
		              strcmp(verb, "describe") != 0;

		if (ctl_etcd_open(ctl, &ctl->e) != 0 ||
		    ctl_etcd_config(ctl->e, ctl, writes && strcmp(verb, "delete") != 0) != 0) {
			ctl_etcd_close(ctl->e);
			return 1;
		}
	}
	if (verb == NULL) {
		opt_usage(&main_table, stderr);
		rc = 1;
	} else if (ctl->e != NULL && (!strcmp(verb, "get") || !strcmp(verb, "check"))) {
		rc = verb[0] == 'g' ? ctl_get(ctl) : ctl_check(ctl);
	} else if (!strcmp(verb, "get") || !strcmp(verb, "check")) {
		/* A watch reads as the daemons do, without the lock: writers must not wait for it.
		 */
		int lock = ctl->watch ? -1 : ctl_edit_read_lock(ctl->zones);

		rc = verb[0] == 'g' ? ctl_get(ctl) : ctl_check(ctl);
		if (lock >= 0)
			close(lock);
	} else if (!strcmp(verb, "describe")) {
		int lock = ctl->e == NULL ? ctl_edit_read_lock(ctl->zones) : -1;

		rc = ctl_describe(ctl);
		if (lock >= 0)
			close(lock);
	} else if (!strcmp(verb, "create")) {
		rc = ctl_create(ctl, false);
	} else if (!strcmp(verb, "apply")) {
		rc = ctl_create(ctl, true);
	} else if (!strcmp(verb, "delete")) {
		rc = ctl_delete(ctl);
	} else if (!strcmp(verb, "expose")) {
		rc = ctl_expose(ctl);
	} else if (!strcmp(verb, "completion")) {
		rc = ctl_completion(&main_table, ctl->n_args > 0 ? ctl->args[0] : NULL);
	} else if (!strcmp(verb, "version")) {
		/* As kubectl version --client prints it. */
		printf("Client Version: v%s\n", SVC_VERSION);
		rc = 0;
	} else {
		fprintf(stderr, "error: unknown command \"%s\"\n", verb);
		opt_usage(&main_table, stderr);
		rc = 1;
	}
	ctl_etcd_close(ctl->e);
	return rc;
}
