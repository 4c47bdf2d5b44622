/* ctl_json.h -- svcctl's -o json and -o jsonpath=TEMPLATE. */
#ifndef CTL_JSON_H
#define CTL_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "cluster_yaml.h"

/* Print the N objects of ITEMS as JSON (one object, or a List when AS_LIST), or, with
 * JSONPATH, that template applied to it. Returns 0, or 1 after an error message. */
int ctl_print_json(const struct cluster_yaml_item *items, size_t n, bool as_list,
                   const char *jsonpath, FILE *out);

/* -o custom-columns=SPEC (NAME:PATH,...): a table, a row per object, each cell what PATH
 * (jsonpath, braces optional) finds in it, "<none>" for nothing. */
int ctl_print_columns(const struct cluster_yaml_item *items, size_t n, const char *spec, FILE *out);

#endif
