#!/usr/bin/env bash
# LiteRT's GPU accelerator on a machine without a GPU, installed privately (no root, no system change):
# - Mesa 25's software Vulkan driver (lavapipe) from Debian's <codename>-backports, unpacked with dpkg -x
#   (Debian 12's own Mesa 22 is refused by LiteRT's WebGPU backend: "No adapters found");
# - a runtime-only Python environment, ai-edge-litert (the GPU accelerator ships from 2.1.2; the export
#   extra's onnx2tf pins 2.1.0, so it cannot live there) + numpy: what an app ships, nothing else.
#
#   bash setup.sh DIR      # idempotent: every step is skipped when its result is already there
#   FORCE_UPDATE=1 bash setup.sh DIR   # re-read the package indexes
#
# The Debian mirror is taken from this machine's apt configuration (the first non-security source that
# serves $VERSION_CODENAME), with the suite "<codename>-backports" added on the same URI; pip uses its own
# configuration. Used by `make gpu-runtime` (DIR = .venv/litert-gpu) and `python -m bggan.litert_gpu setup`.
set -euo pipefail

GPU_RT="${1:?usage: setup.sh DIR}"
mkdir -p "$GPU_RT" && GPU_RT="$(cd "$GPU_RT" && pwd)"
LITERT_VERSION="${LITERT_VERSION:-2.3.0}"
NUMPY_VERSION="${NUMPY_VERSION:-1.26.4}"
SEEDS=(mesa-vulkan-drivers libvulkan1)       # what we want; their missing/too-old deps are added below
APT_DIR="$GPU_RT/apt" DEB_DIR="$GPU_RT/debs" ROOT="$GPU_RT/root" VENV="$GPU_RT/venv"
say() { printf '[gpu-runtime] %s\n' "$*"; }
rm -f "$GPU_RT/.ready"

. /etc/os-release
CODENAME="${VERSION_CODENAME:?no VERSION_CODENAME in /etc/os-release}"
ARCH="$(dpkg --print-architecture)"
MULTIARCH="$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch 2>/dev/null || echo "$(uname -m)-linux-gnu")"
mkdir -p "$APT_DIR"/{lists/partial,cache/archives/partial,empty} "$DEB_DIR" "$ROOT"

# ---- 1. mirror: derived from the system's own apt sources --------------------------------------------------
if [[ ! -s "$APT_DIR/sources.list" || -n "${FORCE_UPDATE:-}" ]]; then
  python3 - "$CODENAME" "$APT_DIR/sources.list" <<'EOF'
import glob, os, re, sys
codename, out = sys.argv[1], sys.argv[2]
entries = []  # (uri, signed_by)
def add(uris, suites, signed):
    if codename in suites:
        for u in uris:
            if "security" not in u:
                entries.append((u.rstrip("/"), signed))
for f in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")):
    if os.path.isfile(f):
        for line in open(f):
            line = line.split("#", 1)[0].strip()
            m = re.match(r"deb\s+(\[(?P<opts>[^\]]*)\]\s+)?(?P<uri>\S+)\s+(?P<suite>\S+)", line)
            if m:
                so = re.search(r"signed-by=(\S+)", m.group("opts") or "")
                add([m.group("uri")], [m.group("suite")], so.group(1) if so else "")
for f in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
    for stanza in re.split(r"\n\s*\n", open(f).read()):
        fields, key = {}, None
        for line in stanza.splitlines():
            if line.startswith("#"):
                continue
            if line[:1].isspace() and key:
                fields[key] += "\n" + line.strip()
            elif ":" in line:
                key, val = line.split(":", 1)
                key = key.strip().lower(); fields[key] = val.strip()
        if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes").lower() == "no":
            continue
        signed = fields.get("signed-by", "")
        signed = signed if signed.startswith("/") and "\n" not in signed else ""
        add(fields.get("uris", "").split(), fields.get("suites", "").split(), signed)
if not entries:
    sys.exit(f"no apt source for suite {codename} found in /etc/apt")
uri, signed = entries[0]
opt = f"[signed-by={signed}] " if signed else ""
with open(out, "w") as fh:
    for suite in (codename, f"{codename}-updates", f"{codename}-backports"):
        fh.write(f"deb {opt}{uri} {suite} main\n")
print(f"[gpu-runtime] mirror from apt config: {uri} ({codename}, -updates, -backports)")
EOF
fi
APTO=(-o "Dir::Etc::sourcelist=$APT_DIR/sources.list" -o "Dir::Etc::sourceparts=$APT_DIR/empty"
      -o "Dir::State::Lists=$APT_DIR/lists" -o "Dir::Cache=$APT_DIR/cache" -o "Debug::NoLocking=1"
      -o "APT::Sandbox::User=$(id -un)" -o "APT::Architecture=$ARCH")

