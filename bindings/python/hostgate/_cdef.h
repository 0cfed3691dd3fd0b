#define HOSTGATE_VERSION_MAJOR 0
#define HOSTGATE_VERSION_MINOR 1
#define HOSTGATE_VERSION_PATCH 0
#define HOSTGATE_NAME_CAPACITY 256
#define HOSTGATE_ALPN_CAPACITY 256
#define HOSTGATE_ERROR_CAPACITY 128
enum hostgate_result
 {
  HOSTGATE_RESULT_OK = 0,
  HOSTGATE_RESULT_NULL_ARGUMENT = 1,
  HOSTGATE_RESULT_INVALID_ARGUMENT = 2,
  HOSTGATE_RESULT_INVALID_UTF8 = 3,
  HOSTGATE_RESULT_COMPILE_ERROR = 4,
  HOSTGATE_RESULT_UNKNOWN_POLICY = 5,
  HOSTGATE_RESULT_UNKNOWN_RULE = 6,
  HOSTGATE_RESULT_PANIC = 7,
  HOSTGATE_RESULT_IO_ERROR = 8,
  HOSTGATE_RESULT_ENGINE_FILE_ERROR = 9,
};
typedef uint32_t hostgate_result;
enum hostgate_action
 {
  HOSTGATE_ACTION_DENY = 0,
  HOSTGATE_ACTION_ALLOW = 1,
};
typedef uint32_t hostgate_action;
enum hostgate_reason
 {
  HOSTGATE_REASON_MATCHED = 0,
  HOSTGATE_REASON_DEFAULT = 1,
  HOSTGATE_REASON_INVALID_NAME = 2,
  HOSTGATE_REASON_NO_NAME = 3,
};
typedef uint32_t hostgate_reason;
enum hostgate_protocol
 {
  HOSTGATE_PROTOCOL_UNKNOWN = 0,
  HOSTGATE_PROTOCOL_TLS = 1,
  HOSTGATE_PROTOCOL_HTTP = 2,
  HOSTGATE_PROTOCOL_DNS = 3,
  HOSTGATE_PROTOCOL_QUIC = 4,
};
typedef uint32_t hostgate_protocol;
enum hostgate_status
 {
  HOSTGATE_STATUS_COMPLETE = 0,
  HOSTGATE_STATUS_NEED_MORE = 1,
  HOSTGATE_STATUS_NO_NAME = 2,
  HOSTGATE_STATUS_MALFORMED = 3,
  HOSTGATE_STATUS_UNRECOGNIZED = 4,
};
typedef uint32_t hostgate_status;
enum hostgate_via
 {
  HOSTGATE_VIA_ANY = 0,
  HOSTGATE_VIA_TLS = 1,
  HOSTGATE_VIA_HTTP = 2,
  HOSTGATE_VIA_CONNECT = 3,
  HOSTGATE_VIA_DNS = 4,
};
typedef uint32_t hostgate_via;
enum hostgate_name_kind
 {
  HOSTGATE_NAME_KIND_NONE = 0,
  HOSTGATE_NAME_KIND_NAME = 1,
  HOSTGATE_NAME_KIND_IPV4 = 2,
  HOSTGATE_NAME_KIND_IPV6 = 3,
};
typedef uint32_t hostgate_name_kind;
typedef struct hostgate_engine hostgate_engine;
typedef struct hostgate_error hostgate_error;
typedef struct hostgate_quic_reassembler hostgate_quic_reassembler;
typedef struct hostgate_verdict {
  hostgate_action action;
  hostgate_reason reason;
  uint32_t policy;
  int32_t rule;
  uint32_t line;
  const char *rule_id;
  size_t rule_id_len;
} hostgate_verdict;
typedef struct hostgate_query {
  size_t offset;
  size_t len;
  uint16_t port;
  hostgate_via via;
} hostgate_query;
typedef struct hostgate_inspection {
  hostgate_protocol protocol;
  hostgate_status status;
  hostgate_via via;
  hostgate_name_kind name_kind;
  uint32_t name_len;
  char name[HOSTGATE_NAME_CAPACITY];
  uint16_t port;
  uint16_t qtype;
  uint8_t ech;
  uint8_t alpn_truncated;
  uint16_t alpn_count;
  uint32_t alpn_len;
  uint8_t alpn[HOSTGATE_ALPN_CAPACITY];
  uint64_t need;
  char error[HOSTGATE_ERROR_CAPACITY];
} hostgate_inspection;
typedef struct hostgate_quic_caps {
  size_t datagrams;
  size_t flows;
  uint32_t lifetime_ms;
  size_t fragments;
} hostgate_quic_caps;
const char *hostgate_version(void);
const char *hostgate_result_name(hostgate_result result);
const char *hostgate_action_name(hostgate_action action);
const char *hostgate_reason_name(hostgate_reason reason);
const char *hostgate_via_name(hostgate_via via);
hostgate_result hostgate_engine_compile(const char *text,
                                        size_t len,
                                        struct hostgate_engine **out,
                                        struct hostgate_error **err);
