#!/bin/sh
# Runs inside the cgroup v2 VM: the test binary, with a deadline. When the deadline
# passes, it prints what every process is blocked on (state, kernel wait channel, kernel
# stack) before killing the tests, so a hang becomes a failure that explains itself
# instead of a VM timeout that shows nothing.
# usage: in-vm-watchdog.sh SECONDS TEST-BINARY [ARGS…]; exit 3 when the deadline passed.
deadline=$1
shift
"$@" &
tests=$!
waited=0
while kill -0 "$tests" 2>/dev/null; do
    if [ "$waited" -ge "$deadline" ]; then
        echo "watchdog: tests still running after ${deadline}s; processes and their kernel stacks:" >&2
        command -v ps >/dev/null && ps -N --ppid 2 -p 2 -o pid,ppid,stat,wchan:32,etime,args >&2
        for task in /proc/[0-9]*; do
            state=$(sed -n 's/^State:\t\(.\).*/\1/p' "$task/status" 2>/dev/null)
            case $state in
            D | S)
                # User processes only (kernel threads have no command line), sleepers aside.
                cmd=$(tr '\0' ' ' < "$task/cmdline" 2>/dev/null)
                if [ -n "$cmd" ] && [ "$(cat "$task/comm" 2>/dev/null)" != sleep ]; then
                    echo "--- ${task#/proc/} $cmd" >&2
                    cat "$task/stack" >&2 2>/dev/null
                fi
                ;;
            esac
        done
        kill -KILL "$tests"
        wait "$tests"
        exit 3
    fi
    sleep 1
    waited=$((waited + 1))
done
wait "$tests"