# ---- 2. private package index --------------------------------------------------------------------------------
if ! ls "$APT_DIR"/lists/*"${CODENAME}-backports"*Packages* >/dev/null 2>&1 || [[ -n "${FORCE_UPDATE:-}" ]]; then
  say "apt-get update (private lists in $APT_DIR)"
  apt-get "${APTO[@]}" -q update | sed 's/^/  /'
  rm -f "$DEB_DIR/.resolved"
fi

# ---- 3. resolve: seeds from -backports + only those of their deps the base system lacks (or has too old) -----
if [[ ! -s "$DEB_DIR/.resolved" ]]; then
  apt-get "${APTO[@]}" -s install --no-install-recommends -t "${CODENAME}-backports" "${SEEDS[@]}" \
    > "$APT_DIR/simulate.txt" 2>&1 || { cat "$APT_DIR/simulate.txt"; exit 1; }
  # Keep the 'Inst' packages reachable from the seeds through Depends (drops unrelated upgrades that apt only
  # schedules for Breaks/version lock-step of *installed* mesa packages: libgl1-mesa-dri, libegl-mesa0, ...).
  python3 - "$APT_DIR/simulate.txt" "${SEEDS[@]}" -- "${APTO[@]}" > "$DEB_DIR/.resolved.tmp" <<'EOF'
import re, subprocess, sys
k = sys.argv.index("--")
sim, seeds, apto = open(sys.argv[1]).read(), sys.argv[2:k], sys.argv[k + 1:]
inst = dict(re.findall(r"^Inst (\S+) (?:\[[^\]]*\] )?\((\S+)", sim, re.M))
keep, todo = set(), [s for s in seeds if s in inst]
while todo:
    p = todo.pop()
    if p in keep:
        continue
    keep.add(p)
    show = subprocess.run(["apt-cache", *apto, "show", f"{p}={inst[p]}"], capture_output=True, text=True).stdout
    for field in re.findall(r"^(?:Pre-)?Depends: (.*)$", show, re.M):
        for name in re.findall(r"(?:^|[,|])\s*([a-z0-9][a-z0-9+.-]+)", field):
            if name in inst:
                todo.append(name)
for p in sorted(keep):
    print(f"{p}={inst[p]}")
EOF
  mv "$DEB_DIR/.resolved.tmp" "$DEB_DIR/.resolved"
  say "resolved: $(tr '\n' ' ' < "$DEB_DIR/.resolved")"
fi
grep -q '^mesa-vulkan-drivers=' "$DEB_DIR/.resolved" || { say "mesa-vulkan-drivers not resolvable"; exit 1; }

# ---- 4. download + unpack (dpkg -x, no install) --------------------------------------------------------------
missing=()
while read -r pv; do
  p="${pv%%=*}" v="${pv#*=}"
  ls "$DEB_DIR/${p}_${v/*:/}_"*.deb >/dev/null 2>&1 || missing+=("$pv")
done < "$DEB_DIR/.resolved"
if ((${#missing[@]})); then
  say "apt-get download ${missing[*]}"
  t0=$(date +%s.%N)
  (cd "$DEB_DIR" && apt-get "${APTO[@]}" -q download "${missing[@]}" | sed 's/^/  /')
  say "downloaded in $(python3 -c "print(f'{$(date +%s.%N)-$t0:.1f}')") s, total $(du -ch "$DEB_DIR"/*.deb | tail -1 | cut -f1)"
  rm -f "$ROOT/.unpacked"
fi
if ! cmp -s "$DEB_DIR/.resolved" "$ROOT/.unpacked"; then
  while read -r pv; do
    p="${pv%%=*}" v="${pv#*=}"
    for deb in "$DEB_DIR/${p}_${v/*:/}_"*.deb; do say "dpkg -x $(basename "$deb")"; dpkg -x "$deb" "$ROOT"; done
  done < "$DEB_DIR/.resolved"
  cp "$DEB_DIR/.resolved" "$ROOT/.unpacked"
fi

# ---- 5. ICD json: the unpacked lavapipe, by absolute path ----------------------------------------------------
LVP="$ROOT/usr/lib/$MULTIARCH/libvulkan_lvp.so"
[[ -f "$LVP" ]] || { say "missing $LVP"; exit 1; }
python3 - "$ROOT/usr/share/vulkan/icd.d/lvp_icd.json" "$LVP" "$GPU_RT/lvp_icd.json" <<'EOF'
import json, sys
src, lib, out = sys.argv[1:]
j = json.load(open(src)); j["ICD"]["library_path"] = lib
new = json.dumps(j, indent=4) + "\n"
try: old = open(out).read()
except OSError: old = None
if old != new: open(out, "w").write(new); print(f"[gpu-runtime] wrote {out} (api_version {j['ICD']['api_version']})")
EOF
notfound="$(LD_LIBRARY_PATH="$ROOT/usr/lib/$MULTIARCH" ldd "$LVP" | grep 'not found' || true)"
[[ -z "$notfound" ]] || { say "lavapipe has unresolved libraries:"; echo "$notfound"; exit 1; }

# ---- 6. runtime-only venv (pip's own index configuration) -----------------------------------------------------
if ! "$VENV/bin/python" -c "import ai_edge_litert as m, numpy, sys; sys.exit(m.__version__ != '$LITERT_VERSION' or numpy.__version__ != '$NUMPY_VERSION')" 2>/dev/null; then
  say "venv $VENV: ai-edge-litert==$LITERT_VERSION numpy==$NUMPY_VERSION"
  [[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "ai-edge-litert==$LITERT_VERSION" "numpy==$NUMPY_VERSION"
fi
"$VENV/bin/pip" check >/dev/null || { "$VENV/bin/pip" check; exit 1; }
cat > "$GPU_RT/.ready" <<EOF
lib=$ROOT/usr/lib/$MULTIARCH
icd=$GPU_RT/lvp_icd.json
python=$VENV/bin/python
litert=$LITERT_VERSION
EOF
say "ready: $GPU_RT"
