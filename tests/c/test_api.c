/* Every function of the C ABI: its success path, its NULL arguments and its error results,
 * and that out-parameters stay untouched when a call fails. */
#include "testutil.h"

/* Defined in second_tu.c: the header must work from two translation units of one program. */
int second_tu_version_major(void);

static const char POLICY[] =
    "policy web\n"
    "allow api.kadath.io\n"
    "deny api.leng.com id block-leng\n"
    "allow **.stripe.com port 443 via tls\n"
    "policy dns\n"
    "default allow\n";

#define SENTINEL 0xA5

static int untouched(const void *p, size_t n) {
    const unsigned char *b = (const unsigned char *)p;
    size_t i;
    for (i = 0; i < n; i++)
        if (b[i] != SENTINEL) return 0;
    return 1;
}

static void test_names(void) {
    unsigned r;
    char want[64];
    CHECK(strcmp(hostgate_version(), HOSTGATE_VERSION) == 0);
    snprintf(want, sizeof want, "%d.%d.%d", HOSTGATE_VERSION_MAJOR, HOSTGATE_VERSION_MINOR,
             HOSTGATE_VERSION_PATCH);
    CHECK(strcmp(hostgate_version(), want) == 0);
    CHECK(second_tu_version_major() == HOSTGATE_VERSION_MAJOR);

    CHECK(strcmp(hostgate_result_name(HOSTGATE_RESULT_OK), "HOSTGATE_RESULT_OK") == 0);
    CHECK(strcmp(hostgate_result_name(HOSTGATE_RESULT_PANIC), "HOSTGATE_RESULT_PANIC") == 0);
    CHECK(strcmp(hostgate_result_name(HOSTGATE_RESULT_IO_ERROR), "HOSTGATE_RESULT_IO_ERROR") == 0);
    /* The codes are 0..=ENGINE_FILE_ERROR, the last one added; the next value has no name. */
    for (r = HOSTGATE_RESULT_OK; r <= HOSTGATE_RESULT_ENGINE_FILE_ERROR; r++)
        CHECK(strncmp(hostgate_result_name(r), "HOSTGATE_RESULT_", 16) == 0);
    CHECK(strcmp(hostgate_result_name(HOSTGATE_RESULT_ENGINE_FILE_ERROR + 1), "UNKNOWN") == 0);
    CHECK(strcmp(hostgate_result_name(0xFFFFFFFFu), "UNKNOWN") == 0);

    CHECK(strcmp(hostgate_action_name(HOSTGATE_ACTION_DENY), "deny") == 0);
    CHECK(strcmp(hostgate_action_name(HOSTGATE_ACTION_ALLOW), "allow") == 0);
    CHECK(strcmp(hostgate_action_name(7), "UNKNOWN") == 0);
    CHECK(strcmp(hostgate_reason_name(HOSTGATE_REASON_MATCHED), "matched") == 0);
    CHECK(strcmp(hostgate_reason_name(HOSTGATE_REASON_DEFAULT), "default") == 0);
    CHECK(strcmp(hostgate_reason_name(HOSTGATE_REASON_INVALID_NAME), "invalid-name") == 0);
    CHECK(strcmp(hostgate_reason_name(HOSTGATE_REASON_NO_NAME), "no-name") == 0);
    CHECK(strcmp(hostgate_reason_name(99), "UNKNOWN") == 0);
    CHECK(strcmp(hostgate_via_name(HOSTGATE_VIA_ANY), "any") == 0);
    CHECK(strcmp(hostgate_via_name(HOSTGATE_VIA_TLS), "tls") == 0);
    CHECK(strcmp(hostgate_via_name(HOSTGATE_VIA_HTTP), "http") == 0);
    CHECK(strcmp(hostgate_via_name(HOSTGATE_VIA_CONNECT), "connect") == 0);
    CHECK(strcmp(hostgate_via_name(HOSTGATE_VIA_DNS), "dns") == 0);
    CHECK(strcmp(hostgate_via_name(5), "UNKNOWN") == 0);
}

