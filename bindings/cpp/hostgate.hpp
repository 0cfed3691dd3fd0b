// hostgate C++ binding: header-only RAII over the C ABI in include/hostgate.h (C++17).
//
//   auto engine = hostgate::Engine::compile(policy_text);      // throws hostgate::CompileError
//   auto policy = engine.policy("default");                     // throws hostgate::Error
//   hostgate::Verdict v = engine.check(policy, "api.kadath.io", 443, hostgate::Via::Tls);
//   if (v.allowed()) { ... }
//
// An Engine is immutable: share one (e.g. through std::shared_ptr<const Engine>) between any
// number of threads; reload policy by compiling a new Engine and swapping the shared pointer.
#ifndef HOSTGATE_HPP
#define HOSTGATE_HPP

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "hostgate.h"

namespace hostgate {

/// Allow or deny.
enum class Action : std::uint32_t { Deny = HOSTGATE_ACTION_DENY, Allow = HOSTGATE_ACTION_ALLOW };

/// Why a verdict is what it is.
enum class Reason : std::uint32_t {
    Matched = HOSTGATE_REASON_MATCHED,
    Default = HOSTGATE_REASON_DEFAULT,
    InvalidName = HOSTGATE_REASON_INVALID_NAME,
    NoName = HOSTGATE_REASON_NO_NAME,
};

/// Where a name came from; Any = unknown.
enum class Via : std::uint32_t {
    Any = HOSTGATE_VIA_ANY,
    Tls = HOSTGATE_VIA_TLS,
    Http = HOSTGATE_VIA_HTTP,
    Connect = HOSTGATE_VIA_CONNECT,
    Dns = HOSTGATE_VIA_DNS,
};

/// "allow"/"deny".
inline std::string_view to_string(Action a) { return hostgate_action_name(static_cast<hostgate_action>(a)); }
/// "matched", "default", "invalid-name", "no-name".
inline std::string_view to_string(Reason r) { return hostgate_reason_name(static_cast<hostgate_reason>(r)); }
/// "any", "tls", "http", "connect", "dns".
inline std::string_view to_string(Via v) { return hostgate_via_name(static_cast<hostgate_via>(v)); }

/// A call failed; code() is the C result.
class Error : public std::runtime_error {
  public:
    explicit Error(hostgate_result code, const std::string &what)
        : std::runtime_error(what + ": " + hostgate_result_name(code)), code_(code) {}
    hostgate_result code() const noexcept { return code_; }

  private:
    hostgate_result code_;
};

/// The policy does not compile (or a file cannot be read, for Engine::load): what() lists every
/// error as LINE:COL: message (FILE:LINE:COL: message from Engine::load, exactly as the hostgate
/// CLI prints it) followed by the result name; message() is that text alone; line() and column()
/// locate the first error.
class CompileError : public Error {
  public:
    CompileError(hostgate_result code, const hostgate_error *err)
        : Error(code, err ? hostgate_error_message(err) : "compile failed"),
          message_(err ? hostgate_error_message(err) : ""), line_(hostgate_error_line(err)),
          column_(hostgate_error_column(err)), count_(hostgate_error_count(err)) {}
    const std::string &message() const noexcept { return message_; }
    std::uint32_t line() const noexcept { return line_; }
    std::uint32_t column() const noexcept { return column_; }
    std::size_t count() const noexcept { return count_; }

  private:
    std::string message_;
    std::uint32_t line_, column_;
    std::size_t count_;
};

/// A policy inside an engine (resolve once by name with Engine::policy).
struct Policy {
    std::uint32_t index = 0;
};

/// The answer to one query. rule_id views memory owned by the Engine.
struct Verdict {
    Action action = Action::Deny;
    Reason reason = Reason::NoName;
    std::uint32_t policy = 0;
    std::optional<std::uint32_t> rule;  ///< the deciding rule's index in its policy
    std::uint32_t line = 0;             ///< its line, 0 when none
    std::string_view rule_id;           ///< its id, empty when none

