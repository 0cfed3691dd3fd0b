/* A minimal hostgate user: compile a policy, resolve the policy once, check names.
 *
 *   cargo build --release -p hostgate-ffi
 *   cc -std=c99 -Iinclude examples/c/check.c target/release/libhostgate.a -lpthread -ldl -lm -o check
 *   ./check api.kadath.io 443 checkout.stripe.com 443 evil.example 80
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hostgate.h"

static const char POLICY[] =
    "default deny\n"
    "allow api.kadath.io\n"
    "allow **.stripe.com port 443 via tls\n"
    "deny  api.leng.com id block-leng\n";

int main(int argc, char **argv) {
    hostgate_engine *engine = NULL;
    hostgate_error *err = NULL;
    uint32_t policy;
    int i;

    if (hostgate_engine_compile(POLICY, strlen(POLICY), &engine, &err) != HOSTGATE_RESULT_OK) {
        fprintf(stderr, "policy:%s\n", hostgate_error_message(err));
        hostgate_error_free(err);
        return 1;
    }
    if (hostgate_engine_policy(engine, "default", 7, &policy) != HOSTGATE_RESULT_OK) return 1;

    /* Arguments come in pairs: NAME PORT. */
    for (i = 1; i + 1 < argc; i += 2) {
        hostgate_verdict v;
        hostgate_result r = hostgate_check(engine, policy, argv[i], strlen(argv[i]),
                                           (uint16_t)atoi(argv[i + 1]), HOSTGATE_VIA_TLS, &v);
        if (r != HOSTGATE_RESULT_OK) {
            fprintf(stderr, "%s: %s\n", argv[i], hostgate_result_name(r));
            continue;
        }
        printf("%s:%s -> %s (%s", argv[i], argv[i + 1], hostgate_action_name(v.action),
               hostgate_reason_name(v.reason));
        if (v.rule >= 0) printf(", rule %.*s at line %u", (int)v.rule_id_len, v.rule_id, v.line);
        printf(")\n");
    }
    hostgate_engine_free(engine);
    return 0;
}
