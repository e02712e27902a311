#!/usr/bin/env bash
# Drives real S3 clients -- Debian's awscli, rclone, s3cmd and python3-boto3 --
# against a real `cairn server` process on free 127.0.0.1 ports, each client
# with its own isolated configuration. Prints a PASS/FAIL line per step and
# exits non-zero at the first failure (printing the server log). Installs the
# clients with apt-get when one is missing. Safe to run repeatedly: everything
# lives in a temporary directory removed on exit.
#
#   bash .ci/s3-clients.sh
set -Eeuo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local LC_ALL=C.UTF-8
start=$(date +%s)

# The clients, named explicitly: a pyenv python (without boto3) and its own
# `aws` may come first on PATH.
PY=/usr/bin/python3
AWS=/usr/bin/aws
RCLONE=/usr/bin/rclone
S3CMD=/usr/bin/s3cmd
T=300 # seconds any one client command may take

# Nothing from the caller's environment may configure a client.
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN \
  AWS_SECURITY_TOKEN AWS_REGION AWS_DEFAULT_REGION AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3 AWS_CONFIG_FILE \
  AWS_SHARED_CREDENTIALS_FILE PYTHONPATH PYTHONHOME S3CMD_CONFIG
for v in $(compgen -e | grep '^RCLONE_' || true); do unset "$v"; done
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