static void test_compile(void) {
    hostgate_engine *e;
    hostgate_error *err;
    const char *msg = NULL;
    uint32_t line = 0, column = 0;
    /* Not NUL-terminated: the length stops before the garbage. */
    char unterminated[] = {'a', 'l', 'l', 'o', 'w', ' ', 'a', '.', 'i', 'o', '\n', '@', '@'};
    static const char bad[] = "allow ok.io\nallow a..b\nallow c.io port 0\n";
    static const char not_utf8[] = "allow a.io\nallow b\xff.io\n";

    /* NULL out. */
    err = (hostgate_error *)(uintptr_t)0x1;
    CHECK_RESULT(hostgate_engine_compile(POLICY, strlen(POLICY), NULL, &err),
                 HOSTGATE_RESULT_NULL_ARGUMENT);
    CHECK(err == (hostgate_error *)(uintptr_t)0x1);
    /* NULL text with a length; NULL text with length 0 is the empty policy. */
    e = NULL;
    CHECK_RESULT(hostgate_engine_compile(NULL, 5, &e, NULL), HOSTGATE_RESULT_NULL_ARGUMENT);
    CHECK(e == NULL);
    CHECK_RESULT(hostgate_engine_compile(NULL, 0, &e, NULL), HOSTGATE_RESULT_OK);
    CHECK(e != NULL);
    CHECK(hostgate_engine_policy_count(e) == 1);
    hostgate_engine_free(e);

    /* Lengths are honoured. */
    e = NULL;
    CHECK_RESULT(hostgate_engine_compile(unterminated, 11, &e, NULL), HOSTGATE_RESULT_OK);
    hostgate_engine_free(e);
    e = NULL;
    err = NULL;
    CHECK_RESULT(hostgate_engine_compile(unterminated, sizeof unterminated, &e, &err),
                 HOSTGATE_RESULT_COMPILE_ERROR);
    CHECK(e == NULL);
    CHECK(err != NULL && hostgate_error_line(err) == 2 && hostgate_error_column(err) == 1);
    hostgate_error_free(err);

    /* Compile errors: every error, with line and column; *out untouched. */
    e = (hostgate_engine *)(uintptr_t)0x1;
    err = NULL;
    CHECK_RESULT(hostgate_engine_compile(bad, strlen(bad), &e, &err),
                 HOSTGATE_RESULT_COMPILE_ERROR);
    CHECK(e == (hostgate_engine *)(uintptr_t)0x1);
    CHECK(err != NULL);
    CHECK(hostgate_error_count(err) == 2);
    CHECK(hostgate_error_line(err) == 2);
    CHECK(hostgate_error_column(err) >= 7 && hostgate_error_column(err) <= 10);
    CHECK(strncmp(hostgate_error_message(err), "2:", 2) == 0);
    CHECK(strstr(hostgate_error_message(err), "\n3:") != NULL);
    CHECK_RESULT(hostgate_error_get(err, 1, &line, &column, &msg), HOSTGATE_RESULT_OK);
    CHECK(line == 3 && column > 0 && msg != NULL && strlen(msg) > 0);
    CHECK_RESULT(hostgate_error_get(err, 0, NULL, NULL, NULL), HOSTGATE_RESULT_OK);
    line = 77;
    CHECK_RESULT(hostgate_error_get(err, 2, &line, NULL, NULL), HOSTGATE_RESULT_INVALID_ARGUMENT);
    CHECK(line == 77);
    CHECK_RESULT(hostgate_error_get(NULL, 0, &line, NULL, NULL), HOSTGATE_RESULT_NULL_ARGUMENT);
    hostgate_error_free(err);

    /* A compile error without an error object: nothing leaks. */
    e = NULL;
    CHECK_RESULT(hostgate_engine_compile(bad, strlen(bad), &e, NULL),
                 HOSTGATE_RESULT_COMPILE_ERROR);
    CHECK(e == NULL);

    /* Invalid UTF-8: its own result, and where. */
    err = NULL;
    CHECK_RESULT(hostgate_engine_compile(not_utf8, strlen(not_utf8), &e, &err),
                 HOSTGATE_RESULT_INVALID_UTF8);
    CHECK(hostgate_error_line(err) == 2 && hostgate_error_column(err) == 8);
    CHECK(hostgate_error_count(err) == 1);
    hostgate_error_free(err);

    /* NULL error objects. */
    CHECK(hostgate_error_message(NULL) == NULL);
    CHECK(hostgate_error_line(NULL) == 0);
    CHECK(hostgate_error_column(NULL) == 0);
    CHECK(hostgate_error_count(NULL) == 0);
    hostgate_error_free(NULL);
    hostgate_engine_free(NULL);
}

