/* Runs the contract tables through the C ABI: every row of queries.tsv one at a time, then one
 * batch per (file, policy) group; then the errors of diagnostics.tsv through hostgate_error_*
 * (the C ABI reports no warnings: a file with only warning rows must compile).
 * Usage: test_contract CONTRACT_DIR */
#include "contract.h"

static table t;

#define MAX_DIAG_ROWS 256
#define MAX_ERRORS 128

typedef struct diag_row {
    int lineno;
    char file[128];
    int is_error;
    uint32_t line;
    uint32_t lo, hi;   /* column range; 0, UINT32_MAX for any */
    long count;        /* -1 for one or more */
    char message[256]; /* alternatives separated by |; empty for any */
} diag_row;

static diag_row diags[MAX_DIAG_ROWS];
static size_t diag_count;

static void diagnostics_load(const char *dir) {
    char path[1024];
    size_t len;
    char *text, *line, *next;
    int lineno = 0;
    snprintf(path, sizeof path, "%s/diagnostics.tsv", dir);
    text = read_file(path, &len);
    for (line = text; line && *line; line = next) {
        char *f[6];
        diag_row *d;
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        lineno++;
        if (line[0] == '#' || line[0] == '\0' || strncmp(line, "file\t", 5) == 0) continue;
        if (split_tabs(line, f, 6) != 6 || diag_count == MAX_DIAG_ROWS) {
            fprintf(stderr, "diagnostics.tsv:%d: bad row\n", lineno);
            exit(2);
        }
        d = &diags[diag_count++];
        d->lineno = lineno;
        snprintf(d->file, sizeof d->file, "%s", f[0]);
        d->is_error = strcmp(f[1], "error") == 0;
        d->line = (uint32_t)strtoul(f[2], NULL, 10);
        if (strcmp(f[3], "-") == 0) {
            d->lo = 0;
            d->hi = UINT32_MAX;
        } else {
            char *dash = strchr(f[3], '-');
            d->lo = (uint32_t)strtoul(f[3], NULL, 10);
            d->hi = dash ? (uint32_t)strtoul(dash + 1, NULL, 10) : d->lo;
        }
        d->count = strcmp(f[4], "+") == 0 ? -1 : strtol(f[4], NULL, 10);
        snprintf(d->message, sizeof d->message, "%s", strcmp(f[5], "-") == 0 ? "" : f[5]);
    }
    free(text);
}

/* Whether `message` contains one of the |-separated `alternatives` (any, when empty). */
static int message_matches(const char *message, const char *alternatives) {
    char buf[256], *alt, *bar;
    if (alternatives[0] == '\0') return 1;
    snprintf(buf, sizeof buf, "%s", alternatives);
    for (alt = buf; alt; alt = bar) {
        bar = strchr(alt, '|');
        if (bar) *bar++ = '\0';
        if (strstr(message, alt) != NULL) return 1;
    }
    return 0;
}

/* Compiles every file of diagnostics.tsv once and compares its errors with the file's error rows:
 * errors on exactly the rows' lines, in text order; per row, the count on the line and the
 * column and message of the first. */
