/* Loads tests/contract/queries.tsv and its policies (shared by the C tests), and splits the rows
 * of any tab-separated contract table. */
#ifndef HOSTGATE_CONTRACT_H
#define HOSTGATE_CONTRACT_H

#include "testutil.h"

/* Reads a whole file; the caller frees the buffer. Exits on error. */
static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;
    if (f == NULL) {
        perror(path);
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = (char *)malloc((size_t)n + 1);
    if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        perror(path);
        exit(2);
    }
    fclose(f);
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

#define MAX_ROWS 1024
#define MAX_ENGINES 64
#define MAX_NAME 2048

typedef struct row {
    int lineno;
    char file[128];
    char policy[128];
    char name[MAX_NAME];
    size_t name_len;
    uint16_t port;
    hostgate_via via;
    char expected[512]; /* "action reason rule_id line" */
    hostgate_engine *engine; /* borrowed from the table */
    uint32_t policy_index;
} row;

typedef struct table {
    row rows[MAX_ROWS];
    size_t count;
    char files[MAX_ENGINES][128];
    hostgate_engine *engines[MAX_ENGINES];
    size_t engine_count;
} table;

/* Writes the bytes `s` stands for (`\xHH` is one raw byte, `<empty>` the empty name) to `out`,
 * which holds MAX_NAME bytes; exits when they do not fit. */
static size_t unescape(const char *s, char *out) {
    size_t n = 0;
    if (strcmp(s, "<empty>") == 0) return 0;
    while (*s) {
        if (n == MAX_NAME) {
            fprintf(stderr, "name longer than %d bytes\n", MAX_NAME);
            exit(2);
        }
        if (s[0] == '\\' && s[1] == 'x' && s[2] && s[3]) {
            char hex[3] = {s[2], s[3], 0};
            out[n++] = (char)strtol(hex, NULL, 16);
            s += 4;
        } else {
            out[n++] = *s++;
        }
    }
    return n;
}

static hostgate_via parse_via(const char *s) {
    if (strcmp(s, "tls") == 0) return HOSTGATE_VIA_TLS;
    if (strcmp(s, "http") == 0) return HOSTGATE_VIA_HTTP;
    if (strcmp(s, "connect") == 0) return HOSTGATE_VIA_CONNECT;
    if (strcmp(s, "dns") == 0) return HOSTGATE_VIA_DNS;
    return HOSTGATE_VIA_ANY;
}

static hostgate_engine *table_engine(table *t, const char *dir, const char *file) {
    size_t i, len;
    char path[1024];
    char *text;
    hostgate_engine *engine = NULL;
    hostgate_error *err = NULL;
    hostgate_result r;
    for (i = 0; i < t->engine_count; i++)
        if (strcmp(t->files[i], file) == 0) return t->engines[i];
    snprintf(path, sizeof path, "%s/policies/%s", dir, file);
    text = read_file(path, &len);
    r = hostgate_engine_compile(text, len, &engine, &err);
    free(text);
    if (r != HOSTGATE_RESULT_OK) {
        fprintf(stderr, "%s: %s: %s\n", path, hostgate_result_name(r), hostgate_error_message(err));
        hostgate_error_free(err);
        exit(2);
    }
    if (t->engine_count == MAX_ENGINES) exit(2);
    len = strlen(file);
    if (len >= sizeof t->files[0]) exit(2);
    memmove(t->files[t->engine_count], file, len + 1);
    t->engines[t->engine_count++] = engine;
    return engine;
}

/* Splits `line` at tabs in place; returns the number of fields. */
static int split_tabs(char *line, char **fields, int max) {
    int n = 0;
    fields[n++] = line;
    while (*line && n < max) {
        if (*line == '\t') {
            *line = '\0';
            fields[n++] = line + 1;
        }
        line++;
    }
    return n;
}

static void table_load(table *t, const char *dir) {
    char path[1024];
    size_t len;
    char *text, *line, *next;
    int lineno = 0;
    memset(t, 0, sizeof *t);
    snprintf(path, sizeof path, "%s/queries.tsv", dir);
    text = read_file(path, &len);
    for (line = text; line && *line; line = next) {
        char *f[9];
        row *r;
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        lineno++;
        if (line[0] == '#' || line[0] == '\0' || strncmp(line, "file\t", 5) == 0) continue;
        if (split_tabs(line, f, 9) != 9 || t->count == MAX_ROWS) {
            fprintf(stderr, "queries.tsv:%d: bad row\n", lineno);
            exit(2);
        }
        r = &t->rows[t->count++];
        r->lineno = lineno;
        snprintf(r->file, sizeof r->file, "%s", f[0]);
        snprintf(r->policy, sizeof r->policy, "%s", f[1]);
        r->name_len = unescape(f[2], r->name);
        r->port = strcmp(f[3], "-") == 0 ? 0 : (uint16_t)atoi(f[3]);
        r->via = parse_via(f[4]);
        snprintf(r->expected, sizeof r->expected, "%s %s %s %s", f[5], f[6], f[7], f[8]);
        r->engine = table_engine(t, dir, r->file);
        if (hostgate_engine_policy(r->engine, r->policy, strlen(r->policy), &r->policy_index) !=
            HOSTGATE_RESULT_OK) {
            fprintf(stderr, "queries.tsv:%d: unknown policy %s\n", lineno, r->policy);
            exit(2);
        }
    }
    free(text);
}

static void table_free(table *t) {
    size_t i;
    for (i = 0; i < t->engine_count; i++) hostgate_engine_free(t->engines[i]);
}

/* Renders a verdict like the table's last four columns. */
static void render(const hostgate_verdict *v, char *out, size_t cap) {
    if (v->rule < 0) {
        snprintf(out, cap, "%s %s - %u", hostgate_action_name(v->action),
                 hostgate_reason_name(v->reason), (unsigned)v->line);
    } else {
        snprintf(out, cap, "%s %s %.*s %u", hostgate_action_name(v->action),
                 hostgate_reason_name(v->reason), (int)v->rule_id_len, v->rule_id,
                 (unsigned)v->line);
    }
}

#endif
