/* clustergen.c -- random clusters written as manifest files, for property tests that compare
 * an incremental path with a full rebuild after every step. */
#include "clustergen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static uint32_t
rnd(struct gen *g, uint32_t n)
{
	/* xorshift64*: reproducible from the seed printed on failure. */
	g->rng ^= g->rng >> 12;
	g->rng ^= g->rng << 25;
	g->rng ^= g->rng >> 27;
	return (uint32_t)((g->rng * 2685821657736338717ull) >> 33) % n;
}

static const char *const NS[] = {"alpha", "beta", "gamma"};

/* Service I: namespace by its number, selector app=a<sel> (pods choose among 6 apps), some
 * headless, some pinned to a ClusterIP of their own (pins never collide with each other, but
 * may land on an address allocation would give an unpinned one: that service moves), some
 * without selector (their endpoints come from Endpoints or EndpointSlices), some NodePort, some
 * ExternalName. */
static void
write_service(struct gen *g, FILE *f, int i)
{
	int v = g->svc_var[i];

	/* The last service is now and then the cluster DNS, whose addresses the apex's NS
	 * record carries. */
	if (i == N_SVC - 1 && v % 2)
		fprintf(f, "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: kube-dns\n"
		           "  namespace: kube-system\n");
	else
		fprintf(f,
		        "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: s%d\n"
		        "  namespace: %s\n",
		        i, NS[i % 3]);
	fprintf(f, "spec:\n");
	/* ExternalNames: to a service of the cluster (of another namespace, maybe), whose
	 * addresses its answers carry, or to a name outside. */
	if (v % 6 == 5) {
		int t = (i + v) % N_SVC;

		if (v % 2)
			fprintf(f,
			        "  type: ExternalName\n  externalName: s%d.%s.svc.cluster.local\n",
			        t, NS[t % 3]);
		else
			fprintf(f, "  type: ExternalName\n  externalName: db%d.example.org\n", t);
		return;
	}
	if (v % 5 == 1)
		fprintf(f, "  clusterIP: None\n");
	else if (v % 5 == 2 || v % 5 == 3)
		fprintf(f, "  clusterIP: 10.96.0.%d\n", 1 + i);
	if (v % 7 == 3 && v % 5 != 1) /* headless services have no node ports */
		fprintf(f, "  type: NodePort\n");
	if (i < N_EPS) /* selector-less: Endpoints or slices name it */
		;
	else
		fprintf(f, "  selector:\n    app: a%d\n", (i + v) % 6);
	if (v % 4 == 0)
		fprintf(f, "  publishNotReadyAddresses: true\n");
	fprintf(f, "  ports:\n  - name: http\n    port: %d\n    targetPort: %s\n", 80 + v % 3,
	        v % 2 ? "web" : "8080");
	if (v % 3 == 0)
		fprintf(f, "  - name: dns\n    port: 53\n    protocol: UDP\n");
}

static void
write_pod(struct gen *g, FILE *f, int i)
{
	int v = g->pod_var[i];

	fprintf(f,
	        "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p%d\n  namespace: %s\n"
	        "  labels:\n    app: a%d\n",
	        i, NS[(i + v) % 3], (i + v) % 6);
	/* node-c: sometimes registered (a Node), sometimes never. */
	fprintf(f, "spec:\n  nodeName: node-%c\n", v % 2 ? 'a' : v % 5 == 4 ? 'c' : 'b');
	if (v % 3 == 0)
		fprintf(f, "  hostname: h%d\n  subdomain: s%d\n", i, (i + v) % N_SVC);
	fprintf(f,
	        "  containers:\n  - name: c\n    image: x\n    ports:\n    - name: web\n"
	        "      containerPort: %d\n",
	        8000 + v % 4);
	/* Addresses repeat now and then across pods: the model must pick the same one either way.
	 */
	fprintf(f, "status:\n  phase: Running\n  podIP: 10.244.%d.%d\n", v % 2,
	        1 + (i * 7 + v) % 90);
	fprintf(f, "  conditions:\n  - type: Ready\n    status: \"%s\"\n",
	        v % 4 == 1 ? "False" : "True");
}

/* What a prober found for pod I (overriding its readiness when the pod is in that namespace),
 * in a file of its own choosing. */