static void diagnostics_check(const char *dir) {
    size_t i, j, k;
    for (i = 0; i < diag_count; i++) {
        char path[1024];
        char *text;
        size_t len, count = 0, rows = 0;
        hostgate_engine *engine = NULL;
        hostgate_error *err = NULL;
        hostgate_result r;
        uint32_t lines[MAX_ERRORS], columns[MAX_ERRORS];
        const char *messages[MAX_ERRORS];
        int seen = 0;
        for (j = 0; j < i; j++)
            if (strcmp(diags[j].file, diags[i].file) == 0) seen = 1;
        if (seen) continue;
        for (j = i; j < diag_count; j++)
            if (strcmp(diags[j].file, diags[i].file) == 0 && diags[j].is_error) rows++;
        snprintf(path, sizeof path, "%s/policies/%s", dir, diags[i].file);
        text = read_file(path, &len);
        r = hostgate_engine_compile(text, len, &engine, &err);
        free(text);
        if (rows == 0) {
            if (r != HOSTGATE_RESULT_OK) {
                fprintf(stderr, "%s: want it to compile, got %s\n", diags[i].file,
                        hostgate_result_name(r));
                failures++;
            }
            hostgate_engine_free(engine);
            hostgate_error_free(err);
            continue;
        }
        if (r != HOSTGATE_RESULT_COMPILE_ERROR || err == NULL) {
            fprintf(stderr, "%s: want COMPILE_ERROR, got %s\n", diags[i].file,
                    hostgate_result_name(r));
            failures++;
            hostgate_engine_free(engine);
            hostgate_error_free(err);
            continue;
        }
        count = hostgate_error_count(err);
        CHECK(count > 0 && count <= MAX_ERRORS);
        if (count > MAX_ERRORS) count = MAX_ERRORS;
        for (k = 0; k < count; k++) {
            CHECK_RESULT(hostgate_error_get(err, k, &lines[k], &columns[k], &messages[k]),
                         HOSTGATE_RESULT_OK);
            if (k > 0 && (lines[k] < lines[k - 1] ||
                          (lines[k] == lines[k - 1] && columns[k] < columns[k - 1]))) {
                fprintf(stderr, "%s: error %zu is out of text order\n", diags[i].file, k);
                failures++;
            }
            /* Every error is on a line that has a row. */
            seen = 0;
            for (j = i; j < diag_count; j++)
                if (strcmp(diags[j].file, diags[i].file) == 0 && diags[j].is_error &&
                    diags[j].line == lines[k])
                    seen = 1;
            if (!seen) {
                fprintf(stderr, "%s: unexpected error on line %u: %s\n", diags[i].file,
                        (unsigned)lines[k], messages[k]);
                failures++;
            }
        }
        CHECK(hostgate_error_line(err) == lines[0] && hostgate_error_column(err) == columns[0]);
        CHECK_RESULT(hostgate_error_get(err, count, NULL, NULL, NULL),
                     HOSTGATE_RESULT_INVALID_ARGUMENT);
        for (j = i; j < diag_count; j++) {
            diag_row *d = &diags[j];
            long on_line = 0;
            size_t first = count;
            if (strcmp(d->file, diags[i].file) != 0 || !d->is_error) continue;
            for (k = 0; k < count; k++)
                if (lines[k] == d->line) {
                    if (on_line++ == 0) first = k;
                }
            if (on_line == 0) {
                fprintf(stderr, "diagnostics.tsv:%d: %s: no error on line %u\n", d->lineno,
                        d->file, (unsigned)d->line);
                failures++;
                continue;
            }
            if (d->count >= 0 && on_line != d->count) {
                fprintf(stderr, "diagnostics.tsv:%d: %s: %ld errors on line %u, want %ld\n",
                        d->lineno, d->file, on_line, (unsigned)d->line, d->count);
                failures++;
            }
            if (columns[first] < d->lo || columns[first] > d->hi) {
                fprintf(stderr, "diagnostics.tsv:%d: %s: line %u: column %u, want %u-%u\n",
                        d->lineno, d->file, (unsigned)d->line, (unsigned)columns[first],
                        (unsigned)d->lo, (unsigned)d->hi);
                failures++;
            }
            if (!message_matches(messages[first], d->message)) {
                fprintf(stderr, "diagnostics.tsv:%d: %s: message `%s` contains none of `%s`\n",
                        d->lineno, d->file, messages[first], d->message);
                failures++;
            }
        }
        hostgate_error_free(err);
    }
}

int main(int argc, char **argv) {
    size_t i, j;
    char got[512];
    if (argc != 2) {
        fprintf(stderr, "usage: %s tests/contract\n", argv[0]);
        return 2;
    }
    table_load(&t, argv[1]);
    CHECK(t.count >= 350);

    for (i = 0; i < t.count; i++) {
        row *r = &t.rows[i];
        hostgate_verdict v;
        CHECK_RESULT(hostgate_check(r->engine, r->policy_index, r->name, r->name_len, r->port,
                                    r->via, &v),
                     HOSTGATE_RESULT_OK);
        render(&v, got, sizeof got);
        if (strcmp(got, r->expected) != 0) {
            fprintf(stderr, "queries.tsv:%d: %s %s: want `%s`, got `%s`\n", r->lineno, r->file,
                    r->policy, r->expected, got);
            failures++;
        }
    }

    /* Batches: every row whose (file, policy) equals row i's, in one call. */
    for (i = 0; i < t.count; i++) {
        static char names[MAX_ROWS * MAX_NAME];
        static hostgate_query queries[MAX_ROWS];
        static hostgate_verdict out[MAX_ROWS];
        static size_t index[MAX_ROWS];
        size_t n = 0, used = 0;
        int seen = 0;
        for (j = 0; j < i; j++)
            if (t.rows[j].engine == t.rows[i].engine &&
                t.rows[j].policy_index == t.rows[i].policy_index)
                seen = 1;
        if (seen) continue;
        for (j = i; j < t.count; j++) {
            row *r = &t.rows[j];
            if (r->engine != t.rows[i].engine || r->policy_index != t.rows[i].policy_index)
                continue;
            queries[n].offset = used;
            queries[n].len = r->name_len;
            queries[n].port = r->port;
            queries[n].via = r->via;
            memcpy(names + used, r->name, r->name_len);
            used += r->name_len;
            index[n++] = j;
        }
        CHECK_RESULT(hostgate_check_batch(t.rows[i].engine, t.rows[i].policy_index, names, used,
                                          queries, n, out),
                     HOSTGATE_RESULT_OK);
        for (j = 0; j < n; j++) {
            render(&out[j], got, sizeof got);
            if (strcmp(got, t.rows[index[j]].expected) != 0) {
                fprintf(stderr, "queries.tsv:%d (batch): want `%s`, got `%s`\n",
                        t.rows[index[j]].lineno, t.rows[index[j]].expected, got);
                failures++;
            }
        }
    }

    table_free(&t);

    diagnostics_load(argv[1]);
    CHECK(diag_count >= 70);
    diagnostics_check(argv[1]);
    printf("contract (C): %zu query rows, %zu diagnostic rows, %d failures\n", t.count, diag_count,
           failures);
    return failures ? 1 : 0;
}