static void test_policies_and_rules(const hostgate_engine *e) {
    uint32_t idx = 12345;
    const char *p = (const char *)(uintptr_t)0x1;
    size_t n = 99;
    char web[] = {'w', 'e', 'b', '!'}; /* not NUL-terminated */

    CHECK(hostgate_engine_policy_count(e) == 2);
    CHECK(hostgate_engine_policy_count(NULL) == 0);

    CHECK_RESULT(hostgate_engine_policy(e, web, 3, &idx), HOSTGATE_RESULT_OK);
    CHECK(idx == 0);
    CHECK_RESULT(hostgate_engine_policy(e, "dns", 3, &idx), HOSTGATE_RESULT_OK);
    CHECK(idx == 1);
    idx = 12345;
    CHECK_RESULT(hostgate_engine_policy(e, web, 4, &idx), HOSTGATE_RESULT_UNKNOWN_POLICY);
    CHECK_RESULT(hostgate_engine_policy(e, "", 0, &idx), HOSTGATE_RESULT_UNKNOWN_POLICY);
    CHECK_RESULT(hostgate_engine_policy(e, "\xff", 1, &idx), HOSTGATE_RESULT_UNKNOWN_POLICY);
    CHECK_RESULT(hostgate_engine_policy(NULL, "web", 3, &idx), HOSTGATE_RESULT_NULL_ARGUMENT);
    CHECK_RESULT(hostgate_engine_policy(e, NULL, 3, &idx), HOSTGATE_RESULT_NULL_ARGUMENT);
    CHECK_RESULT(hostgate_engine_policy(e, "web", 3, NULL), HOSTGATE_RESULT_NULL_ARGUMENT);
    CHECK(idx == 12345);

    CHECK_RESULT(hostgate_engine_policy_name(e, 1, &p, &n), HOSTGATE_RESULT_OK);
    CHECK(n == 3 && memcmp(p, "dns", 3) == 0);
    p = NULL;
    n = 99;
    CHECK_RESULT(hostgate_engine_policy_name(e, 2, &p, &n), HOSTGATE_RESULT_UNKNOWN_POLICY);
    CHECK_RESULT(hostgate_engine_policy_name(NULL, 0, &p, &n), HOSTGATE_RESULT_NULL_ARGUMENT);
    CHECK_RESULT(hostgate_engine_policy_name(e, 0, NULL, &n), HOSTGATE_RESULT_NULL_ARGUMENT);
    CHECK_RESULT(hostgate_engine_policy_name(e, 0, &p, NULL), HOSTGATE_RESULT_NULL_ARGUMENT);
    CHECK(p == NULL && n == 99);

    CHECK_RESULT(hostgate_engine_rule_id(e, 0, 1, &p, &n), HOSTGATE_RESULT_OK);
    CHECK(n == 10 && memcmp(p, "block-leng", 10) == 0);
    CHECK_RESULT(hostgate_engine_rule_id(e, 0, 0, &p, &n), HOSTGATE_RESULT_OK);
    CHECK(n == 5 && memcmp(p, "web:2", 5) == 0);
    p = NULL;
    n = 99;
    CHECK_RESULT(hostgate_engine_rule_id(e, 0, -1, &p, &n), HOSTGATE_RESULT_UNKNOWN_RULE);
    CHECK_RESULT(hostgate_engine_rule_id(e, 0, 3, &p, &n), HOSTGATE_RESULT_UNKNOWN_RULE);
    CHECK_RESULT(hostgate_engine_rule_id(e, 1, 0, &p, &n), HOSTGATE_RESULT_UNKNOWN_RULE);
    CHECK_RESULT(hostgate_engine_rule_id(e, 9, 0, &p, &n), HOSTGATE_RESULT_UNKNOWN_POLICY);
    CHECK_RESULT(hostgate_engine_rule_id(NULL, 0, 0, &p, &n), HOSTGATE_RESULT_NULL_ARGUMENT);
    CHECK_RESULT(hostgate_engine_rule_id(e, 0, 0, NULL, &n), HOSTGATE_RESULT_NULL_ARGUMENT);
    CHECK_RESULT(hostgate_engine_rule_id(e, 0, 0, &p, NULL), HOSTGATE_RESULT_NULL_ARGUMENT);
    CHECK(p == NULL && n == 99);
}

