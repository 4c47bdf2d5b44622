# svcctl.sh -- sourced by the svcctl system tests after common.sh: copies of zones/, running
# svcctl with its output kept, and checks of that output.
#   fresh NAME               a fresh copy of zones/ at $WORK/NAME, files 10 days and an hour old
#   age DIR                  make every file of DIR that old again
#   run DIR ARGS...          svcctl --zones DIR ARGS: stdout in $OUT, stderr in $ERR, status $RC
#   run_stdin FILE DIR ARGS  the same, standard input from FILE
#   expect_rc MSG WANT, expect_out MSG TEXT, expect_text MSG FILE TEXT, expect_has MSG FILE TEXT,
#   expect_lacks MSG FILE TEXT, show_err

# A fresh copy of zones/ at $WORK/NAME. Every file's modification time is set to 10 days and an
# hour ago, so objects without a creationTimestamp are exactly "10d" old in the AGE column.
fresh() {
	local dir=$WORK/$1
	rm -rf "$dir"
	cp -R "$ZONES_SRC" "$dir"
	age "$dir"
	echo "$dir"
}

# Make every file of DIR 10 days and an hour old again, after editing one.
age() {
	find "$1" -type f -exec touch -d "@$(($(date +%s) - 10 * 86400 - 3600))" {} +
}

# run DIR ARGS...: svcctl --zones DIR ARGS; stdout in $OUT, stderr in $ERR, exit status in $RC.
OUT=$WORK/stdout
ERR=$WORK/stderr
RC=0
run() {
	local dir=$1
	shift
	if "$SVCCTL" --zones "$dir" "$@" >"$OUT" 2>"$ERR"; then RC=0; else RC=$?; fi
}

# Same, with standard input from the file $1.
run_stdin() {
	local in=$1 dir=$2
	shift 2
	if "$SVCCTL" --zones "$dir" "$@" <"$in" >"$OUT" 2>"$ERR"; then RC=0; else RC=$?; fi
}

show_err() {
	echo "  --- stderr:"
	sed 's/^/  | /' "$ERR"
}

expect_rc() { # NAME WANT
	if [ "$RC" -eq "$2" ]; then
		pass "$1: exit status $2"
	else
		fail "$1: exit status $2" "got exit status $RC"
		show_err
	fi
}

# FILE (which may be a pipe from <(...), readable once) copied to $WORK/actual.
ACTUAL=$WORK/actual
snap() {
	cat "$1" >"$ACTUAL"
}

# expect_text NAME FILE EXPECTED: FILE's content is exactly EXPECTED (plus a final newline).
expect_text() {
	local name=$1 want=$3 file=$ACTUAL
	snap "$2"
	if [ "$(cat "$file")" == "$want" ] && { [ ! -s "$file" ] || [ -z "$(tail -c1 "$file")" ]; }; then
		pass "$name: output as expected"
	else
		fail "$name: output as expected" "it differs (--- expected, +++ actual):"
		diff -u <(printf '%s\n' "$want") "$file" | sed 's/^/  /' || true
		show_err
	fi
}

expect_out() { expect_text "$1" "$OUT" "$2"; }

# expect_has NAME FILE TEXT: FILE has a line containing TEXT (fixed string).
expect_has() {
	snap "$2"
	if grep -qF -- "$3" "$ACTUAL"; then
		pass "$1: a line contains: $3"
	else
		fail "$1: a line contains: $3"
		echo "  --- actual:"
		sed 's/^/  | /' "$ACTUAL"
	fi
}

expect_lacks() {
	snap "$2"
	if ! grep -qF -- "$3" "$ACTUAL"; then
		pass "$1: no line contains: $3"
	else
		fail "$1: no line contains: $3"
		echo "  --- actual:"
		sed 's/^/  | /' "$ACTUAL"
	fi
}

