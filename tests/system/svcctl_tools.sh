#!/usr/bin/env bash
# The small things a user of kubectl and of Debian's daemons reaches for: `svcctl version`,
# `--version` on all three programs, `svcctl completion bash` driven as bash drives it (verbs,
# kinds, object names asked of svcctl itself, -o formats, flags), and the man pages made from the
# option tables: they render, and list every option --help lists.
. "$(dirname "$0")/lib/common.sh"
need_programs svcdns svcfwd svcctl
need_tools man
V=$(awk '/^project\(/ { for (i = 1; i <= NF; i++) if ($i == "VERSION") print $(i + 1) }' \
	"$SVC_SOURCE_DIR/CMakeLists.txt")

expect_eq "svcctl version" "$("$SVCCTL" version)" "Client Version: v$V"
for p in svcdns svcfwd svcctl; do
	expect_eq "$p --version" "$("$SVC_BUILD_DIR/$p" --version)" "$p $V"
done

# ---- completion -----------------------------------------------------------------------------------

"$SVCCTL" completion bash >"$WORK/completion.bash"
expect_true "completion bash is valid bash" bash -n "$WORK/completion.bash"
# What bash would offer after the words given (the last one being completed).
offer() {
	PATH="$SVC_BUILD_DIR:$PATH" bash -c '
		. "$1"
		shift
		COMP_WORDS=("$@")
		COMP_CWORD=$(($# - 1))
		_svcctl
		printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " "' _ "$WORK/completion.bash" "$@"
}
expect_eq "completion: verbs" "$(offer svcctl de)" "delete describe "
expect_eq "completion: kinds after get" "$(offer svcctl get se)" "services "
expect_eq "completion: names, asked of svcctl with the --zones typed" \
	"$(offer svcctl --zones "$ZONES_SRC" get services ba)" "backend "
expect_eq "completion: names of pods" \
	"$(offer svcctl --zones "$ZONES_SRC" get pods db-)" "db-0 db-1 "
expect_eq "completion: namespaces after -n" \
	"$(offer svcctl --zones "$ZONES_SRC" get services -n s)" "shop "
expect_eq "completion: -o formats" "$(offer svcctl get pods -o y)" "yaml "
expect_eq "completion: flags" "$(offer svcctl get pods --all)" "--all-namespaces "
expect_eq "completion: an unknown shell" "$("$SVCCTL" completion fish 2>&1)" \
	'error: Unsupported shell type "fish".'

# ---- man pages ----------------------------------------------------------------------------------------

for ps in svcctl.1 svcdns.8 svcfwd.8; do
	p=${ps%.*}
	if [ ! -f "$SVC_BUILD_DIR/$ps" ] && [ "${SVC_SANITIZED:-0}" = 1 ]; then
		echo "# $ps: not made in a sanitizer build (CMakeLists.txt)"
		continue
	fi
	page=$(MANWIDTH=200 man -l "$SVC_BUILD_DIR/$ps" 2>/dev/null)
	expect_true "man $p renders, its NAME line first" grep -q "^NAME" <<<"$page"
	missing=()
	for f in $("$SVC_BUILD_DIR/$p" --help | grep -Eo -- '^  ( *-[a-zA-Z], )?--[a-z0-9-]+' | grep -Eo -- '--[a-z0-9-]+'); do
		grep -q -- "$f" <<<"$page" || missing+=("$f")
	done
	expect_eq "man $p has every option --help has" "${missing[*]}" ""
done

summary