static void test_check(const hostgate_engine *e) {
    hostgate_verdict v;
    char name[] = {'A', 'P', 'I', '.', 'l', 'e', 'n', 'g', '.', 'c', 'o', 'm', '.', 'x'};

    CHECK_RESULT(hostgate_check(e, 0, name, 13, 443, HOSTGATE_VIA_TLS, &v), HOSTGATE_RESULT_OK);
    CHECK(v.action == HOSTGATE_ACTION_DENY && v.reason == HOSTGATE_REASON_MATCHED);
    CHECK(v.policy == 0 && v.rule == 1 && v.line == 3);
    CHECK(v.rule_id_len == 10 && memcmp(v.rule_id, "block-leng", 10) == 0);

    CHECK_RESULT(hostgate_check(e, 0, "pay.stripe.com", 14, 443, HOSTGATE_VIA_TLS, &v),
                 HOSTGATE_RESULT_OK);
    CHECK(v.action == HOSTGATE_ACTION_ALLOW && v.rule == 2 && v.line == 4);
    /* HOSTGATE_VIA_ANY does not satisfy a via-limited allow. */
    CHECK_RESULT(hostgate_check(e, 0, "pay.stripe.com", 14, 443, HOSTGATE_VIA_ANY, &v),
                 HOSTGATE_RESULT_OK);
    CHECK(v.action == HOSTGATE_ACTION_DENY && v.reason == HOSTGATE_REASON_DEFAULT);
    CHECK(v.rule == -1 && v.line == 0 && v.rule_id == NULL && v.rule_id_len == 0);

    /* Invalid names are verdicts, not errors; NULL with length 0 is the empty name. */
    CHECK_RESULT(hostgate_check(e, 1, NULL, 0, 0, HOSTGATE_VIA_DNS, &v), HOSTGATE_RESULT_OK);
    CHECK(v.action == HOSTGATE_ACTION_DENY && v.reason == HOSTGATE_REASON_INVALID_NAME);
    CHECK_RESULT(hostgate_check(e, 1, "a\0b.io", 6, 0, HOSTGATE_VIA_DNS, &v), HOSTGATE_RESULT_OK);
    CHECK(v.reason == HOSTGATE_REASON_INVALID_NAME);
    CHECK_RESULT(hostgate_check(e, 1, "ok.io", 5, 0, HOSTGATE_VIA_DNS, &v), HOSTGATE_RESULT_OK);
    CHECK(v.action == HOSTGATE_ACTION_ALLOW && v.reason == HOSTGATE_REASON_DEFAULT);
    CHECK(v.policy == 1);

    /* Errors leave *out untouched. */
    memset(&v, SENTINEL, sizeof v);
    CHECK_RESULT(hostgate_check(NULL, 0, "a.io", 4, 0, HOSTGATE_VIA_ANY, &v),
                 HOSTGATE_RESULT_NULL_ARGUMENT);
    CHECK_RESULT(hostgate_check(e, 0, NULL, 4, 0, HOSTGATE_VIA_ANY, &v),
                 HOSTGATE_RESULT_NULL_ARGUMENT);
    CHECK_RESULT(hostgate_check(e, 0, "a.io", 4, 0, HOSTGATE_VIA_ANY, NULL),
                 HOSTGATE_RESULT_NULL_ARGUMENT);
    CHECK_RESULT(hostgate_check(e, 0, "a.io", 4, 0, (hostgate_via)5, &v),
                 HOSTGATE_RESULT_INVALID_ARGUMENT);
    CHECK_RESULT(hostgate_check(e, 0, "a.io", 4, 0, (hostgate_via)0xFFFFFFFFu, &v),
                 HOSTGATE_RESULT_INVALID_ARGUMENT);
    CHECK_RESULT(hostgate_check(e, 2, "a.io", 4, 0, HOSTGATE_VIA_ANY, &v),
                 HOSTGATE_RESULT_UNKNOWN_POLICY);
    CHECK_RESULT(hostgate_check(e, 0, "a.io", SIZE_MAX, 0, HOSTGATE_VIA_ANY, &v),
                 HOSTGATE_RESULT_INVALID_ARGUMENT);
    CHECK(untouched(&v, sizeof v));
}

static void test_check_batch(const hostgate_engine *e) {
    static const char names[] = "api.kadath.ioAPI.LENG.COMbad..name";
    hostgate_query q[3];
    hostgate_verdict out[3];
    size_t i;

    q[0].offset = 0;
    q[0].len = 13;
    q[0].port = 443;
    q[0].via = HOSTGATE_VIA_TLS;
    q[1].offset = 13;
    q[1].len = 12;
    q[1].port = 0;
    q[1].via = HOSTGATE_VIA_DNS;
    q[2].offset = 25;
    q[2].len = 9;
    q[2].port = 80;
    q[2].via = HOSTGATE_VIA_HTTP;
    CHECK_RESULT(hostgate_check_batch(e, 0, names, 34, q, 3, out), HOSTGATE_RESULT_OK);
    CHECK(out[0].action == HOSTGATE_ACTION_ALLOW && out[0].line == 2);
    CHECK(out[1].action == HOSTGATE_ACTION_DENY && out[1].rule == 1);
    CHECK(out[2].action == HOSTGATE_ACTION_DENY && out[2].reason == HOSTGATE_REASON_INVALID_NAME);
    for (i = 0; i < 3; i++) {
        hostgate_verdict one;
        CHECK_RESULT(hostgate_check(e, 0, names + q[i].offset, q[i].len, q[i].port, q[i].via,
                                    &one),
                     HOSTGATE_RESULT_OK);
        CHECK(one.action == out[i].action && one.reason == out[i].reason &&
              one.rule == out[i].rule && one.line == out[i].line);
    }

    /* Nothing to do: NULLs are fine. */
    CHECK_RESULT(hostgate_check_batch(e, 0, NULL, 0, NULL, 0, NULL), HOSTGATE_RESULT_OK);

    /* Every failure is detected before anything is written. */
    memset(out, SENTINEL, sizeof out);
    CHECK_RESULT(hostgate_check_batch(NULL, 0, names, 34, q, 3, out),
                 HOSTGATE_RESULT_NULL_ARGUMENT);
    CHECK_RESULT(hostgate_check_batch(e, 0, NULL, 34, q, 3, out), HOSTGATE_RESULT_NULL_ARGUMENT);
    CHECK_RESULT(hostgate_check_batch(e, 0, names, 34, NULL, 3, out),
                 HOSTGATE_RESULT_NULL_ARGUMENT);
    CHECK_RESULT(hostgate_check_batch(e, 0, names, 34, q, 3, NULL),
                 HOSTGATE_RESULT_NULL_ARGUMENT);
    CHECK_RESULT(hostgate_check_batch(e, 7, names, 34, q, 3, out),
                 HOSTGATE_RESULT_UNKNOWN_POLICY);
    /* The last name runs past names_len. */
    CHECK_RESULT(hostgate_check_batch(e, 0, names, 33, q, 3, out),
                 HOSTGATE_RESULT_INVALID_ARGUMENT);
    q[2].offset = SIZE_MAX;
    CHECK_RESULT(hostgate_check_batch(e, 0, names, 34, q, 3, out),
                 HOSTGATE_RESULT_INVALID_ARGUMENT);
    q[2].offset = 25;
    q[2].via = (hostgate_via)9;
    CHECK_RESULT(hostgate_check_batch(e, 0, names, 34, q, 3, out),
                 HOSTGATE_RESULT_INVALID_ARGUMENT);
    CHECK(untouched(out, sizeof out));
}