hostgate_result hostgate_engine_load(const char *path,
                                     size_t len,
                                     struct hostgate_engine **out,
                                     struct hostgate_error **err);
hostgate_result hostgate_engine_load_from(const char *format,
                                          size_t format_len,
                                          const char *path,
                                          size_t len,
                                          struct hostgate_engine **out,
                                          struct hostgate_error **err);
hostgate_result hostgate_engine_open(const char *path,
                                     size_t len,
                                     struct hostgate_engine **out,
                                     struct hostgate_error **err);
hostgate_result hostgate_engine_write(const struct hostgate_engine *engine,
                                      const char *path,
                                      size_t len,
                                      struct hostgate_error **err);
hostgate_result hostgate_engine_default_policy(const struct hostgate_engine *engine,
                                               uint32_t *out_index);
void hostgate_engine_free(struct hostgate_engine *engine);
size_t hostgate_engine_warning_count(const struct hostgate_engine *engine);
const char *hostgate_engine_warning(const struct hostgate_engine *engine, size_t index);
uint32_t hostgate_engine_policy_count(const struct hostgate_engine *engine);
hostgate_result hostgate_engine_policy(const struct hostgate_engine *engine,
                                       const char *name,
                                       size_t len,
                                       uint32_t *out_index);
hostgate_result hostgate_engine_policy_name(const struct hostgate_engine *engine,
                                            uint32_t index,
                                            const char **ptr,
                                            size_t *len);
hostgate_result hostgate_engine_rule_id(const struct hostgate_engine *engine,
                                        uint32_t policy,
                                        int32_t rule,
                                        const char **ptr,
                                        size_t *len);
hostgate_result hostgate_check(const struct hostgate_engine *engine,
                               uint32_t policy,
                               const char *name,
                               size_t len,
                               uint16_t port,
                               hostgate_via via,
                               struct hostgate_verdict *out);
hostgate_result hostgate_check_batch(const struct hostgate_engine *engine,
                                     uint32_t policy,
                                     const char *names,
                                     size_t names_len,
                                     const struct hostgate_query *queries,
                                     size_t count,
                                     struct hostgate_verdict *out);
hostgate_result hostgate_inspect(const uint8_t *buf, size_t len, struct hostgate_inspection *out);
hostgate_result hostgate_inspect_check(const struct hostgate_engine *engine,
                                       uint32_t policy,
                                       const uint8_t *buf,
                                       size_t len,
                                       uint16_t port,
                                       struct hostgate_inspection *insp,
                                       struct hostgate_verdict *out);
const char *hostgate_error_message(const struct hostgate_error *err);
uint32_t hostgate_error_line(const struct hostgate_error *err);
uint32_t hostgate_error_column(const struct hostgate_error *err);
size_t hostgate_error_count(const struct hostgate_error *err);
hostgate_result hostgate_error_get(const struct hostgate_error *err,
                                   size_t index,
                                   uint32_t *line,
                                   uint32_t *column,
                                   const char **message);
void hostgate_error_free(struct hostgate_error *err);
hostgate_result hostgate_quic_reassembler_new(const struct hostgate_quic_caps *caps,
                                              struct hostgate_quic_reassembler **out);
void hostgate_quic_reassembler_free(struct hostgate_quic_reassembler *r);
hostgate_result hostgate_quic_reassembler_push(struct hostgate_quic_reassembler *r,
                                               const uint8_t *buf,
                                               size_t len,
                                               struct hostgate_inspection *out);
hostgate_result hostgate_quic_reassembler_check(struct hostgate_quic_reassembler *r,
                                                const struct hostgate_engine *engine,
                                                uint32_t policy,
                                                const uint8_t *buf,
                                                size_t len,
                                                uint16_t port,
                                                struct hostgate_inspection *insp,
                                                struct hostgate_verdict *out);
hostgate_result hostgate_quic_reassembler_forget(struct hostgate_quic_reassembler *r,
                                                 const uint8_t *dcid,
                                                 size_t dcid_len,
                                                 bool *out_found);
size_t hostgate_quic_reassembler_len(const struct hostgate_quic_reassembler *r);
hostgate_result hostgate_inspect_quic(const uint8_t *buf,
                                      size_t len,
                                      struct hostgate_inspection *out);
