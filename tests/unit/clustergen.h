/* clustergen.h -- random clusters written as manifest files, for property tests that compare an
 * incremental path with a full rebuild after every step: services (some headless, pinned,
 * NodePort, selector-less), pods (labels, readiness, nodes, hostnames, repeated addresses),
 * Nodes (ready, not ready, without status; with a Lease or not), PodStatuses (a prober's
 * readiness, for a pod of their namespace or not),
 * Endpoints and EndpointSlices, spread over files and namespaces, added, changed, moved between
 * files and deleted. Reproducible from a seed. A small service range (10.96.0.0/26) makes pins
 * move unpinned services: configure it. */
#ifndef CLUSTERGEN_H
#define CLUSTERGEN_H

#include <stdint.h>

#define N_FILES 6
#define N_SVC   24
#define N_POD   60
#define N_EPS   6
#define N_NODE  3
#define N_PST   12

struct gen {
	uint64_t rng;
	/* Which file holds each object (-1: none), and its current variant. */
	int svc_file[N_SVC], svc_var[N_SVC];
	int pod_file[N_POD], pod_var[N_POD];
	int eps_file[N_EPS], eps_var[N_EPS], eps_slice[N_EPS];
	int node_file[N_NODE], node_var[N_NODE];
	int pst_file[N_PST], pst_var[N_PST];
	char *text[N_FILES]; /* what each file holds now; NULL: absent */
};

void gen_init(struct gen *g, uint64_t seed);
/* One random step: a few objects added, changed, moved to another file or deleted. */
void gen_mutate(struct gen *g);
/* Write the files of DIR whose text changed (tmp + rename; a file left empty is removed). */
void gen_write(struct gen *g, const char *dir);
void gen_deinit(struct gen *g);

#endif
