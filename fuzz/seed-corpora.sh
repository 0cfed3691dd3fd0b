#!/usr/bin/env bash
# Builds the seed corpora in fuzz/corpus/<target>/ from the committed fixtures
# (crates/hostgate/tests/fixtures/*.bin, examples/policies/*.policy) and fuzz/seeds/<target>/.
# Idempotent: seeds are (re)written under stable names; units libFuzzer added are kept.
set -euo pipefail
cd "$(dirname "$0")"
fixtures=../crates/hostgate/tests/fixtures
policies=../examples/policies

seed() { # seed TARGET NAME < bytes
    mkdir -p "corpus/$1"
    cat > "corpus/$1/seed-$2"
}

for f in "$fixtures"/*.bin; do
    name=$(basename "$f" .bin)
    case "$name" in
        tls-*)
            seed tls_client_hello "$name" < "$f"
            seed tls_vs_tls_parser "$name" < "$f"
            # inspect: mode byte 0 = stream, 1 = TLS only, 0x81 = TLS with tight caps.
            { printf '\x00'; cat "$f"; } | seed inspect "stream-$name"
            { printf '\x01'; cat "$f"; } | seed inspect "tls-$name"
            { printf '\x81'; cat "$f"; } | seed inspect "tight-$name"
            ;;
        http-*)
            seed http_request_head "$name" < "$f"
            { printf '\x00'; cat "$f"; } | seed inspect "stream-$name"
            { printf '\x02'; cat "$f"; } | seed inspect "http-$name"
            { printf '\x0a'; cat "$f"; } | seed inspect "http443-$name"
            ;;
        dns-*tcp*)
            seed dns_question "$name" < "$f"
            { printf '\x00'; cat "$f"; } | seed inspect "stream-$name"
            { printf '\x04'; cat "$f"; } | seed inspect "dnstcp-$name"
            ;;
        dns-*)
            seed dns_question "$name" < "$f"
            { printf '\x03'; cat "$f"; } | seed inspect "dnsudp-$name"
            # dns_server: a selector byte (client, deny response), then the datagram.
            { printf '\x00'; cat "$f"; } | seed dns_server "default-$name"
            { printf '\x03'; cat "$f"; } | seed dns_server "strict-$name"
            # The same datagram framed for TCP.
            len=$(wc -c < "$f")
            { printf "\\x$(printf %02x $((len >> 8)))\\x$(printf %02x $((len & 255)))"; cat "$f"; } \
                | seed dns_question "framed-$name"
            ;;
    esac
done

for p in "$policies"/*.policy; do
    name=$(basename "$p" .policy)
    seed policy_compile "$name" < "$p"
    # Each policy block on its own, too: smaller units mutate faster.
    awk -v dir="corpus/policy_compile" -v base="seed-$name-block" '
        /^policy / { n++ } { print > (dir "/" base n) }' "$p"
done

# Hand-made seeds, when there are any.
if [ -d seeds ]; then
    for d in seeds/*/; do
        [ -d "$d" ] || continue
        t=$(basename "$d")
        for s in "$d"*; do
            [ -f "$s" ] && seed "$t" "hand-$(basename "$s")" < "$s"
        done
    done
fi

# Targets driven by `arbitrary::Unstructured` read any bytes as choices: the fixtures and the
# example policy give them varied, full-length starting points (larger policies, longer runs
# of operations) instead of the empty input.
for f in "$fixtures"/*.bin "$policies"/*.policy; do
    name=$(basename "$f")
    seed ffi "$name" < "$f"
    seed matcher_vs_reference "$name" < "$f"
done

# The importers start from the example policies and configs the importer's tests use.
for f in ../crates/hostgate-import/tests/data/cilium/*.yaml ../crates/hostgate-import/tests/data/envoy/configs/*.yaml; do
    seed import_yaml "$(basename "$f")" < "$f"
done
for f in ../crates/hostgate-import/tests/data/squid/configs/*.conf ../crates/hostgate-import/tests/data/squid/refused/*.conf; do
    seed import_squid "$(basename "$f")" < "$f"
done
for f in $(find ../crates/hostgate-import/tests/data/nginx -name '*.conf'); do
    seed import_nginx "$(echo "${f#../crates/hostgate-import/tests/data/nginx/}" | tr / -)" < "$f"
done
for f in ../crates/hostgate-import/tests/data/haproxy/*.cfg ../crates/hostgate-import/tests/data/haproxy/configs/*.cfg ../crates/hostgate-import/tests/data/haproxy/refused/*.cfg; do
    seed import_haproxy "$(basename "$f")" < "$f"
done
# import_swp: mode byte 0 = the file itself, 1 = a sessionMatcher expression.
for f in ../crates/hostgate-import/tests/data/swp/*.yaml; do
    { printf '\x00'; cat "$f"; } | seed import_swp "$(basename "$f")"
done
printf "\x01host().endsWith('.b.example') && host() != 'x.b.example' || destination.port == 80" | seed import_swp cel-except
printf "\x03!(host() == 'a.example') && inUrlList(host(), 'projects/p/locations/l/urlLists/u')" | seed import_swp cel-deny
printf "\x01host().matches(r'^a\\.') || host().startsWith(\"c.\") || request.method == 'GET'" | seed import_swp cel-regex
# import_terraform: the first byte picks the format (bits 0-1: aws-nfw, route53, swp) and the
# file kind (bit 2: plan JSON, else .tf). The SWP plan is cut to its first resources (the whole
# file is over the runs' -max_len): a cut JSON is refused, and what it holds is still fuzzed.
d=../crates/hostgate-import/tests/data/terraform
{ printf '\x00'; cat "$d/nfw.tf"; } | seed import_terraform nfw.tf
{ printf '\x04'; cat "$d/nfw-plan.json"; } | seed import_terraform nfw-plan.json
{ printf '\x01'; cat "$d/route53.tf"; } | seed import_terraform route53.tf
{ printf '\x05'; cat "$d/route53-plan.json"; } | seed import_terraform route53-plan.json
{ printf '\x02'; cat "$d/swp.tf"; } | seed import_terraform swp.tf
{ printf '\x06'; head -c 6000 "$d/swp-plan.json"; } | seed import_terraform swp-plan-cut.json

# engine_file builds its own valid file; these start from it unchanged (mode 1, no edits), cut
# (mode 2) and with a few edits in the header, the section table and the sections.
printf '\x01' | seed engine_file valid
printf '\x02\x00\x02' | seed engine_file cut-512
printf '\x01\x10\x00\x01\x30\x00\x80\x00\x01\x04\x40\x02\x10' | seed engine_file edits
printf '\x00\x89HGATE\r\n\x01\x00\x00\x00' | seed engine_file header-only