static void test_inspect(const hostgate_engine *e, const char *tls_fixture) {
    static const char connect_req[] =
        "CONNECT Pay.Stripe.COM:443 HTTP/1.1\r\nHost: pay.stripe.com:443\r\n\r\n";
    static const char get_req[] = "GET / HTTP/1.1\r\nHost: api.kadath.io\r\n\r\n";
    hostgate_inspection insp;
    hostgate_verdict v;
    size_t n = strlen(connect_req);

    CHECK_RESULT(hostgate_inspect((const uint8_t *)connect_req, n, &insp), HOSTGATE_RESULT_OK);
    CHECK(insp.protocol == HOSTGATE_PROTOCOL_HTTP && insp.status == HOSTGATE_STATUS_COMPLETE);
    CHECK(insp.via == HOSTGATE_VIA_CONNECT && insp.port == 443);
    CHECK(insp.name_kind == HOSTGATE_NAME_KIND_NAME && insp.name_len == 14);
    CHECK(strcmp(insp.name, "pay.stripe.com") == 0);
    CHECK(insp.error[0] == '\0' && insp.alpn_len == 0);

    /* A prefix: need more, no name. */
    CHECK_RESULT(hostgate_inspect((const uint8_t *)connect_req, 20, &insp), HOSTGATE_RESULT_OK);
    CHECK(insp.status == HOSTGATE_STATUS_NEED_MORE && insp.name_len == 0 && insp.name[0] == '\0');
    /* Garbage: a status, not an error. */
    CHECK_RESULT(hostgate_inspect((const uint8_t *)"\x00\x01garbage!", 10, &insp),
                 HOSTGATE_RESULT_OK);
    CHECK(insp.status != HOSTGATE_STATUS_COMPLETE && insp.name_kind == HOSTGATE_NAME_KIND_NONE);
    CHECK_RESULT(hostgate_inspect(NULL, 0, &insp), HOSTGATE_RESULT_OK);
    CHECK(insp.status == HOSTGATE_STATUS_NEED_MORE || insp.status == HOSTGATE_STATUS_UNRECOGNIZED);

    memset(&insp, SENTINEL, sizeof insp);
    CHECK_RESULT(hostgate_inspect(NULL, 5, &insp), HOSTGATE_RESULT_NULL_ARGUMENT);
    CHECK_RESULT(hostgate_inspect((const uint8_t *)connect_req, n, NULL),
                 HOSTGATE_RESULT_NULL_ARGUMENT);
    CHECK(untouched(&insp, sizeof insp));

    /* The web policy allows **.stripe.com on 443 via tls only: CONNECT is not TLS. */
    CHECK_RESULT(hostgate_inspect_check(e, 0, (const uint8_t *)connect_req, n, 0, &insp, &v),
                 HOSTGATE_RESULT_OK);
    CHECK(v.action == HOSTGATE_ACTION_DENY && v.reason == HOSTGATE_REASON_DEFAULT);
    CHECK(insp.via == HOSTGATE_VIA_CONNECT);
    CHECK_RESULT(hostgate_inspect_check(e, 0, (const uint8_t *)get_req, strlen(get_req), 80, NULL,
                                        &v),
                 HOSTGATE_RESULT_OK);
    CHECK(v.action == HOSTGATE_ACTION_ALLOW && v.line == 2);
    CHECK_RESULT(hostgate_inspect_check(e, 0, (const uint8_t *)get_req, 10, 80, NULL, &v),
                 HOSTGATE_RESULT_OK);
    CHECK(v.action == HOSTGATE_ACTION_DENY && v.reason == HOSTGATE_REASON_NO_NAME);
    CHECK_RESULT(
        hostgate_inspect_check(e, 0, (const uint8_t *)"GET / HTTP/1.1\r\nHost: a..b\r\n\r\n",
                               33, 80, NULL, &v),
        HOSTGATE_RESULT_OK);
    CHECK(v.action == HOSTGATE_ACTION_DENY && v.reason == HOSTGATE_REASON_INVALID_NAME);

    memset(&v, SENTINEL, sizeof v);
    memset(&insp, SENTINEL, sizeof insp);
    CHECK_RESULT(hostgate_inspect_check(NULL, 0, (const uint8_t *)get_req, 10, 0, &insp, &v),
                 HOSTGATE_RESULT_NULL_ARGUMENT);
    CHECK_RESULT(hostgate_inspect_check(e, 0, NULL, 10, 0, &insp, &v),
                 HOSTGATE_RESULT_NULL_ARGUMENT);
    CHECK_RESULT(hostgate_inspect_check(e, 0, (const uint8_t *)get_req, 10, 0, &insp, NULL),
                 HOSTGATE_RESULT_NULL_ARGUMENT);
    CHECK_RESULT(hostgate_inspect_check(e, 5, (const uint8_t *)get_req, 10, 0, &insp, &v),
                 HOSTGATE_RESULT_UNKNOWN_POLICY);
    CHECK(untouched(&v, sizeof v) && untouched(&insp, sizeof insp));

    if (tls_fixture != NULL) {
        FILE *f = fopen(tls_fixture, "rb");
        static uint8_t hello[65536];
        size_t len;
        CHECK(f != NULL);
        if (f == NULL) return;
        len = fread(hello, 1, sizeof hello, f);
        fclose(f);
        CHECK_RESULT(hostgate_inspect(hello, len, &insp), HOSTGATE_RESULT_OK);
        CHECK(insp.protocol == HOSTGATE_PROTOCOL_TLS && insp.status == HOSTGATE_STATUS_COMPLETE);
        CHECK(insp.via == HOSTGATE_VIA_TLS && strcmp(insp.name, "api.example.org") == 0);
        /* h2,http/1.1 in wire format. */
        CHECK(insp.alpn_count == 2 && insp.alpn_len == 12);
        CHECK(memcmp(insp.alpn, "\x02h2\x08http/1.1", 12) == 0 && insp.ech == 0);
        /* Every prefix asks for more bytes and never names a destination. */
        for (n = 0; n < len; n++) {
            CHECK_RESULT(hostgate_inspect(hello, n, &insp), HOSTGATE_RESULT_OK);
            if (insp.status != HOSTGATE_STATUS_NEED_MORE) {
                fprintf(stderr, "prefix %zu: status %u\n", n, (unsigned)insp.status);
                failures++;
                break;
            }
        }
    }
}

