#!/usr/bin/env bash
# The suite as a user installs it: the built wheel in a fresh virtualenv outside the
# checkout; the scenarios collect from the installed package with Doctor's options, and
# the playbooks come from the package's data.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
python=${PYTHON:-python3}
work=$(mktemp -d /tmp/doctor-wheel.XXXXXX)
trap 'rm -rf "$work"' EXIT
echo "wheel check in $work"
"$root/.venv/bin/pip" wheel --quiet --disable-pip-version-check --no-deps -w "$work/dist" "$root"
wheel=$(ls "$work"/dist/doctor_tests-*.whl)
"$python" -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check "$wheel"
cd "$work"  # nothing of the checkout on the path
out=$(TEST_CASE=all "$work/venv/bin/pytest" --pyargs doctor_tests.scenarios --collect-only -q -p no:cacheprovider)
echo "$out" | tail -3
for case in test_fault_management test_port_dp_down test_notification_alarm test_lab_smoke; do
  grep -q "$case" <<<"$out" || { echo "wheel check: $case not collected" >&2; exit 1; }
done
help=$("$work/venv/bin/pytest" --help -p no:cacheprovider)
for opt in --installer-type --vm-count --test-case --repeat; do
  grep -q -- "$opt" <<<"$help" || { echo "wheel check: $opt missing from pytest --help" >&2; exit 1; }
done
data=$("$work/venv/bin/python" -c 'from doctor_tests.paths import data_root; print(data_root())')
case "$data" in "$work"/venv/*) ;; *) echo "wheel check: data from $data, not the package" >&2; exit 1;; esac
for f in ansible.cfg playbooks/prepare.yml playbooks/lab.yml roles/doctor_config/defaults/main.yml \
         inventory/local plugins/callback/doctor_events.py etc/doctor.yaml; do
  [ -e "$data/$f" ] || { echo "wheel check: $f missing from the package" >&2; exit 1; }
done
"$work/venv/bin/ansible-playbook" --version | head -1
echo "wheel check: ok ($(basename "$wheel"))"
