/* ctl_completion.c -- `svcctl completion bash`: a bash completion script, its flags taken from
 * the same option table as --help, so the two cannot disagree. Names of objects are completed by
 * asking svcctl itself (`svcctl get KIND -o name`), with the --zones or --etcd already typed. */
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "opt.h"

/* What svcctl has: the verbs of main.c, the kinds `get` lists, the formats of -o. */
static const char *const verbs[] = {"get",   "describe",   "create",  "apply", "delete",
                                    "check", "completion", "version", "expose"};
static const char *const kinds[] = {"services",   "pods",  "endpoints", "endpointslices",
                                    "namespaces", "nodes", "all"};
static const char *const outputs[] = {"wide", "yaml",      "json",
                                      "name", "jsonpath=", "custom-columns="};

static void
words(FILE *out, const char *const *w, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fprintf(out, "%s%s", i ? " " : "", w[i]);
}

int
ctl_completion(const struct opt_table *t, const char *shell)
{
	FILE *out = stdout;

	if (shell == NULL || strcmp(shell, "bash") != 0) {
		fprintf(stderr, "error: Unsupported shell type \"%s\".\n", shell ? shell : "");
		return 1;
	}
	fputs("# svcctl completion for bash: source <(svcctl completion bash)\n"
	      "_svcctl()\n{\n"
	      "\tlocal cur prev verb kind i src=()\n"
	      "\tcur=${COMP_WORDS[COMP_CWORD]}\n"
	      "\tprev=${COMP_WORDS[COMP_CWORD-1]}\n",
	      out);
	/* Flags that take a value: the word after them is not a verb or a name. */
	fputs("\tlocal valued=\"", out);
	for (size_t i = 0, first = 1; i < t->n; i++) {
		if (t->opts[i].metavar == NULL)
			continue;
		fprintf(out, "%s--%s", first ? "" : " ", t->opts[i].name);
		if (t->opts[i].short_name)
			fprintf(out, " -%c", t->opts[i].short_name);
		first = 0;
	}
	fputs("\"\n\tlocal flags=\"", out);
	for (size_t i = 0, first = 1; i < t->n; i++) {
		if (t->opts[i].flags & OPT_HIDDEN)
			continue;
		fprintf(out, "%s--%s", first ? "" : " ", t->opts[i].name);
		first = 0;
		if (t->opts[i].short_name)
			fprintf(out, " -%c", t->opts[i].short_name);
	}
	fputs("\"\n", out);
	fputs("\tfor ((i = 1; i < COMP_CWORD; i++)); do\n"
	      "\t\tcase ${COMP_WORDS[i]} in\n"
	      "\t\t--zones|--etcd|--etcd-prefix) src+=(\"${COMP_WORDS[i]}\" "
	      "\"${COMP_WORDS[i+1]}\"); "
	      "i=$((i + 1)); continue ;;\n"
	      "\t\t-*) [[ \" $valued \" == *\" ${COMP_WORDS[i]} \"* ]] && i=$((i + 1)); continue "
	      ";;\n"
	      "\t\tesac\n"
	      "\t\tif [ -z \"$verb\" ]; then verb=${COMP_WORDS[i]}; elif [ -z \"$kind\" ]; then "
	      "kind=${COMP_WORDS[i]}; fi\n"
	      "\tdone\n"
	      "\tcase $prev in\n"
	      "\t-o|--output) COMPREPLY=($(compgen -W \"",
	      out);
	words(out, outputs, sizeof(outputs) / sizeof(outputs[0]));
	fputs("\" -- \"$cur\")); return ;;\n"
	      "\t-n|--namespace) COMPREPLY=($(compgen -W \"$(svcctl \"${src[@]}\" get namespaces "
	      "-o name 2>/dev/null | sed 's,^namespace/,,')\" -- \"$cur\")); return ;;\n"
	      "\t-f|--filename|--zones|--status-dir) COMPREPLY=($(compgen -f -- \"$cur\")); return "
	      ";;\n"
	      "\tesac\n"
	      "\tif [[ $cur == -* ]]; then COMPREPLY=($(compgen -W \"$flags\" -- \"$cur\")); "
	      "return; "
	      "fi\n"
	      "\tif [ -z \"$verb\" ]; then COMPREPLY=($(compgen -W \"",
	      out);
	words(out, verbs, sizeof(verbs) / sizeof(verbs[0]));
	fputs("\" -- \"$cur\")); return; fi\n"
	      "\tcase $verb in\n"
	      "\tget|describe|delete|expose)\n"
	      "\t\tif [ -z \"$kind\" ]; then COMPREPLY=($(compgen -W \"",
	      out);
	words(out, kinds, sizeof(kinds) / sizeof(kinds[0]));
	fputs("\" -- \"$cur\")); return; fi\n"
	      "\t\tCOMPREPLY=($(compgen -W \"$(svcctl \"${src[@]}\" get \"$kind\" -A -o name "
	      "2>/dev/null | sed 's,^[^/]*/,,')\" -- \"$cur\")) ;;\n"
	      "\tcompletion) COMPREPLY=($(compgen -W \"bash\" -- \"$cur\")) ;;\n"
	      "\tesac\n"
	      "}\n"
	      "complete -F _svcctl svcctl\n",
	      out);
	return 0;
}