static void
write_pst(struct gen *g, FILE *f, int i)
{
	int v = g->pst_var[i];

	fprintf(f,
	        "---\napiVersion: svcdns.io/v1\nkind: PodStatus\nmetadata:\n  name: p%d\n"
	        "  namespace: %s\nstatus:\n  nodeName: node-a\n",
	        i, NS[v % 3]);
	if (v % 5 != 4)
		fprintf(f, "  conditions:\n  - type: Ready\n    status: \"%s\"\n",
		        v / 3 % 2 ? "False" : "True");
}

static void
write_eps(struct gen *g, FILE *f, int i)
{
	int v = g->eps_var[i];

	if (g->eps_slice[i]) {
		fprintf(f,
		        "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n"
		        "  name: s%d-x\n  namespace: %s\n  labels:\n"
		        "    kubernetes.io/service-name: s%d\naddressType: IPv4\nendpoints:\n",
		        i, NS[i % 3], i);
		fprintf(f, "- addresses: [\"10.245.%d.%d\"]\n  conditions: {ready: %s}\n", i,
		        1 + v % 50, v % 3 ? "true" : "false");
		fprintf(f, "- addresses: [\"10.245.%d.%d\"]\n", i, 100 + v % 20);
		fprintf(f, "ports:\n- name: http\n  port: %d\n", 9000 + v % 5);
		return;
	}
	fprintf(f,
	        "---\napiVersion: v1\nkind: Endpoints\nmetadata:\n  name: s%d\n  namespace: %s\n"
	        "subsets:\n- addresses:\n  - ip: 10.246.%d.%d\n",
	        i, NS[i % 3], i, 1 + v % 50);
	if (v % 2)
		fprintf(f, "  notReadyAddresses:\n  - ip: 10.246.%d.%d\n", i, 100 + v % 20);
	fprintf(f, "  ports:\n  - name: http\n    port: %d\n", 9100 + v % 5);
}

/* Node I: Ready, not Ready or without a status; with its Lease beside it or not. */
static void
write_node(struct gen *g, FILE *f, int i)
{
	int v = g->node_var[i];

	fprintf(f, "---\napiVersion: v1\nkind: Node\nmetadata:\n  name: node-%c\n", 'a' + i);
	if (v % 3 != 2)
		fprintf(f, "status:\n  conditions:\n  - type: Ready\n    status: \"%s\"\n",
		        v % 3 ? "False" : "True");
	if (v % 4 != 1)
		fprintf(f,
		        "---\napiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n"
		        "  name: node-%c\nspec:\n  holderIdentity: node-%c\n"
		        "  leaseDurationSeconds: 10\n",
		        'a' + i, 'a' + i);
}

/* Write every file whose text changed: to a temporary name, then renamed over the old one, as
 * svcctl and editors do. A file left with nothing is removed. */
void
gen_write(struct gen *g, const char *dir)
{
	for (int fi = 0; fi < N_FILES; fi++) {
		char path[4096], tmp[4096], *text = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&text, &len);
		int i;

		assert_non_null(f);
		for (i = 0; i < N_SVC; i++)
			if (g->svc_file[i] == fi)
				write_service(g, f, i);
		for (i = 0; i < N_POD; i++)
			if (g->pod_file[i] == fi)
				write_pod(g, f, i);
		for (i = 0; i < N_EPS; i++)
			if (g->eps_file[i] == fi)
				write_eps(g, f, i);
		for (i = 0; i < N_NODE; i++)
			if (g->node_file[i] == fi)
				write_node(g, f, i);
		for (i = 0; i < N_PST; i++)
			if (g->pst_file[i] == fi)
				write_pst(g, f, i);
		fclose(f);
		if (len == 0) {
			free(text);
			text = NULL;
		}
		if ((text == NULL && g->text[fi] == NULL) ||
		    (text != NULL && g->text[fi] != NULL && strcmp(text, g->text[fi]) == 0)) {
			free(text);
			continue;
		}
		free(g->text[fi]);
		g->text[fi] = text;
		snprintf(path, sizeof(path), "%s/f%d.yaml", dir, fi);
		if (text == NULL) {
			unlink(path);
			continue;
		}
		snprintf(tmp, sizeof(tmp), "%s/.f%d.tmp", dir, fi);
		f = fopen(tmp, "w");
		assert_non_null(f);
		fputs(text, f);
		fclose(f);
		assert_int_equal(rename(tmp, path), 0);
	}
}