# Verdicts go to fd 3, the script's stdout, even from inside a redirection.
exec 3>&1
CURRENT="setup"
step_start=$start
step() { CURRENT=$1; step_start=$(date +%s); }
pass() { echo "PASS: $CURRENT ($(( $(date +%s) - step_start ))s)" >&3; }
die() { echo "FAIL: $CURRENT: $*" >&3; exit 1; }
on_err() { # a command failed under set -e; report it once, from the main shell
  if [ "$BASHPID" = "$$" ]; then echo "FAIL: $CURRENT: command failed (exit $1, line $2): $3" >&3; fi
}
trap 'on_err $? $LINENO "$BASH_COMMAND"' ERR
expect() { # expect GOT WANT WHAT
  [ "$1" = "$2" ] || die "$3: got '$1', want '$2'"
}
sha() { sha256sum <"$1" | cut -d' ' -f1; }
free_ports() { # five free 127.0.0.1 ports, all held open while chosen so they differ
  "$PY" -c '
import socket
ss = [socket.socket() for _ in range(5)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])
for s in ss: s.close()'
}
same_file() { # same_file A B WHAT
  [ "$(sha "$1")" = "$(sha "$2")" ] || die "$3: content differs ($1 vs $2)"
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cairn-s3-clients.XXXXXX")
server_pid=""
tls_pid=""
cleanup() {
  local rc=$?
  set +e
  trap - ERR
  if [ -n "$tls_pid" ] && kill -0 "$tls_pid" 2>/dev/null; then
    kill "$tls_pid"; wait "$tls_pid" 2>/dev/null
  fi
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid"
    for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
  fi
  if [ "$rc" -ne 0 ] && [ -s "$tmp/server.log" ]; then
    echo "--- cairn server log (last 150 lines of $(wc -l <"$tmp/server.log"))"
    tail -n 150 "$tmp/server.log"
    echo "---"
  fi
  rm -rf "$tmp"
  if [ "$rc" -eq 0 ]; then
    echo "s3-clients: all passed in $(( $(date +%s) - start ))s"
  else
    echo "s3-clients: FAILED (exit $rc) after $(( $(date +%s) - start ))s"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step "install awscli, rclone, s3cmd, python3-boto3 (if missing)"
missing=()
[ -x "$AWS" ] || missing+=(awscli)
[ -x "$RCLONE" ] || missing+=(rclone)
[ -x "$S3CMD" ] || missing+=(s3cmd)
{ [ -x "$PY" ] && "$PY" -c 'import boto3' 2>/dev/null; } || missing+=(python3-boto3)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq awscli rclone s3cmd python3-boto3 >/dev/null
fi
echo "$("$AWS" --version 2>&1); $("$RCLONE" version | sed -n 1p); s3cmd $("$S3CMD" --version | awk '{print $3}');" \
  "boto3 $("$PY" -c 'import boto3; print(boto3.__version__)')"
pass

step "build cairn"
go build -o "$tmp/cairn" ./cmd/cairn
pass

step "start cairn server"
read -r P_GRPC P_HTTP P_RAFT P_DATA P_S3 < <(free_ports)
AK=CAIRNCITESTACCESSKEY
SK=cairn-ci-test-secret-key-0123456789abcdef
EP="http://127.0.0.1:$P_S3"
"$tmp/cairn" server --dir "$tmp/data" --bind 127.0.0.1 --grpc-port "$P_GRPC" --http-port "$P_HTTP" \
  --raft-port "$P_RAFT" --data-port "$P_DATA" --s3-port "$P_S3" --access-key "$AK" --secret-key "$SK" \
  >"$tmp/server.log" 2>&1 &
server_pid=$!
for i in $(seq 120); do
  kill -0 "$server_pid" 2>/dev/null || die "cairn server exited during startup"
  if curl -fsS --max-time 2 "$EP/-/readyz" >/dev/null 2>&1; then break; fi
  [ "$i" -lt 120 ] || die "$EP/-/readyz not ready after 60s"
  sleep 0.5
done
echo "S3 endpoint $EP (gRPC $P_GRPC, HTTP $P_HTTP, Raft $P_RAFT, data $P_DATA)"
pass

step "generate the test tree (shared by the clients)"
"$PY" .ci/s3clients/maketree.py "$tmp/tree" >"$tmp/tree.count"
ntree=$(cat "$tmp/tree.count")
pass

# ---------------------------------------------------------------- awscli
mkdir -p "$tmp/aws"
aws_env=(AWS_CONFIG_FILE="$tmp/aws/config" AWS_SHARED_CREDENTIALS_FILE="$tmp/aws/credentials"
  AWS_ACCESS_KEY_ID="$AK" AWS_SECRET_ACCESS_KEY="$SK" AWS_DEFAULT_REGION=us-east-1 AWS_PAGER=
  AWS_EC2_METADATA_DISABLED=true)
aws() { timeout "$T" env "${aws_env[@]}" "$AWS" --endpoint-url "$EP" "$@"; }
aws configure set default.s3.multipart_chunksize 16MB
aws configure set default.s3.multipart_threshold 16MB
B=aws-test

step "awscli: s3 mb, s3 ls"
aws s3 mb "s3://$B" >/dev/null
out=$(aws s3 ls)
grep -q " $B\$" <<<"$out" || die "bucket $B not in 'aws s3 ls'"
pass

step "awscli: s3 cp 100 MiB multipart (16 MiB parts) up and back, sha256"
head -c 100M /dev/urandom >"$tmp/big.bin"
aws s3 cp --only-show-errors "$tmp/big.bin" "s3://$B/big/big file.bin"
expect "$(aws s3api head-object --bucket "$B" --key "big/big file.bin" --query ContentLength --output text)" \
  104857600 "ContentLength"
etag=$(aws s3api head-object --bucket "$B" --key "big/big file.bin" --query ETag --output text)
[[ $etag == *-7\" ]] || die "ETag $etag is not a 7-part multipart ETag"
aws s3 cp --only-show-errors "s3://$B/big/big file.bin" "$tmp/big.down"
same_file "$tmp/big.bin" "$tmp/big.down" "100 MiB round trip"
rm -f "$tmp/big.down"
pass

step "awscli: s3 sync of a $ntree-file tree up and down, diff -r, no-op resync"
aws s3 sync --only-show-errors "$tmp/tree" "s3://$B/tree/"
aws s3 sync --only-show-errors "s3://$B/tree/" "$tmp/aws.down"
diff -r "$tmp/tree" "$tmp/aws.down" || die "tree differs after sync up and down"
again=$(aws s3 sync --dryrun "$tmp/tree" "s3://$B/tree/")
[ -z "$again" ] || die "second upload sync is not a no-op: $again"
again=$(aws s3 sync --dryrun "s3://$B/tree/" "$tmp/aws.down")
[ -z "$again" ] || die "second download sync is not a no-op: $again"
pass

step "awscli: s3 sync --delete propagates a change and a removal"
cp -r "$tmp/tree" "$tmp/tree2"
rm "$tmp/tree2/d/inner"
echo changed >"$tmp/tree2/top level file.txt"
aws s3 sync --only-show-errors --delete "$tmp/tree2" "s3://$B/tree/"
aws s3 sync --only-show-errors --delete "s3://$B/tree/" "$tmp/aws.down"
diff -r "$tmp/tree2" "$tmp/aws.down" || die "tree differs after sync --delete"
rm -rf "$tmp/aws.down"
pass

step "awscli: s3 ls (bucket level, prefix, recursive)"
out=$(aws s3 ls "s3://$B/")
grep -q 'PRE big/' <<<"$out" && grep -q 'PRE tree/' <<<"$out" || die "top-level listing: $out"
out=$(aws s3 ls "s3://$B/tree/")
for want in 'PRE d/' 'PRE with space/' ' d-x$' ' d.x$' ' d_x$' ' empty.txt$' ' one byte$'; do
  grep -q -- "$want" <<<"$out" || die "'aws s3 ls s3://$B/tree/' lacks '$want': $out"
done
n=$(aws s3 ls --recursive "s3://$B/tree/" | wc -l)
expect "$n" "$((ntree - 1))" "recursive listing count"
aws s3 ls --recursive "s3://$B/tree/" | sed -E 's/^[0-9-]+ [0-9:]+ +[0-9]+ //' >"$tmp/keys"
LC_ALL=C sort -c "$tmp/keys" || die "recursive listing is not in bytewise key order"
(cd "$tmp/tree2" && find . -type f | sed 's|^\./|tree/|' | LC_ALL=C sort) >"$tmp/keys.want"
diff "$tmp/keys.want" "$tmp/keys" || die "recursive listing differs from the local tree"
rm -rf "$tmp/tree2"
pass

step "awscli: s3 rm --recursive"
aws s3 rm --only-show-errors --recursive "s3://$B/tree/"
expect "$(aws s3api list-objects-v2 --no-paginate --bucket "$B" --prefix tree/ --query KeyCount --output text)" 0 "keys left under tree/"
out=$(aws s3 ls "s3://$B/")
expect "$(grep -c 'PRE tree/' <<<"$out" || true)" 0 "tree/ prefix still listed"
pass

step "awscli: s3api put-object (content type, metadata), head-object, get-object --range"
head -c 1000 /dev/urandom >"$tmp/meta.bin"
aws s3api put-object --bucket "$B" --key api/meta.bin --body "$tmp/meta.bin" --content-type text/x-cairn \
  --metadata color=blue,owner=ci >/dev/null
expect "$(aws s3api head-object --bucket "$B" --key api/meta.bin \
  --query '[ContentType, Metadata.color, Metadata.owner, ContentLength]' --output text)" \
  "text/x-cairn	blue	ci	1000" "head-object"
expect "$(aws s3api get-object --bucket "$B" --key api/meta.bin --range bytes=100-199 "$tmp/range.out" \
  --query ContentRange --output text)" "bytes 100-199/1000" "ContentRange"
tail -c +101 "$tmp/meta.bin" | head -c 100 >"$tmp/range.want"
same_file "$tmp/range.want" "$tmp/range.out" "ranged GET"
if aws s3api head-object --bucket "$B" --key api/missing >/dev/null 2>"$tmp/err"; then die "head of a missing key succeeded"; fi
grep -q '404' "$tmp/err" || die "head of a missing key: $(cat "$tmp/err")"
pass

step "awscli: s3api list-objects-v2 --prefix --delimiter, copy-object, delete-objects"
for k in api/a/1 api/a/2 api/b/1 api/c.txt; do
  aws s3api put-object --bucket "$B" --key "$k" --body "$tmp/range.want" >/dev/null
done
expect "$(aws s3api list-objects-v2 --bucket "$B" --prefix api/ --delimiter / \
  --query 'CommonPrefixes[].Prefix' --output text)" "api/a/	api/b/" "common prefixes"
expect "$(aws s3api list-objects-v2 --bucket "$B" --prefix api/ --delimiter / \
  --query 'Contents[].Key' --output text)" "api/c.txt	api/meta.bin" "keys"
expect "$(aws s3api list-objects-v2 --bucket "$B" --prefix api/a --query 'Contents[].Key' --output text)" \
  "api/a/1	api/a/2" "keys under api/a"
aws s3api copy-object --bucket "$B" --key api/copy.bin --copy-source "$B/api/meta.bin" >/dev/null
expect "$(aws s3api head-object --bucket "$B" --key api/copy.bin --query '[ContentType, Metadata.color]' --output text)" \
  "text/x-cairn	blue" "copied object's metadata"
aws s3api get-object --bucket "$B" --key api/copy.bin "$tmp/copy.out" >/dev/null
same_file "$tmp/meta.bin" "$tmp/copy.out" "copy-object"
aws s3api copy-object --bucket "$B" --key api/copy.bin --copy-source "$B/api/meta.bin" \
  --metadata-directive REPLACE --metadata color=red --content-type text/plain >/dev/null
expect "$(aws s3api head-object --bucket "$B" --key api/copy.bin --query '[ContentType, Metadata.color]' --output text)" \
  "text/plain	red" "metadata after copy with REPLACE"
expect "$(aws s3api delete-objects --bucket "$B" \
  --delete 'Objects=[{Key=api/a/1},{Key=api/a/2},{Key=api/b/1}]' --query 'length(Deleted)' --output text)" 3 "deleted"
expect "$(aws s3api list-objects-v2 --bucket "$B" --prefix api/ --query 'Contents[].Key' --output text)" \
  "api/c.txt	api/copy.bin	api/meta.bin" "keys after delete-objects"
pass

step "awscli: s3api create-multipart-upload, upload-part, list-parts, complete"
head -c 5M /dev/urandom >"$tmp/part1"
head -c 1234567 /dev/urandom >"$tmp/part2"
uid=$(aws s3api create-multipart-upload --bucket "$B" --key api/mp.bin --content-type application/x-mp \
  --query UploadId --output text)
e1=$(aws s3api upload-part --bucket "$B" --key api/mp.bin --upload-id "$uid" --part-number 1 --body "$tmp/part1" \
  --query ETag --output text)
e2=$(aws s3api upload-part --bucket "$B" --key api/mp.bin --upload-id "$uid" --part-number 2 --body "$tmp/part2" \
  --query ETag --output text)
expect "$(aws s3api list-parts --bucket "$B" --key api/mp.bin --upload-id "$uid" --query 'Parts[].[PartNumber,Size]' \
  --output text | tr '\n\t' ' :')" "1:5242880 2:1234567 " "list-parts"
printf '{"Parts":[{"PartNumber":1,"ETag":%s},{"PartNumber":2,"ETag":%s}]}' \
  "$("$PY" -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$e1")" \
  "$("$PY" -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$e2")" >"$tmp/parts.json"
etag=$(aws s3api complete-multipart-upload --bucket "$B" --key api/mp.bin --upload-id "$uid" \
  --multipart-upload "file://$tmp/parts.json" --query ETag --output text)
[[ $etag == *-2\" ]] || die "completed ETag $etag is not a 2-part ETag"
aws s3api get-object --bucket "$B" --key api/mp.bin "$tmp/mp.out" >/dev/null
cat "$tmp/part1" "$tmp/part2" >"$tmp/mp.want"
same_file "$tmp/mp.want" "$tmp/mp.out" "multipart object"
expect "$(aws s3api head-object --bucket "$B" --key api/mp.bin --query '[ContentType, ETag]' --output text)" \
  "application/x-mp	$etag" "head of the multipart object"
pass

step "awscli: s3api list-multipart-uploads, abort-multipart-upload"
uid=$(aws s3api create-multipart-upload --bucket "$B" --key "api/to abort.bin" --query UploadId --output text)
aws s3api upload-part --bucket "$B" --key "api/to abort.bin" --upload-id "$uid" --part-number 1 --body "$tmp/part2" >/dev/null
expect "$(aws s3api list-multipart-uploads --bucket "$B" --query 'Uploads[].[Key, UploadId]' --output text)" \
  "api/to abort.bin	$uid" "list-multipart-uploads"
aws s3api abort-multipart-upload --bucket "$B" --key "api/to abort.bin" --upload-id "$uid"
expect "$(aws s3api list-multipart-uploads --bucket "$B" --query 'length(Uploads || `[]`)' --output text)" 0 \
  "uploads after abort"
if aws s3api upload-part --bucket "$B" --key "api/to abort.bin" --upload-id "$uid" --part-number 2 \
  --body "$tmp/part2" >/dev/null 2>"$tmp/err"; then die "upload-part to an aborted upload succeeded"; fi
grep -q NoSuchUpload "$tmp/err" || die "upload-part to an aborted upload: $(cat "$tmp/err")"
if aws s3api head-object --bucket "$B" --key "api/to abort.bin" >/dev/null 2>&1; then die "aborted upload left an object"; fi
pass

step "awscli: s3 rb --force"
aws s3 rb --force "s3://$B" >/dev/null
out=$(aws s3 ls)
if grep -q " $B\$" <<<"$out"; then die "bucket $B still listed"; fi
pass

# ---------------------------------------------------------------- rclone
cat >"$tmp/rclone.conf" <<EOF
[cairn]
type = s3
provider = Other
env_auth = false
access_key_id = $AK
secret_access_key = $SK
endpoint = $EP
region = us-east-1
force_path_style = true
EOF
rclone() { timeout "$T" env -u AWS_CA_BUNDLE "$RCLONE" --config "$tmp/rclone.conf" --retries 1 --low-level-retries 2 "$@"; }
B=rclone-test

step "rclone: mkdir, copy a tree, check (0 differences), copy back, diff -r"
rclone mkdir "cairn:$B"
rclone copy "$tmp/tree" "cairn:$B/copy"
rclone check "$tmp/tree" "cairn:$B/copy" 2>"$tmp/check.log" || die "rclone check: $(cat "$tmp/check.log")"
grep -q ' 0 differences found' "$tmp/check.log" || die "rclone check: $(cat "$tmp/check.log")"
grep -q "$ntree matching files" "$tmp/check.log" || die "rclone check: $(cat "$tmp/check.log")"
rclone copy "cairn:$B/copy" "$tmp/rclone.down"
diff -r "$tmp/tree" "$tmp/rclone.down" || die "tree differs after rclone copy up and down"
rm -rf "$tmp/rclone.down"
pass

step "rclone: sync (multipart above 5 MiB), change + removal, check"
rclone sync --s3-upload-cutoff 5M --s3-chunk-size 5M "$tmp/tree" "cairn:$B/sync"
rclone check "$tmp/tree" "cairn:$B/sync" 2>"$tmp/check.log" || die "rclone check: $(cat "$tmp/check.log")"
cp -r "$tmp/tree" "$tmp/tree2"
rm "$tmp/tree2/d/deeper/leaf" "$tmp/tree2/one byte"
echo "changed by rclone step" >"$tmp/tree2/with space/file one.txt"
rclone sync --s3-upload-cutoff 5M --s3-chunk-size 5M "$tmp/tree2" "cairn:$B/sync"
rclone check "$tmp/tree2" "cairn:$B/sync" 2>"$tmp/check.log" || die "rclone check after sync: $(cat "$tmp/check.log")"
grep -q ' 0 differences found' "$tmp/check.log" || die "rclone check: $(cat "$tmp/check.log")"
grep -q "$((ntree - 2)) matching files" "$tmp/check.log" || die "rclone check: $(cat "$tmp/check.log")"
rm -rf "$tmp/tree2"
pass

step "rclone: ls, lsd, lsf -R"
expect "$(rclone ls "cairn:$B/copy" | wc -l)" "$ntree" "rclone ls count"
expect "$(rclone ls "cairn:$B/copy" | awk '$2 == "empty.txt" {print $1}')" 0 "size of empty.txt"
expect "$(rclone lsd "cairn:$B" | awk '{print $NF}' | tr '\n' ' ')" "copy sync " "rclone lsd"
expect "$(rclone lsd "cairn:$B/copy" | wc -l)" 5 "rclone lsd copy count"
expect "$(rclone lsf --dirs-only "cairn:$B/copy" | LC_ALL=C sort | tr '\n' ,)" "big/,d/,special/,tree/,with space/," "rclone lsf --dirs-only"
expect "$(rclone lsf -R --files-only "cairn:$B/copy" | wc -l)" "$ntree" "rclone lsf -R count"
pass

step "rclone: delete, rmdirs, purge"
rclone delete "cairn:$B/copy"
expect "$(rclone ls "cairn:$B/copy" | wc -l)" 0 "objects left after rclone delete"
rclone purge "cairn:$B"
out=$(rclone lsd cairn:)
if grep -q " $B\$" <<<"$out"; then die "bucket $B still listed after purge"; fi
pass

# ---------------------------------------------------------------- s3cmd
cat >"$tmp/s3cmd.cfg" <<EOF
[default]
access_key = $AK
secret_key = $SK
host_base = 127.0.0.1:$P_S3
host_bucket = 127.0.0.1:$P_S3
use_https = False
signature_v2 = False
bucket_location = us-east-1
check_ssl_certificate = False
progress_meter = False
EOF
s3cmd() { timeout "$T" "$S3CMD" --config "$tmp/s3cmd.cfg" "$@"; }
B=s3cmd-test

step "s3cmd: mb, put, get, ls, compare"
s3cmd mb "s3://$B" >/dev/null
out=$(s3cmd ls)
grep -q "s3://$B\$" <<<"$out" || die "bucket not in 's3cmd ls'"
s3cmd put "$tmp/meta.bin" "s3://$B/dir/small file.bin" >/dev/null
s3cmd put --mime-type=text/x-s3cmd "$tmp/tree/top level file.txt" "s3://$B/top.txt" >/dev/null
s3cmd get --force "s3://$B/dir/small file.bin" "$tmp/s3cmd.small" >/dev/null
same_file "$tmp/meta.bin" "$tmp/s3cmd.small" "s3cmd get"
out=$(s3cmd ls "s3://$B/")
grep -q "DIR *s3://$B/dir/" <<<"$out" && grep -q "s3://$B/top.txt" <<<"$out" || die "s3cmd ls: $out"
out=$(s3cmd ls --recursive "s3://$B/")
expect "$(wc -l <<<"$out")" 2 "s3cmd ls --recursive count"
out=$(s3cmd info "s3://$B/top.txt")
grep -q 'text/x-s3cmd' <<<"$out" || die "s3cmd info lacks the MIME type"
pass

step "s3cmd: multipart put (5 MiB chunks, 12 MiB file), get, compare"
head -c 12M /dev/urandom >"$tmp/s3cmd.12m"
s3cmd put --progress --multipart-chunk-size-mb=5 "$tmp/s3cmd.12m" "s3://$B/multi.bin" >"$tmp/s3cmd.out" 2>&1
grep -q 'part 3 of 3' "$tmp/s3cmd.out" || die "s3cmd did not upload 3 parts: $(cat "$tmp/s3cmd.out")"
s3cmd get --force "s3://$B/multi.bin" "$tmp/s3cmd.12m.down" >/dev/null
same_file "$tmp/s3cmd.12m" "$tmp/s3cmd.12m.down" "s3cmd multipart round trip"
pass

step "s3cmd: put --recursive / get --recursive a tree"
s3cmd put --recursive "$tmp/tree/" "s3://$B/tree/" >/dev/null
mkdir -p "$tmp/s3cmd.down"
s3cmd get --recursive "s3://$B/tree/" "$tmp/s3cmd.down/" >/dev/null
diff -r "$tmp/tree" "$tmp/s3cmd.down" || die "tree differs after s3cmd put/get --recursive"
rm -rf "$tmp/s3cmd.down"
pass

step "s3cmd: del, del --recursive, rb"
s3cmd del "s3://$B/top.txt" >/dev/null
out=$(s3cmd ls "s3://$B/")
if grep -q top.txt <<<"$out"; then die "top.txt still listed after del"; fi
s3cmd del --recursive --force "s3://$B/" >/dev/null
expect "$(s3cmd ls --recursive "s3://$B/" | wc -l)" 0 "objects left"
s3cmd rb "s3://$B" >/dev/null
out=$(s3cmd ls)
if grep -q "s3://$B\$" <<<"$out"; then die "bucket still listed after rb"; fi
pass

# ---------------------------------------------------------------- boto3
step "boto3 (.ci/s3clients/boto3_check.py)"
timeout 600 env AWS_CONFIG_FILE="$tmp/boto3.config" AWS_SHARED_CREDENTIALS_FILE="$tmp/boto3.credentials" \
  AWS_EC2_METADATA_DISABLED=true "$PY" .ci/s3clients/boto3_check.py "$EP" "$AK" "$SK" boto3-test ||
  die "see the boto3 FAIL line above"
pass

step "server still healthy"
kill -0 "$server_pid" 2>/dev/null || die "cairn server died"
curl -fsS --max-time 5 "$EP/-/readyz" >/dev/null || die "readyz failed"
if grep -E 'level=(ERROR|error)|panic' "$tmp/server.log"; then die "the server logged errors (above)"; fi
pass

# ---------------------------------------------------------------- over TLS
# A second `cairn server` serves S3 over HTTPS with the certificate it made
# for itself; every client trusts only the server's CA (DIR/certs/ca/ca.crt).
step "start cairn server --s3-tls; the CLI finds the admin certificate it made"
read -r T_GRPC T_HTTP T_RAFT T_DATA T_S3 < <(free_ports)
mkdir -p "$tmp/tls"
(cd "$tmp/tls" && exec "$tmp/cairn" server --grpc-port "$T_GRPC" --http-port "$T_HTTP" --raft-port "$T_RAFT" \
  --data-port "$T_DATA" --s3-port "$T_S3" --s3-tls --access-key "$AK" --secret-key "$SK" >"$tmp/tls.log" 2>&1) &
tls_pid=$!
CA="$tmp/tls/cairn-data/certs/ca/ca.crt"
TEP="https://127.0.0.1:$T_S3"
for i in $(seq 120); do
  kill -0 "$tls_pid" 2>/dev/null || die "cairn server --s3-tls exited: $(tail -5 "$tmp/tls.log")"
  if [ -f "$CA" ] && curl -fsS --max-time 2 --cacert "$CA" "$TEP/-/readyz" >/dev/null 2>&1; then break; fi
  [ "$i" -lt 120 ] || die "$TEP/-/readyz not ready after 60s"
  sleep 0.5
done
if curl -fsS --max-time 5 "http://127.0.0.1:$T_S3/-/readyz" >/dev/null 2>&1; then die "the TLS port answered plain HTTP"; fi
grep -q "S3 gateway    https://" "$tmp/tls.log" || die "the server did not announce an https S3 endpoint"
# The CLI, run from the server's folder, finds the admin certificate; one
# without a certificate is told why it is refused.
(cd "$tmp/tls" && "$tmp/cairn" put --meta "127.0.0.1:$T_GRPC" "$tmp/meta.bin" /cli.bin >/dev/null) ||
  die "cairn put with the server's admin certificate"
if out=$(cd "$tmp" && "$tmp/cairn" ls --insecure --meta "127.0.0.1:$T_GRPC" / 2>&1); then
  die "an insecure CLI listed a secured cluster: $out"
fi
grep -q "requires TLS" <<<"$out" || die "an insecure CLI got an unclear error: $out"
pass

step "awscli over TLS: mb, cp up and back (20 MiB multipart), ls"
taws() { timeout "$T" env "${aws_env[@]}" "$AWS" --endpoint-url "$TEP" --ca-bundle "$CA" "$@"; }
head -c 20M /dev/urandom >"$tmp/tls.bin"
taws s3 mb s3://tls-aws >/dev/null
taws s3 cp --only-show-errors "$tmp/tls.bin" "s3://tls-aws/x/tls file.bin"
taws s3 cp --only-show-errors "s3://tls-aws/x/tls file.bin" "$tmp/tls.down"
same_file "$tmp/tls.bin" "$tmp/tls.down" "awscli over TLS"
grep -q "tls file.bin" <<<"$(taws s3 ls --recursive s3://tls-aws)" || die "awscli ls over TLS"
if out=$(timeout "$T" env "${aws_env[@]}" "$AWS" --endpoint-url "$TEP" s3 ls 2>&1); then
  die "awscli trusted the server without its CA: $out"
fi
pass

step "rclone over TLS: copy and check a tree"
cat >"$tmp/rclone-tls.conf" <<EOF
[tls]
type = s3
provider = Other
access_key_id = $AK
secret_access_key = $SK
endpoint = $TEP
region = us-east-1
force_path_style = true
EOF
# rclone's S3 backend refuses --ca-cert with its own transport; as a Go
# program it trusts the CA through SSL_CERT_FILE instead (nothing else).
trclone() { timeout "$T" env -u AWS_CA_BUNDLE SSL_CERT_FILE="$CA" "$RCLONE" --config "$tmp/rclone-tls.conf" --retries 1 --low-level-retries 2 "$@"; }
trclone mkdir tls:tls-rclone
trclone copy "$tmp/tree" tls:tls-rclone/tree
trclone check "$tmp/tree" tls:tls-rclone/tree 2>"$tmp/check.log" || die "rclone check over TLS: $(cat "$tmp/check.log")"
if out=$(timeout "$T" env -u AWS_CA_BUNDLE "$RCLONE" --config "$tmp/rclone-tls.conf" --retries 1 --low-level-retries 1 lsd tls: 2>&1); then
  die "rclone trusted the server without its CA: $out"
fi
pass

step "s3cmd over TLS: put, get, compare"
cat >"$tmp/s3cmd-tls.cfg" <<EOF
[default]
access_key = $AK
secret_key = $SK
host_base = 127.0.0.1:$T_S3
host_bucket = 127.0.0.1:$T_S3
use_https = True
ca_certs_file = $CA
check_ssl_certificate = True
check_ssl_hostname = True
signature_v2 = False
bucket_location = us-east-1
progress_meter = False
EOF
ts3cmd() { timeout "$T" "$S3CMD" --config "$tmp/s3cmd-tls.cfg" "$@"; }
ts3cmd mb s3://tls-s3cmd >/dev/null
ts3cmd put "$tmp/meta.bin" "s3://tls-s3cmd/a b.bin" >/dev/null
ts3cmd get --force "s3://tls-s3cmd/a b.bin" "$tmp/tls.s3cmd" >/dev/null
same_file "$tmp/meta.bin" "$tmp/tls.s3cmd" "s3cmd over TLS"
pass

# boto3 trusts the CA through AWS_CA_BUNDLE, the script's urllib fetches of
# presigned URLs through SSL_CERT_FILE.
step "boto3 over TLS (.ci/s3clients/boto3_check.py, AWS_CA_BUNDLE)"
timeout 600 env AWS_CONFIG_FILE="$tmp/boto3.config" AWS_SHARED_CREDENTIALS_FILE="$tmp/boto3.credentials" \
  AWS_EC2_METADATA_DISABLED=true AWS_CA_BUNDLE="$CA" SSL_CERT_FILE="$CA" "$PY" .ci/s3clients/boto3_check.py "$TEP" "$AK" "$SK" boto3-tls ||
  die "see the boto3 FAIL line above"
pass

step "TLS server still healthy"
kill -0 "$tls_pid" 2>/dev/null || die "cairn server --s3-tls died"
if grep -E 'level=(ERROR|error)|panic' "$tmp/tls.log"; then die "the TLS server logged errors (above)"; fi
pass