/* The expected text of tests/policy-errors/NAME.expected with {FILE} replaced by `file`, or NULL
 * when the fixture cannot be read (run from the repository root). Free with free(). */
static char *expected_text(const char *name, const char *file) {
    char path[256], raw[4096];
    snprintf(path, sizeof path, "tests/policy-errors/%s.expected", name);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t n = fread(raw, 1, sizeof raw - 1, f);
    fclose(f);
    raw[n] = 0;
    size_t cap = n * 4 + strlen(file) * 8 + 1, used = 0;
    char *out = malloc(cap);
    if (!out) return NULL;
    for (const char *p = raw; *p;) {
        if (strncmp(p, "{FILE}", 6) == 0 && used + strlen(file) < cap) {
            memcpy(out + used, file, strlen(file));
            used += strlen(file);
            p += 6;
        } else if (used + 1 < cap) {
            out[used++] = *p++;
        } else {
            break;
        }
    }
    out[used] = 0;
    return out;
}

/* hostgate_engine_load: the error text every front end prints, naming the file. */
static void test_load(void) {
    const char *bad = "tests/policy-errors/bad.policy";
    hostgate_engine *e = NULL;
    hostgate_error *err = NULL;
    CHECK_RESULT(hostgate_engine_load(bad, strlen(bad), &e, &err), HOSTGATE_RESULT_COMPILE_ERROR);
    CHECK(e == NULL && err != NULL);
    char *want = expected_text("bad", bad);
    CHECK(want != NULL);
    if (want && err) {
        /* The expected file ends each error with a newline; the message has none at its end. */
        size_t len = strlen(hostgate_error_message(err));
        CHECK(strlen(want) == len + 1 && strncmp(want, hostgate_error_message(err), len) == 0);
        CHECK(hostgate_error_count(err) == 3);
        CHECK(hostgate_error_line(err) == 4 && hostgate_error_column(err) == 9);
    }
    free(want);
    hostgate_error_free(err);

    err = NULL;
    const char *missing = "tests/policy-errors/no-such.policy";
    CHECK_RESULT(hostgate_engine_load(missing, strlen(missing), &e, &err), HOSTGATE_RESULT_IO_ERROR);
    CHECK(err != NULL && strstr(hostgate_error_message(err), "cannot read policy file tests/policy-errors/no-such.policy: ") ==
                             hostgate_error_message(err));
    hostgate_error_free(err);

    const char *good = "examples/policies/egress.policy";
    e = NULL;
    CHECK_RESULT(hostgate_engine_load(good, strlen(good), &e, NULL), HOSTGATE_RESULT_OK);
    uint32_t p = 99, q = 98;
    CHECK_RESULT(hostgate_engine_default_policy(e, &p), HOSTGATE_RESULT_OK);
    CHECK_RESULT(hostgate_engine_policy(e, "default", 7, &q), HOSTGATE_RESULT_OK);
    CHECK(p == q);
    CHECK_RESULT(hostgate_engine_default_policy(NULL, &p), HOSTGATE_RESULT_NULL_ARGUMENT);
    CHECK(hostgate_engine_warning_count(e) == 0 && hostgate_engine_warning(e, 0) == NULL);

    const char *warn = "tests/policy-errors/warn.policy";
    hostgate_engine *w = NULL;
    CHECK_RESULT(hostgate_engine_load(warn, strlen(warn), &w, NULL), HOSTGATE_RESULT_OK);
    char *want_warn = expected_text("warn", warn);
    CHECK(want_warn != NULL && hostgate_engine_warning_count(w) == 1);
    if (want_warn && hostgate_engine_warning(w, 0)) {
        size_t len = strlen(hostgate_engine_warning(w, 0));
        CHECK(strlen(want_warn) == len + 1 && strncmp(want_warn, hostgate_engine_warning(w, 0), len) == 0);
    }
    free(want_warn);
    hostgate_engine_free(w);
    CHECK_RESULT(hostgate_engine_load(NULL, 3, &e, NULL), HOSTGATE_RESULT_NULL_ARGUMENT);
    hostgate_engine_free(e);
}