    bool allowed() const noexcept { return action == Action::Allow; }

    static Verdict from_c(const hostgate_verdict &v) {
        Verdict out;
        out.action = static_cast<Action>(v.action);
        out.reason = static_cast<Reason>(v.reason);
        out.policy = v.policy;
        if (v.rule >= 0) out.rule = static_cast<std::uint32_t>(v.rule);
        out.line = v.line;
        if (v.rule_id != nullptr) out.rule_id = std::string_view(v.rule_id, v.rule_id_len);
        return out;
    }
};

/// One query of a batch.
struct Query {
    std::string_view name;
    std::uint16_t port = 0;  ///< 0 = none
    Via via = Via::Any;
};

/// What inspect() found in the first bytes of a stream (the C struct, self-contained).
struct Inspection : hostgate_inspection {
    bool complete() const noexcept { return status == HOSTGATE_STATUS_COMPLETE; }
    std::string_view name_view() const noexcept { return std::string_view(name, name_len); }
    /// The offered ALPN protocols.
    std::vector<std::string_view> alpn_list() const {
        std::vector<std::string_view> out;
        for (std::uint32_t i = 0; i < alpn_len && i + 1 + alpn[i] <= alpn_len; i += 1 + alpn[i])
            out.emplace_back(reinterpret_cast<const char *>(alpn) + i + 1, alpn[i]);
        return out;
    }
};

/// Parses the first bytes of a TCP stream (TLS ClientHello, HTTP/1.x head, DNS over TCP).
inline Inspection inspect(std::string_view bytes) {
    Inspection out;
    hostgate_result r =
        hostgate_inspect(reinterpret_cast<const std::uint8_t *>(bytes.data()), bytes.size(), &out);
    if (r != HOSTGATE_RESULT_OK) throw Error(r, "hostgate_inspect");
    return out;
}

/// A compiled, immutable set of policies; movable, not copyable; freed automatically.
class Engine {
  public:
    /// Compiles policy text; throws CompileError.
    static Engine compile(std::string_view text) {
        hostgate_engine *raw = nullptr;
        hostgate_error *err = nullptr;
        hostgate_result r = hostgate_engine_compile(text.data(), text.size(), &raw, &err);
        std::unique_ptr<hostgate_error, ErrorFree> owned_err(err);
        if (r != HOSTGATE_RESULT_OK) throw CompileError(r, owned_err.get());
        return Engine(raw);
    }

    /// Reads and compiles a policy file through the library's loading path (the CLI's); throws
    /// CompileError, whose code() is HOSTGATE_RESULT_IO_ERROR when the file cannot be read.
    static Engine load(std::string_view path) {
        hostgate_engine *raw = nullptr;
        hostgate_error *err = nullptr;
        hostgate_result r = hostgate_engine_load(path.data(), path.size(), &raw, &err);
        std::unique_ptr<hostgate_error, ErrorFree> owned_err(err);
        if (r != HOSTGATE_RESULT_OK) throw CompileError(r, owned_err.get());
        return Engine(raw);
    }

    /// Reads a policy file written in `format` ("hostgate", or an import format such as
    /// "cilium", as the CLI's --from takes them) through the library's loading path; throws
    /// CompileError (code() HOSTGATE_RESULT_INVALID_ARGUMENT for an unknown format).
    static Engine load(std::string_view path, std::string_view format) {
        hostgate_engine *raw = nullptr;
        hostgate_error *err = nullptr;
        hostgate_result r = hostgate_engine_load_from(format.data(), format.size(), path.data(),
                                                      path.size(), &raw, &err);
        std::unique_ptr<hostgate_error, ErrorFree> owned_err(err);
        if (r != HOSTGATE_RESULT_OK) throw CompileError(r, owned_err.get());
        return Engine(raw);
    }