/* One random step: a few objects added, changed, moved to another file or deleted. */
void
gen_mutate(struct gen *g)
{
	int n = 1 + (int)rnd(g, 4);

	/* Now and then a file loses everything: it is deleted. */
	if (rnd(g, 8) == 0) {
		int fi = (int)rnd(g, N_FILES), i;

		for (i = 0; i < N_SVC; i++)
			g->svc_file[i] = g->svc_file[i] == fi ? -1 : g->svc_file[i];
		for (i = 0; i < N_POD; i++)
			g->pod_file[i] = g->pod_file[i] == fi ? -1 : g->pod_file[i];
		for (i = 0; i < N_EPS; i++)
			g->eps_file[i] = g->eps_file[i] == fi ? -1 : g->eps_file[i];
		for (i = 0; i < N_NODE; i++)
			g->node_file[i] = g->node_file[i] == fi ? -1 : g->node_file[i];
		for (i = 0; i < N_PST; i++)
			g->pst_file[i] = g->pst_file[i] == fi ? -1 : g->pst_file[i];
	}
	while (n-- > 0) {
		uint32_t what = rnd(g, 14);
		int *file, *var;

		if (what < 3) {
			int i = (int)rnd(g, N_SVC);

			file = &g->svc_file[i];
			var = &g->svc_var[i];
		} else if (what < 8) {
			int i = (int)rnd(g, N_POD);

			file = &g->pod_file[i];
			var = &g->pod_var[i];
		} else if (what >= 12) {
			int i = (int)rnd(g, N_PST);

			file = &g->pst_file[i];
			var = &g->pst_var[i];
		} else if (what >= 10) {
			int i = (int)rnd(g, N_NODE);

			file = &g->node_file[i];
			var = &g->node_var[i];
		} else {
			int i = (int)rnd(g, N_EPS);

			file = &g->eps_file[i];
			var = &g->eps_var[i];
			if (rnd(g, 4) == 0)
				g->eps_slice[i] = !g->eps_slice[i];
		}
		switch (rnd(g, 4)) {
		case 0: /* delete (or add, when absent) */
			*file = *file < 0 ? (int)rnd(g, N_FILES) : -1;
			break;
		case 1: /* move to another file */
			if (*file >= 0)
				*file = (int)rnd(g, N_FILES);
			break;
		default: /* change */
			if (*file < 0)
				*file = (int)rnd(g, N_FILES);
			*var = (int)rnd(g, 1000);
			break;
		}
	}
}

void
gen_init(struct gen *g, uint64_t seed)
{
	memset(g, 0, sizeof(*g));
	g->rng = seed * 0x9E3779B97F4A7C15ull + 1;
	for (int i = 0; i < N_SVC; i++) {
		g->svc_file[i] = rnd(g, 3) ? (int)rnd(g, N_FILES) : -1;
		g->svc_var[i] = (int)rnd(g, 1000);
	}
	for (int i = 0; i < N_POD; i++) {
		g->pod_file[i] = rnd(g, 3) ? (int)rnd(g, N_FILES) : -1;
		g->pod_var[i] = (int)rnd(g, 1000);
	}
	for (int i = 0; i < N_EPS; i++) {
		g->eps_file[i] = (int)rnd(g, N_FILES);
		g->eps_var[i] = (int)rnd(g, 1000);
		g->eps_slice[i] = (int)rnd(g, 2);
	}
	for (int i = 0; i < N_NODE; i++) {
		g->node_file[i] = rnd(g, 2) ? (int)rnd(g, N_FILES) : -1;
		g->node_var[i] = (int)rnd(g, 1000);
	}
	for (int i = 0; i < N_PST; i++) {
		g->pst_file[i] = rnd(g, 2) ? (int)rnd(g, N_FILES) : -1;
		g->pst_var[i] = (int)rnd(g, 1000);
	}
}

void
gen_deinit(struct gen *g)
{
	for (int fi = 0; fi < N_FILES; fi++)
		free(g->text[fi]);
}
