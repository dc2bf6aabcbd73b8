#!/usr/bin/env bash
# End to end, the way a person uses it: the real `hope app` on the real default model, driven in tmux.
# Creates a user in the app, tells it a fact, finds it in Memories, forgets it, and checks the screen
# after every step (and the store's files for the fact's words at the end). Not part of pytest.
#
#   tests/e2e/tmux_forget.sh            # from the repository root; needs tmux and `make install`
#   HOPE=path/to/hope KEEP=1 tests/e2e/tmux_forget.sh   # another binary; keep the data folder
#
# Exit status 0 when every check passed; otherwise 1, the failed step and the last screen.
set -euo pipefail

HOPE=${HOPE:-.venv/bin/hope}
STEP_TIMEOUT=${STEP_TIMEOUT:-300}  # seconds per step: the model loads, replies and replays on a CPU
SOCKET="hope-e2e-$$"
DATA=$(mktemp -d "${TMPDIR:-/tmp}/hope-e2e.XXXXXX")
PASSPHRASE="e2e correct horse battery"
FACT="My sister Lena moved to Bergen last spring."

command -v tmux >/dev/null || { echo "tmux is not installed" >&2; exit 1; }
[ -x "$HOPE" ] || { echo "$HOPE not found; run 'make install' first" >&2; exit 1; }

cleanup() {
    tmux -L "$SOCKET" kill-server 2>/dev/null || true
    if [ -z "${KEEP:-}" ]; then rm -rf "$DATA"; else echo "data kept in $DATA"; fi
}
trap cleanup EXIT

screen() { tmux -L "$SOCKET" capture-pane -p; }
keys() { tmux -L "$SOCKET" send-keys "$@"; sleep 0.3; }
type_line() { tmux -L "$SOCKET" send-keys -l "$1"; sleep 0.3; keys Enter; }

fail() {
    echo "FAIL: $1" >&2
    echo "---- last screen ----" >&2
    screen >&2 || true
    exit 1
}

# wait_for REGEX WHAT: poll the screen until REGEX (grep -E) matches, or fail after STEP_TIMEOUT.
wait_for() {
    local deadline=$((SECONDS + STEP_TIMEOUT))
    until screen | grep -Eq -- "$1"; do
        [ $SECONDS -lt $deadline ] || fail "timed out after ${STEP_TIMEOUT}s waiting for $2 (/$1/)"
        sleep 0.5
    done
    echo "ok: $2"
}

# absent REGEX WHAT: the current screen must not match.
absent() {
    if screen | grep -Eq -- "$1"; then fail "$2 (/$1/ is on screen)"; fi
    echo "ok: $2"
}

tmux -L "$SOCKET" new-session -d -x 100 -y 30 \
    "env -u HOPE_PASSPHRASE $HOPE app --data-dir '$DATA' --user e2e; echo 'APP EXITED'; sleep 600"

wait_for "the same passphrase again" "the create-user form"
type_line "$PASSPHRASE"
type_line "$PASSPHRASE"
wait_for "learning ●" "the chat, learning, after Argon2id and the model load"
wait_for "hope · e2e ·" "the status line naming the user"

type_line "$FACT"
wait_for "you +My sister Lena moved to Bergen" "the fact in the transcript"
wait_for "[1-9][0-9]* tok since sleep" "the turn recorded and learned (tokens since sleep)"
wait_for "^│ hope +[^ ]" "a reply from the model"

keys F2
wait_for "Memories · 1 episode · 1 awaiting sleep" "Memories listing the episode"
wait_for "My sister Lena moved" "the fact in the table"
wait_for "fast" "its state: learned awake, not slept on"

keys d
wait_for "Forget 1 memory\?" "the forget question"
wait_for "cannot be undone" "the question saying what happens"
wait_for "re-learn" "the question saying what the model re-learns (the engine's plan)"
keys Enter
wait_for "Forgotten · receipt [0-9a-f]{8}" "the receipt"
wait_for "1 record shredded" "the receipt's shred count"
wait_for "Verified: the model now holds it" "the receipt's verdict, from measuring before and after"
keys Enter
wait_for "Memories · 0 episodes" "Memories after the forget"
absent "My sister Lena" "the fact gone from Memories"

keys F5
wait_for "Receipts · 1" "the receipt kept in the audit view"
keys v
wait_for "chain verified" "the audit chain verified"
keys Escape
wait_for "forgotten: this conversation's context was cleared" "the chat saying the context was cleared"

keys C-q
wait_for "APP EXITED" "the app quitting"
if grep -rqa "Bergen" "$DATA/users"; then fail "the fact's words are still readable in $DATA/users"; fi
echo "ok: no plaintext of the fact in the store's files"
echo "PASS: told a fact, found it, forgot it, and it is gone"