    /// Opens an engine file (written by `hostgate compile` or write()) by mapping it: no
    /// compile, its arrays shared with every process that maps the same file. Throws
    /// CompileError whose code() is HOSTGATE_RESULT_ENGINE_FILE_ERROR for a file that is not an
    /// engine file or cannot be opened (message() names the file and what is wrong), or
    /// HOSTGATE_RESULT_IO_ERROR when it cannot be read.
    static Engine open(std::string_view path) {
        hostgate_engine *raw = nullptr;
        hostgate_error *err = nullptr;
        hostgate_result r = hostgate_engine_open(path.data(), path.size(), &raw, &err);
        std::unique_ptr<hostgate_error, ErrorFree> owned_err(err);
        if (r != HOSTGATE_RESULT_OK) throw CompileError(r, owned_err.get());
        return Engine(raw);
    }

    /// Writes the engine as an engine file, atomically (a temporary file renamed over `path`);
    /// throws CompileError (code() HOSTGATE_RESULT_IO_ERROR) when it cannot be written.
    void write(std::string_view path) const {
        hostgate_error *err = nullptr;
        hostgate_result r = hostgate_engine_write(get(), path.data(), path.size(), &err);
        std::unique_ptr<hostgate_error, ErrorFree> owned_err(err);
        if (r != HOSTGATE_RESULT_OK) throw CompileError(r, owned_err.get());
    }

    /// The policy's warnings, one line each, as the CLI prints them (with the file name for an
    /// engine from load()).
    std::vector<std::string> warnings() const {
        std::vector<std::string> out;
        for (std::size_t i = 0, n = hostgate_engine_warning_count(get()); i < n; i++)
            out.emplace_back(hostgate_engine_warning(get(), i));
        return out;
    }

    /// The policy used when none is named: `default` when the text has statements outside any
    /// `policy` block, else the first policy.
    Policy default_policy() const {
        Policy p;
        hostgate_result r = hostgate_engine_default_policy(get(), &p.index);
        if (r != HOSTGATE_RESULT_OK) throw Error(r, "default_policy");
        return p;
    }

    /// The policy named `name`; throws Error(HOSTGATE_RESULT_UNKNOWN_POLICY).
    Policy policy(std::string_view name) const {
        Policy p;
        hostgate_result r = hostgate_engine_policy(get(), name.data(), name.size(), &p.index);
        if (r != HOSTGATE_RESULT_OK) throw Error(r, "policy `" + std::string(name) + "`");
        return p;
    }

    /// How many policies the engine holds.
    std::uint32_t policy_count() const noexcept { return hostgate_engine_policy_count(get()); }

    /// Checks one name (raw bytes as received; the engine normalizes them).
    Verdict check(Policy policy, std::string_view name, std::uint16_t port = 0,
                  Via via = Via::Any) const {
        hostgate_verdict v;
        hostgate_result r = hostgate_check(get(), policy.index, name.data(), name.size(), port,
                                           static_cast<hostgate_via>(via), &v);
        if (r != HOSTGATE_RESULT_OK) throw Error(r, "hostgate_check");
        return Verdict::from_c(v);
    }

    /// Checks many queries in one call.
    std::vector<Verdict> check_batch(Policy policy, const std::vector<Query> &queries) const {
        std::string names;
        std::vector<hostgate_query> qs(queries.size());
        for (std::size_t i = 0; i < queries.size(); i++) {
            qs[i].offset = names.size();
            qs[i].len = queries[i].name.size();
            qs[i].port = queries[i].port;
            qs[i].via = static_cast<hostgate_via>(queries[i].via);
            names.append(queries[i].name);
        }
        std::vector<hostgate_verdict> raw(queries.size());
        hostgate_result r = hostgate_check_batch(get(), policy.index, names.data(), names.size(),
                                                 qs.data(), qs.size(), raw.data());
        if (r != HOSTGATE_RESULT_OK) throw Error(r, "hostgate_check_batch");
        std::vector<Verdict> out;
        out.reserve(raw.size());
        for (const hostgate_verdict &v : raw) out.push_back(Verdict::from_c(v));
        return out;
    }

