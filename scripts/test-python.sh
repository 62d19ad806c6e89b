#!/usr/bin/env bash
# Tests `buildnet` for Python as users get it: builds the wheel (maturin, dev profile), installs
# it with pinned pytest and mypy into a FRESH venv in a temporary folder, and from there (outside
# the source tree, so `import buildnet` is the installed wheel, never bindings/python/buildnet):
#   - checks the installed package ships py.typed and the _buildnet.pyi stub;
#   - runs pytest on bindings/python/tests (BUILDNET_REPO tells the tests where the fixtures are);
#   - runs `mypy --strict` on tests/typecheck_usage.py and the tests (the stub must accept them),
#     and on tests/typecheck_wrong.py, which must be refused (an int passed as a key).
#
#   scripts/test-python.sh                                # builds target/wheels/buildnet-*.whl
#   SKIP_WHEEL_BUILD=1 scripts/test-python.sh             # the newest wheel in target/wheels
#   WHEEL=/path/to/buildnet-*.whl scripts/test-python.sh  # that wheel; nothing is built
#   PYTHON=python3.12 scripts/test-python.sh              # the interpreter of both venvs
#
# The build venv (maturin) is kept in target/py-build; the test venv is deleted at exit.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
python=${PYTHON:-python3}
started=$SECONDS

MATURIN_VERSION=1.16.0
PYTEST_VERSION=8.4.2
MYPY_VERSION=1.20.2

newest_wheel() {
  ls -t "$repo"/target/wheels/buildnet-*.whl 2>/dev/null | head -n 1 || true
}

if [ -n "${WHEEL:-}" ]; then
  wheel=$WHEEL
elif [ "${SKIP_WHEEL_BUILD:-0}" = 1 ]; then
  wheel=$(newest_wheel)
else
  echo "== maturin $MATURIN_VERSION: build the wheel (dev profile) into target/wheels"
  "$python" -m venv target/py-build
  target/py-build/bin/pip install --quiet "maturin==$MATURIN_VERSION"
  (cd bindings/python &&
    "$repo/target/py-build/bin/maturin" build --profile dev -o "$repo/target/wheels")
  wheel=$(newest_wheel)
fi
if [ -z "$wheel" ] || [ ! -f "$wheel" ]; then
  echo "test-python: no wheel${wheel:+ at $wheel}: build one (drop SKIP_WHEEL_BUILD) or set WHEEL" >&2
  exit 1
fi
wheel="$(cd "$(dirname "$wheel")" && pwd)/$(basename "$wheel")"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/buildnet-test-python.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
venv=$tmp/venv
tests=$repo/bindings/python/tests

echo "== fresh venv: $(basename "$wheel"), pytest $PYTEST_VERSION, mypy $MYPY_VERSION"
"$python" -m venv "$venv"
"$venv/bin/pip" install --quiet "$wheel" "pytest==$PYTEST_VERSION" "mypy==$MYPY_VERSION"

echo "== the installed package"
package=$(cd "$tmp" && "$venv/bin/python" -c \
  'import buildnet, os; print(os.path.dirname(os.path.realpath(buildnet.__file__)))')
case "$package/" in
  "$repo"/*)
    echo "test-python: buildnet was imported from the source tree ($package)" >&2
    exit 1
    ;;
esac
for file in __init__.py _errors.py _buildnet.pyi py.typed; do
  if [ ! -f "$package/$file" ]; then
    echo "test-python: the installed package $package has no $file" >&2
    exit 1
  fi
done
echo "$package: $(cd "$package" && ls | tr '\n' ' ')"

# No bytecode or pytest cache is written into the source tree.
export PYTHONDONTWRITEBYTECODE=1

echo "== pytest (from $tmp)"
(cd "$tmp" && BUILDNET_REPO="$repo" "$venv/bin/pytest" -p no:cacheprovider \
  --rootdir "$tmp" -q "$tests")

echo "== mypy --strict accepts the whole API as the stub types it"
mypy=("$venv/bin/mypy" --strict --cache-dir "$tmp/mypy-cache")
(cd "$tmp" && "${mypy[@]}" "$tests/typecheck_usage.py" "$tests/conftest.py" "$tests"/test_*.py)

echo "== mypy --strict refuses an int passed as a key"
# Not `! mypy ...`: under `set -e` a command negated with `!` never stops the script.
if wrong=$(cd "$tmp" && "${mypy[@]}" "$tests/typecheck_wrong.py" 2>&1); then
  echo "test-python: mypy accepted tests/typecheck_wrong.py:" >&2
  echo "$wrong" >&2
  exit 1
fi
expected='typecheck_wrong.py:[0-9]*: error: Argument 1 to "get_state" of "BuildNetClient" has incompatible type "int"; expected "str"'
if ! grep -q "$expected" <<<"$wrong" || ! grep -q '^Found 1 error in 1 file' <<<"$wrong"; then
  echo "test-python: mypy did not report (only) the wrong key type:" >&2
  echo "$wrong" >&2
  exit 1
fi
echo "$wrong" | head -n 1

echo "== test-python: passed in $((SECONDS - started)) s"
