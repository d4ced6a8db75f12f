#!/usr/bin/env bash
# Writes the HAProxy configuration for several Megaphone processes behind
# one port (scripts/haproxy.cfg.template), to stdout.
#
#   bash scripts/haproxy.sh --bind 127.0.0.1:5280 [--bosh-path /http-bind] \
#        [--maxconn 9000] INSTANCE=ADDRESS:PORT...
#
# Each INSTANCE is the MEGAPHONE_INSTANCE of the process at ADDRESS:PORT.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

bind="" bosh_path=/http-bind maxconn=9000
servers=()
while [ $# -gt 0 ]; do
  case "$1" in
    --bind) bind=$2; shift 2 ;;
    --bosh-path) bosh_path=$2; shift 2 ;;
    --maxconn) maxconn=$2; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    -*) echo "haproxy.sh: unknown option $1" >&2; exit 2 ;;
    *) servers+=("$1"); shift ;;
  esac
done
[ -n "$bind" ] || { echo "haproxy.sh: --bind ADDRESS:PORT is required" >&2; exit 2; }
[ ${#servers[@]} -gt 0 ] || { echo "haproxy.sh: give at least one INSTANCE=ADDRESS:PORT" >&2; exit 2; }
[[ "$bosh_path" =~ ^/[A-Za-z0-9_./-]*$ ]] || { echo "haproxy.sh: --bosh-path must be a URL path" >&2; exit 2; }
[[ "$maxconn" =~ ^[0-9]+$ ]] || { echo "haproxy.sh: --maxconn must be a number" >&2; exit 2; }

server_lines="" use_lines=""
for s in "${servers[@]}"; do
  name=${s%%=*} address=${s#*=}
  [[ "$name" =~ ^[a-z0-9]{1,16}$ ]] || { echo "haproxy.sh: instance '$name' must be 1 to 16 lower-case letters and digits" >&2; exit 2; }
  [[ "$address" =~ ^[^[:space:]]+:[0-9]+$ ]] || { echo "haproxy.sh: '$address' is not ADDRESS:PORT" >&2; exit 2; }
  server_lines+="    server $name $address check"$'\n'
  # The sid attribute of the <body> start tag (never past its end), then the
  # tag and its dash. Backslashes doubled: HAProxy's parser halves them.
  use_lines+="    use-server $name if { method POST } { path_beg $bosh_path } { req.body -m reg ^\\\\s*(<\\\\?xml[^>]*>\\\\s*)?<body\\\\s[^>]*\\\\bsid\\\\s*=\\\\s*.$name- }"$'\n'
done

while IFS= read -r line; do
  case "$line" in
    @SERVERS@) printf '%s' "$server_lines" ;;
    @USE_SERVERS@) printf '%s' "$use_lines" ;;
    *) line=${line//@BIND@/$bind}; line=${line//@MAXCONN@/$maxconn}; printf '%s\n' "$line" ;;
  esac
done < "$here/haproxy.cfg.template"