/* Reads a file into buf; its length, or 0 when it cannot be read (run from the repository root). */
static size_t slurp(const char *path, uint8_t *buf, size_t cap) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

/* QUIC: one datagram, and a reassembler joining a hello over two (tests/quic/README.md). */
static void test_quic(void) {
    static uint8_t d1[2048], d2[2048], one[2048];
    size_t n1 = slurp("tests/quic/two-www.kadath.io-1.bin", d1, sizeof d1);
    size_t n2 = slurp("tests/quic/two-www.kadath.io-2.bin", d2, sizeof d2);
    size_t n = slurp("tests/quic/v2-ads.leng.com.bin", one, sizeof one);
    CHECK(n1 == 1200 && n2 == 1200 && n == 1200);
    hostgate_inspection insp;
    hostgate_verdict v;

    CHECK_RESULT(hostgate_inspect_quic(one, n, &insp), HOSTGATE_RESULT_OK);
    CHECK(insp.protocol == HOSTGATE_PROTOCOL_QUIC && insp.status == HOSTGATE_STATUS_COMPLETE);
    CHECK(insp.via == HOSTGATE_VIA_TLS && strcmp(insp.name, "ads.leng.com") == 0);
    CHECK_RESULT(hostgate_inspect_quic(d1, n1, &insp), HOSTGATE_RESULT_OK);
    CHECK(insp.status == HOSTGATE_STATUS_NEED_MORE);
    one[100] ^= 0x40; /* a protected byte: authentication fails */
    CHECK_RESULT(hostgate_inspect_quic(one, n, &insp), HOSTGATE_RESULT_OK);
    CHECK(insp.status == HOSTGATE_STATUS_MALFORMED && insp.error[0] != '\0');
    one[100] ^= 0x40;

    static const char policy[] = "allow www.kadath.io port 443 via tls id www\n";
    hostgate_engine *e = NULL;
    CHECK_RESULT(hostgate_engine_compile(policy, strlen(policy), &e, NULL), HOSTGATE_RESULT_OK);
    hostgate_quic_reassembler *r = NULL;
    hostgate_quic_caps caps = {0, 16, 0, 0};
    CHECK_RESULT(hostgate_quic_reassembler_new(&caps, &r), HOSTGATE_RESULT_OK);
    CHECK_RESULT(hostgate_quic_reassembler_check(r, e, 0, d1, n1, 443, &insp, &v), HOSTGATE_RESULT_OK);
    CHECK(insp.status == HOSTGATE_STATUS_NEED_MORE && v.action == HOSTGATE_ACTION_DENY);
    CHECK(v.reason == HOSTGATE_REASON_NO_NAME && hostgate_quic_reassembler_len(r) == 1);
    CHECK_RESULT(hostgate_quic_reassembler_check(r, e, 0, d2, n2, 443, &insp, &v), HOSTGATE_RESULT_OK);
    CHECK(insp.status == HOSTGATE_STATUS_COMPLETE && strcmp(insp.name, "www.kadath.io") == 0);
    CHECK(insp.alpn_len == 3 && memcmp(insp.alpn, "\x02h3", 3) == 0);
    CHECK(v.action == HOSTGATE_ACTION_ALLOW && v.line == 1);
    CHECK_RESULT(hostgate_quic_reassembler_push(r, one, n, &insp), HOSTGATE_RESULT_OK);
    CHECK(insp.status == HOSTGATE_STATUS_COMPLETE && strcmp(insp.name, "ads.leng.com") == 0);
    bool found = false;
    CHECK_RESULT(hostgate_quic_reassembler_forget(r, d1 + 6, d1[5], &found), HOSTGATE_RESULT_OK);
    CHECK(found && hostgate_quic_reassembler_len(r) == 1);
    CHECK_RESULT(hostgate_quic_reassembler_push(NULL, one, n, &insp), HOSTGATE_RESULT_NULL_ARGUMENT);
    CHECK_RESULT(hostgate_quic_reassembler_check(r, e, 7, one, n, 0, NULL, &v),
                 HOSTGATE_RESULT_UNKNOWN_POLICY);
    hostgate_quic_reassembler_free(r);
    hostgate_quic_reassembler_free(NULL);
    CHECK_RESULT(hostgate_quic_reassembler_new(NULL, &r), HOSTGATE_RESULT_OK);
    hostgate_quic_reassembler_free(r);
    hostgate_engine_free(e);
}

