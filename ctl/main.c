/* main.c -- svcctl: kubectl-style commands over the manifests in a zones directory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ctl.h"

static const char usage[] =
        "usage: svcctl [--zones DIR] COMMAND [ARGS] [flags]\n"
        "\n"
        "commands:\n"
        "  get services|endpoints|pods|namespaces [NAME...] [-n NS | -A] [-o wide|yaml|name]\n"
        "  create -f FILE        validate against the cluster, allocate, write into DIR\n"
        "  apply -f FILE         create, or update an existing object (keeps its allocations)\n"
        "  delete KIND NAME... [-n NS]\n"
        "  check                 validate DIR; print every problem as file:line:col: field: msg\n"
        "\n"
        "flags:\n"
        "  --zones DIR           manifests (default $SVCDNS_ZONES, /etc/svcdns/zones, ./zones)\n"
        "  -n, --namespace NS    namespace (default \"default\")\n"
        "  -A, --all-namespaces  every namespace\n"
        "  -o, --output FORMAT   wide, yaml or name\n"
        "  -f, --filename FILE   manifest file, or - for standard input\n"
        "  --service-cidr CIDRS  service CIDR(s), comma-separated (default 10.96.0.0/12)\n"
        "  --lb-pool CIDRS       load-balancer address pool(s), one per family, comma-separated;\n"
        "                        LoadBalancer services without an address get one from it\n"
        "                        (default: none, they stay <pending>)\n";

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
	static const char *const names[] = {"services", "pods", "endpoints", "endpointslices",
	                                    "namespaces"};

	return k < CLUSTER_KIND_COUNT ? names[k] : "objects";
}

struct cluster *
ctl_load(const struct ctl *ctl)
{
	struct diag d;
	struct cluster *c = NULL;

	diag_init(&d);
	cluster_load(ctl->zones, &ctl->cfg, &d, &c);
	diag_sort(&d);
	/* Warnings too: a field we do not support is reported, never silently dropped. */
	diag_print(&d, stderr);
	if (c == NULL)
		fprintf(stderr, "error: %s: %zu errors; nothing was changed\n", ctl->zones,
		        d.errors);
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

/* FLAG's value: "--flag=V", "-fV", or the next argument. */
static const char *
flag_value(int argc, char **argv, int *i, const char *shortf, const char *longf)
{
	const char *a = argv[*i];
	size_t ll = strlen(longf);

	if (!strncmp(a, longf, ll) && a[ll] == '=')
		return a + ll + 1;
	if (shortf != NULL && !strncmp(a, shortf, 2) && a[2] != '\0')
		return a[2] == '=' ? a + 3 : a + 2;
	if (*i + 1 >= argc) {
		fprintf(stderr, "error: flag needs an argument: %s\n", a);
		exit(1);
	}
	return argv[++*i];
}

static bool
is_flag(const char *a, const char *shortf, const char *longf)
{
	size_t ll = strlen(longf);

	if (!strcmp(a, longf) || (!strncmp(a, longf, ll) && a[ll] == '='))
		return true;
	return shortf != NULL && !strncmp(a, shortf, 2);
}

int
main(int argc, char **argv)
{
	struct ctl ctl = {0};
	const char *verb = NULL, *out = NULL, *cidrs = NULL, *pools = NULL;
	int i, rc;

	cluster_config_init(&ctl.cfg);
	ctl.ns = "default";
	/* Positional arguments are compacted to the front of argv: never ahead of the reader. */
	ctl.args = argv;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(usage, stdout);
			return 0;
		} else if (!strcmp(a, "-A") || !strcmp(a, "--all-namespaces")) {
			ctl.all_ns = true;
		} else if (is_flag(a, NULL, "--zones")) {
			ctl.zones = flag_value(argc, argv, &i, NULL, "--zones");
		} else if (is_flag(a, "-n", "--namespace")) {
			ctl.ns = flag_value(argc, argv, &i, "-n", "--namespace");
		} else if (is_flag(a, "-o", "--output")) {
			out = flag_value(argc, argv, &i, "-o", "--output");
		} else if (is_flag(a, "-f", "--filename")) {
			ctl.file = flag_value(argc, argv, &i, "-f", "--filename");
		} else if (is_flag(a, NULL, "--service-cidr")) {
			cidrs = flag_value(argc, argv, &i, NULL, "--service-cidr");
		} else if (is_flag(a, NULL, "--lb-pool")) {
			pools = flag_value(argc, argv, &i, NULL, "--lb-pool");
		} else if (a[0] == '-' && a[1] != '\0') {
			fprintf(stderr, "error: unknown flag: %s\n%s", a, usage);
			return 1;
		} else if (verb == NULL) {
			verb = a;
		} else {
			ctl.args[ctl.n_args++] = argv[i];
		}
	}
	if (ctl.zones == NULL)
		ctl.zones = default_zones();
	if (out == NULL || !strcmp(out, "table"))
		ctl.output = CTL_OUT_TABLE;
	else if (!strcmp(out, "wide"))
		ctl.output = CTL_OUT_WIDE;
	else if (!strcmp(out, "yaml"))
		ctl.output = CTL_OUT_YAML;
	else if (!strcmp(out, "name"))
		ctl.output = CTL_OUT_NAME;
	else {
		fprintf(stderr,
		        "error: unable to match a printer suitable for the output format "
		        "\"%s\"; allowed formats are: name,wide,yaml\n",
		        out);
		return 1;
	}
	if (cidrs != NULL && cluster_config_set_cidrs(&ctl.cfg, cidrs) != SVC_OK) {
		fprintf(stderr,
		        "error: --service-cidr %s: expected one or two CIDRs (one per family) with "
		        "3 to 24 host bits\n",
		        cidrs);
		return 1;
	}
	if (pools != NULL && cluster_config_set_lb_pools(&ctl.cfg, pools) != SVC_OK) {
		fprintf(stderr, "error: --lb-pool %s: expected one or two CIDRs (one per family)\n",
		        pools);
		return 1;
	}
	if (verb == NULL) {
		fputs(usage, stderr);
		rc = 1;
	} else if (!strcmp(verb, "get")) {
		rc = ctl_get(&ctl);
	} else if (!strcmp(verb, "check")) {
		rc = ctl_check(&ctl);
	} else if (!strcmp(verb, "create")) {
		rc = ctl_create(&ctl, false);
	} else if (!strcmp(verb, "apply")) {
		rc = ctl_create(&ctl, true);
	} else if (!strcmp(verb, "delete")) {
		rc = ctl_delete(&ctl);
	} else {
		fprintf(stderr, "error: unknown command \"%s\"\n%s", verb, usage);
		rc = 1;
	}
	return rc;
}
