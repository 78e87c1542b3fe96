#!/usr/bin/env bash
# Doctor as an Xtesting test case, for real: Xtesting's own run_tests runs one Doctor case
# through the driver (doctor_tests/xtesting) and pushes the record to Xtesting's file://
# results target; then the record and the exit code are checked.
#
#   tests/xtesting/run.sh                          fault_management, expects PASS
#   EXPECT=FAIL DOCTOR_NOTIFICATION_THRESHOLD=0.001 tests/xtesting/run.sh
#                                                  an impossible limit: FAIL pushed, rc != 0
#
# Environment (all optional): CASE (fault_management | port_dp_down | notification_alarm),
# EXPECT (PASS | FAIL), VM_COUNT (1), XT_VENV (.venv-xtesting, created with xtesting from
# the package index when missing), RESULTS (results), DB_FILE ($RESULTS/xtesting-results.json),
# XTESTING_FLAGS (-r; add -p to publish artifacts, which needs S3_ENDPOINT_URL,
# S3_DST_URL, HTTP_DST_URL), and the CI facts Xtesting records: INSTALLER_TYPE (local),
# DEPLOY_SCENARIO, NODE_NAME (this host's name), BUILD_TAG. Needs the lab (or another
# configured cloud) and root (Xtesting writes /var/lib/xtesting/results).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
PYTHON=${PYTHON:-python3}
XT_VENV=${XT_VENV:-$ROOT/.venv-xtesting}
CASE=${CASE:-fault_management}
EXPECT=${EXPECT:-PASS}
RESULTS=${RESULTS:-$ROOT/results}
DB_FILE=${DB_FILE:-$RESULTS/xtesting-results.json}
XTESTING_FLAGS=${XTESTING_FLAGS:--r}

case $EXPECT in PASS|FAIL) ;; *) echo "EXPECT must be PASS or FAIL, not $EXPECT" >&2; exit 2;; esac

if [[ ! -x $XT_VENV/bin/run_tests ]]; then
    echo "== creating $XT_VENV (xtesting and ansible-core from the package index, Doctor editable)"
    "$PYTHON" -m venv "$XT_VENV"
    # ansible-core as the Makefile pins it: the scenarios run prepare.yml/restore.yml.
    "$XT_VENV/bin/pip" install --quiet --disable-pip-version-check xtesting -e "$ROOT" \
        'ansible-core>=2.16,<2.20'
fi
# Xtesting reads testcases.yaml from ~/.xtesting, /etc/xtesting or <sys.prefix>/etc/xtesting
# (the first that has one); the venv's own keeps this machine's other places untouched.
install -D -m 0644 doctor_tests/xtesting/testcases.yaml "$XT_VENV/etc/xtesting/testcases.yaml"

export TEST_DB_URL="file://$DB_FILE"
export INSTALLER_TYPE=${INSTALLER_TYPE:-local}
export DEPLOY_SCENARIO=${DEPLOY_SCENARIO:-os-nosdn-nofeature-noha}
export NODE_NAME=${NODE_NAME:-$(hostname)}
export BUILD_TAG=${BUILD_TAG:-local-doctor-xtesting-$(date -u +%Y%m%dT%H%M%S)}
export VM_COUNT=${VM_COUNT:-1}
mkdir -p "$RESULTS"
records=("$XT_VENV/bin/python" -m doctor_tests.xtesting.records "$DB_FILE")
before=$("${records[@]}" --count)

echo "== run_tests -t $CASE $XTESTING_FLAGS (TEST_DB_URL=$TEST_DB_URL, VM_COUNT=$VM_COUNT)"
started=$(date +%s)
set +e
# shellcheck disable=SC2086  # XTESTING_FLAGS is a list of flags
"$XT_VENV/bin/run_tests" -t "$CASE" $XTESTING_FLAGS 2>&1 | tee "$RESULTS/xtesting-$CASE.log"
rc=${PIPESTATUS[0]}
set -e
echo "== run_tests exit code $rc after $(( $(date +%s) - started )) s;" \
     "Doctor's files in /var/lib/xtesting/results/$CASE"

status=0
if [[ $EXPECT == PASS && $rc -ne 0 ]] || [[ $EXPECT == FAIL && $rc -eq 0 ]]; then
    echo "FAILED: exit code $rc does not fit criteria $EXPECT" >&2
    status=1
fi
profile=()
if [[ $CASE == fault_management ]]; then profile=(--profile); fi
if "${records[@]}" --since "$before" --case "$CASE" --criteria "$EXPECT" "${profile[@]}"; then
    echo "== record $((before + 1)) in $DB_FILE: criteria $EXPECT as expected"
else
    status=1
fi
exit $status