    /// The C handle, for calls this wrapper does not cover.
    const hostgate_engine *get() const noexcept { return engine_.get(); }

  private:
    struct EngineFree {
        void operator()(hostgate_engine *e) const noexcept { hostgate_engine_free(e); }
    };
    struct ErrorFree {
        void operator()(hostgate_error *e) const noexcept { hostgate_error_free(e); }
    };
    explicit Engine(hostgate_engine *raw) : engine_(raw) {}
    std::unique_ptr<hostgate_engine, EngineFree> engine_;
};

/// Reads one UDP datagram holding a client's QUIC Initial whose ClientHello it carries whole
/// (protocol QUIC, via TLS; no ALPN this way). A hello spread over datagrams is NEED_MORE: use
/// a QuicReassembler.
inline Inspection inspect_quic(std::string_view datagram) {
    Inspection out;
    hostgate_result r = hostgate_inspect_quic(
        reinterpret_cast<const std::uint8_t *>(datagram.data()), datagram.size(), &out);
    if (r != HOSTGATE_RESULT_OK) throw Error(r, "hostgate_inspect_quic");
    return out;
}

/// Client QUIC Initial datagrams collected per flow until the ClientHello is complete.
/// Movable, not copyable, not thread-safe (one per thread, or lock it).
class QuicReassembler {
  public:
    /// A reassembler with `caps` (fields left 0 take their defaults).
    explicit QuicReassembler(const hostgate_quic_caps &caps = hostgate_quic_caps{}) {
        hostgate_quic_reassembler *raw = nullptr;
        hostgate_result r = hostgate_quic_reassembler_new(&caps, &raw);
        if (r != HOSTGATE_RESULT_OK) throw Error(r, "hostgate_quic_reassembler_new");
        table_.reset(raw);
    }

    /// Adds one client datagram; NEED_MORE until the hello is complete, then COMPLETE (SNI,
    /// ALPN) or NO_NAME; MALFORMED for a datagram that fails authentication or breaks a rule.
    Inspection push(std::string_view datagram) {
        Inspection out;
        hostgate_result r = hostgate_quic_reassembler_push(
            table_.get(), reinterpret_cast<const std::uint8_t *>(datagram.data()),
            datagram.size(), &out);
        if (r != HOSTGATE_RESULT_OK) throw Error(r, "hostgate_quic_reassembler_push");
        return out;
    }

    /// push(), then the verdict of `policy` for the flow (the SNI checked via TLS with `port`,
    /// 0 for none); anything but COMPLETE is denied: wait while `inspection.status` is
    /// NEED_MORE.
    Verdict check(const Engine &engine, Policy policy, std::string_view datagram,
                  std::uint16_t port, Inspection &inspection) {
        hostgate_verdict v;
        hostgate_result r = hostgate_quic_reassembler_check(
            table_.get(), engine.get(), policy.index,
            reinterpret_cast<const std::uint8_t *>(datagram.data()), datagram.size(), port,
            &inspection, &v);
        if (r != HOSTGATE_RESULT_OK) throw Error(r, "hostgate_quic_reassembler_check");
        return Verdict::from_c(v);
    }

    /// Drops the flow of an original destination connection ID; true when one was held.
    bool forget(std::string_view dcid) {
        bool found = false;
        hostgate_result r = hostgate_quic_reassembler_forget(
            table_.get(), reinterpret_cast<const std::uint8_t *>(dcid.data()), dcid.size(),
            &found);
        if (r != HOSTGATE_RESULT_OK) throw Error(r, "hostgate_quic_reassembler_forget");
        return found;
    }

    /// The number of flows held.
    std::size_t size() const noexcept { return hostgate_quic_reassembler_len(table_.get()); }

  private:
    struct Free {
        void operator()(hostgate_quic_reassembler *r) const noexcept {
            hostgate_quic_reassembler_free(r);
        }
    };
    std::unique_ptr<hostgate_quic_reassembler, Free> table_;
};

}  // namespace hostgate

#endif  // HOSTGATE_HPP