/* hostgate_engine_load_from: an import format, with the importer's meaning and error text. */
static void test_load_from(void) {
    const char *bad = "tests/policy-errors/bad-cilium.yaml";
    hostgate_engine *e = NULL;
    hostgate_error *err = NULL;
    CHECK_RESULT(hostgate_engine_load_from("cilium", 6, bad, strlen(bad), &e, &err),
                 HOSTGATE_RESULT_COMPILE_ERROR);
    char *want = expected_text("bad-cilium", bad);
    CHECK(want != NULL && err != NULL);
    if (want && err) {
        size_t len = strlen(hostgate_error_message(err));
        CHECK(strlen(want) == len + 1 && strncmp(want, hostgate_error_message(err), len) == 0);
        CHECK(hostgate_error_count(err) == 2 && hostgate_error_line(err) == 8);
    }
    free(want);
    hostgate_error_free(err);
    err = NULL;
    CHECK_RESULT(hostgate_engine_load_from("kyverno", 7, bad, strlen(bad), &e, &err),
                 HOSTGATE_RESULT_INVALID_ARGUMENT);
    CHECK(err != NULL && strstr(hostgate_error_message(err), "cilium") != NULL);
    hostgate_error_free(err);

    const char *good = "examples/migrate/cilium.yaml";
    CHECK_RESULT(hostgate_engine_load_from("cilium", 6, good, strlen(good), &e, NULL),
                 HOSTGATE_RESULT_OK);
    hostgate_verdict v;
    CHECK_RESULT(hostgate_check(e, 0, "a.kadath.io", 11, 443, HOSTGATE_VIA_TLS, &v), HOSTGATE_RESULT_OK);
    CHECK(v.action == HOSTGATE_ACTION_ALLOW);
    CHECK(v.rule_id_len == 44 && memcmp(v.rule_id, "CiliumNetworkPolicy/build/egress-allowlist:1", 44) == 0);
    /* Cilium's `*.` is one label. */
    CHECK_RESULT(hostgate_check(e, 0, "a.b.kadath.io", 13, 443, HOSTGATE_VIA_TLS, &v), HOSTGATE_RESULT_OK);
    CHECK(v.action == HOSTGATE_ACTION_DENY);
    hostgate_engine_free(e);
}

int main(int argc, char **argv) {
    hostgate_engine *e = NULL;
    hostgate_error *err = NULL;
    hostgate_result r;

    test_names();
    test_compile();
    test_load();
    test_load_from();
    test_quic();
    r = hostgate_engine_compile(POLICY, strlen(POLICY), &e, &err);
    if (r != HOSTGATE_RESULT_OK) {
        fprintf(stderr, "compile: %s: %s\n", hostgate_result_name(r), hostgate_error_message(err));
        hostgate_error_free(err);
        return 1;
    }
    test_policies_and_rules(e);
    test_check(e);
    test_check_batch(e);
    test_inspect(e, argc > 1 ? argv[1] : NULL);
    hostgate_engine_free(e);

    printf("api (C): %d failures\n", failures);
    return failures ? 1 : 0;
}
