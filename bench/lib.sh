# Helpers every bench script sources: timing, medians, and stopping the server it started.
# Scripts set SERVER_PID to the one server they run at a time.

now() { date +%s.%N; }
# Seconds since START, to two decimals: `elapsed "$t"`.
elapsed() { echo "$(now) $1" | awk '{printf "%.2f", $1 - $2}'; }
# The median of whitespace-separated numbers on stdin.
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
# The EXIT trap of a script with one server and one work directory: stops the server it started
# (by PID), if one is running, and removes $WORK.
stop_server_and_remove_work() { [ -n "${SERVER_PID:-}" ] && kill "$SERVER_PID" 2>/dev/null; rm -rf "$WORK"; }
# Stops the server this script started (by PID) and waits for it.
stop_server() { kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=; }
