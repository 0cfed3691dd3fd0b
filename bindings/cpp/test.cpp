// Tests of the C++ binding: RAII, exceptions, and the contract query table
// (tests/contract/queries.tsv) every language runs. Usage: test CONTRACT_DIR
#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>

#include "hostgate.hpp"

static int failures = 0;
#define EXPECT(cond)                                                                  \
    do {                                                                              \
        if (!(cond)) {                                                                \
            std::cerr << __FILE__ << ":" << __LINE__ << ": EXPECT failed: " #cond "\n"; \
            failures++;                                                               \
        }                                                                             \
    } while (0)

static std::string slurp(const std::string &path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw std::runtime_error("cannot read " + path);
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
}

static std::string unescape(const std::string &s) {
    if (s == "<empty>") return "";
    std::string out;
    for (std::size_t i = 0; i < s.size(); i++) {
        if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] == 'x') {
            out.push_back(static_cast<char>(std::stoi(s.substr(i + 2, 2), nullptr, 16)));
            i += 3;
        } else {
            out.push_back(s[i]);
        }
    }
    return out;
}

static hostgate::Via via(const std::string &s) {
    if (s == "tls") return hostgate::Via::Tls;
    if (s == "http") return hostgate::Via::Http;
    if (s == "connect") return hostgate::Via::Connect;
    if (s == "dns") return hostgate::Via::Dns;
    return hostgate::Via::Any;
}

static std::string render(const hostgate::Verdict &v) {
    std::string id = v.rule ? std::string(v.rule_id) : "-";
    return std::string(hostgate::to_string(v.action)) + " " +
           std::string(hostgate::to_string(v.reason)) + " " + id + " " + std::to_string(v.line);
}

static void api_tests() {
    using namespace hostgate;
    try {
        Engine::compile("allow ok.io\nallow a..b\n");
        EXPECT(false);
    } catch (const CompileError &e) {
        EXPECT(e.code() == HOSTGATE_RESULT_COMPILE_ERROR);
        EXPECT(e.line() == 2 && e.column() > 0 && e.count() == 1);
        EXPECT(std::string(e.what()).rfind("2:", 0) == 0);
    }
    Engine engine = Engine::compile("policy web\nallow **.stripe.com port 443 via tls id stripe\n");
    Engine moved = std::move(engine);  // movable; the moved-from handle is empty
    EXPECT(engine.get() == nullptr && moved.get() != nullptr);
    try {
        moved.policy("nope");
        EXPECT(false);
    } catch (const Error &e) {
        EXPECT(e.code() == HOSTGATE_RESULT_UNKNOWN_POLICY);
    }
    Policy web = moved.policy("web");
    Verdict v = moved.check(web, "Pay.Stripe.COM.", 443, Via::Tls);
    EXPECT(v.allowed() && v.reason == Reason::Matched && v.rule == 0u && v.rule_id == "stripe");
    v = moved.check(web, std::string_view("pay.stripe.com\0x", 16), 443, Via::Tls);
    EXPECT(!v.allowed() && v.reason == Reason::InvalidName && !v.rule);
    try {
        moved.check(web, "a.io", 0, static_cast<Via>(42));
        EXPECT(false);
    } catch (const Error &e) {
        EXPECT(e.code() == HOSTGATE_RESULT_INVALID_ARGUMENT);
    }
    // One engine, many threads.
    std::vector<std::thread> threads;
    std::vector<int> ok(4, 0);
    for (int t = 0; t < 4; t++)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 1000; i++)
                ok[t] += moved.check(web, "a.stripe.com", 443, Via::Tls).allowed();
        });
    for (auto &th : threads) th.join();
    for (int n : ok) EXPECT(n == 1000);
    EXPECT(moved.check_batch(web, {}).empty());
    Inspection i = inspect("CONNECT Pay.Stripe.com:443 HTTP/1.1\r\nHost: pay.stripe.com:443\r\n\r\n");
    EXPECT(i.complete() && i.name_view() == "pay.stripe.com" && i.port == 443 && i.via == HOSTGATE_VIA_CONNECT);
    EXPECT(!inspect("CONNECT Pay").complete() && inspect("").name_view().empty() && i.alpn_list().empty());
}

static void contract(const std::string &dir) {
    std::istringstream table(slurp(dir + "/queries.tsv"));
    std::map<std::string, hostgate::Engine> engines;
    struct Row {
        int lineno;
        std::string file, policy, name, expected;
        std::uint16_t port;
        hostgate::Via via;
    };
    std::vector<Row> rows;
    std::string line;
    int lineno = 0;
    while (std::getline(table, line)) {
        lineno++;
        if (line.empty() || line[0] == '#' || line.rfind("file\t", 0) == 0) continue;
        std::vector<std::string> f;
        std::istringstream fs(line);
        std::string field;
        while (std::getline(fs, field, '\t')) f.push_back(field);
        EXPECT(f.size() == 9);
        if (f.size() != 9) continue;
        rows.push_back({lineno, f[0], f[1], unescape(f[2]), f[5] + " " + f[6] + " " + f[7] + " " + f[8],
                        static_cast<std::uint16_t>(f[3] == "-" ? 0 : std::stoi(f[3])), via(f[4])});
    }
    EXPECT(rows.size() >= 350);
    std::map<std::pair<std::string, std::string>, std::vector<const Row *>> groups;
    for (const Row &r : rows) {
        auto it = engines.find(r.file);
        if (it == engines.end())
            it = engines.emplace(r.file, hostgate::Engine::compile(slurp(dir + "/policies/" + r.file))).first;
        std::string got = render(it->second.check(it->second.policy(r.policy), r.name, r.port, r.via));
        if (got != r.expected) {
            std::cerr << "queries.tsv:" << r.lineno << ": want `" << r.expected << "`, got `" << got << "`\n";
            failures++;
        }
        groups[{r.file, r.policy}].push_back(&r);
    }
    for (const auto &[key, group] : groups) {
        const hostgate::Engine &e = engines.at(key.first);
        std::vector<hostgate::Query> qs;
        for (const Row *r : group) qs.push_back({r->name, r->port, r->via});
        auto out = e.check_batch(e.policy(key.second), qs);
        for (std::size_t i = 0; i < group.size(); i++)
            if (render(out[i]) != group[i]->expected) {
                std::cerr << "queries.tsv:" << group[i]->lineno << " (batch): got `" << render(out[i]) << "`\n";
                failures++;
            }
    }
    std::cout << "contract (C++): " << rows.size() << " rows, " << failures << " failures\n";
}

/// Engine::load reports a bad file exactly as every front end does (run from the repository root).
static void load_tests() {
    const std::string bad = "tests/policy-errors/bad.policy";
    std::string want = slurp("tests/policy-errors/bad.expected");
    for (std::string::size_type at; (at = want.find("{FILE}")) != std::string::npos;)
        want.replace(at, 6, bad);
    try {
        hostgate::Engine::load(bad);
        EXPECT(false);
    } catch (const hostgate::CompileError &e) {
        EXPECT(e.message() + "\n" == want);
        EXPECT(e.count() == 3 && e.line() == 4 && e.column() == 9);
        EXPECT(e.code() == HOSTGATE_RESULT_COMPILE_ERROR);
    }
    try {
        hostgate::Engine::load("tests/policy-errors/no-such.policy");
        EXPECT(false);
    } catch (const hostgate::CompileError &e) {
        EXPECT(e.code() == HOSTGATE_RESULT_IO_ERROR);
        EXPECT(e.message().rfind("cannot read policy file tests/policy-errors/no-such.policy: ", 0) == 0);
    }
    auto engine = hostgate::Engine::load("examples/policies/egress.policy");
    EXPECT(engine.default_policy().index == engine.policy("default").index);
    const std::string warn = "tests/policy-errors/warn.policy";
    std::string want_warn = slurp("tests/policy-errors/warn.expected");
    want_warn.replace(want_warn.find("{FILE}"), 6, warn);
    auto warned = hostgate::Engine::load(warn);
    std::string got;
    for (const auto &w : warned.warnings()) got += w + "\n";
    EXPECT(got == want_warn);

    // With a format: the importer's meaning and its error text.
    const std::string bad_cilium = "tests/policy-errors/bad-cilium.yaml";
    std::string want_cilium = slurp("tests/policy-errors/bad-cilium.expected");
    for (std::string::size_type at; (at = want_cilium.find("{FILE}")) != std::string::npos;)
        want_cilium.replace(at, 6, bad_cilium);
    try {
        hostgate::Engine::load(bad_cilium, "cilium");
        EXPECT(false);
    } catch (const hostgate::CompileError &e) {
        EXPECT(e.message() + "\n" == want_cilium);
    }
    try {
        hostgate::Engine::load(bad_cilium, "kyverno");
        EXPECT(false);
    } catch (const hostgate::CompileError &e) {
        EXPECT(e.code() == HOSTGATE_RESULT_INVALID_ARGUMENT);
        EXPECT(e.message().find("cilium") != std::string::npos);
    }
    auto cilium = hostgate::Engine::load("examples/migrate/cilium.yaml", "cilium");
    auto p = cilium.default_policy();
    // Cilium's `*.` is one label.
    EXPECT(cilium.check(p, "a.kadath.io", 443, hostgate::Via::Tls).allowed());
    EXPECT(!cilium.check(p, "a.b.kadath.io", 443, hostgate::Via::Tls).allowed());
}

/// QUIC: one datagram, and a reassembler joining a hello over two (tests/quic/README.md).
static void quic_tests() {
    std::string one = slurp("tests/quic/v1-api.kadath.io.bin");
    std::string d1 = slurp("tests/quic/two-www.kadath.io-1.bin");
    std::string d2 = slurp("tests/quic/two-www.kadath.io-2.bin");
    EXPECT(one.size() == 1200 && d1.size() == 1200 && d2.size() == 1200);
    hostgate::Inspection i = hostgate::inspect_quic(one);
    EXPECT(i.complete() && i.protocol == HOSTGATE_PROTOCOL_QUIC && i.name_view() == "api.kadath.io");
    EXPECT(hostgate::inspect_quic(d1).status == HOSTGATE_STATUS_NEED_MORE);

    auto engine = hostgate::Engine::compile("allow www.kadath.io port 443 via tls id www\n");
    auto p = engine.default_policy();
    hostgate::QuicReassembler table;
    hostgate::Inspection insp;
    hostgate::Verdict v = table.check(engine, p, d1, 443, insp);
    EXPECT(insp.status == HOSTGATE_STATUS_NEED_MORE && !v.allowed());
    v = table.check(engine, p, d2, 443, insp);
    EXPECT(insp.complete() && insp.name_view() == "www.kadath.io" && v.allowed());
    auto alpn = insp.alpn_list();
    EXPECT(alpn.size() == 1 && alpn[0] == "h3");
    EXPECT(table.push(one).name_view() == "api.kadath.io" && table.size() == 2);
    EXPECT(table.forget(d1.substr(6, static_cast<unsigned char>(d1[5]))) && table.size() == 1);
    hostgate::QuicReassembler moved = std::move(table);
    EXPECT(moved.size() == 1);
}

/// An engine written to a file and opened again answers as the compiled one; bad files throw
/// with the file named.
static void engine_file_tests(const std::string &dir) {
    auto compiled = hostgate::Engine::compile("default deny\ndeny api.kadath.io\nallow .kadath.io\n");
    const std::string path = dir + "/cpp-test.engine";
    compiled.write(path);
    auto opened = hostgate::Engine::open(path);
    auto p = opened.default_policy();
    for (const char *name : {"api.kadath.io", "www.kadath.io", "kadath.io", "leng.com"}) {
        auto a = compiled.check(p, name, 443, hostgate::Via::Tls);
        auto b = opened.check(p, name, 443, hostgate::Via::Tls);
        EXPECT(a.action == b.action && a.line == b.line && a.rule == b.rule && a.rule_id == b.rule_id);
    }
    auto v = opened.check(p, "api.kadath.io", 443, hostgate::Via::Tls);
    EXPECT(!v.allowed() && v.line == 2 && v.rule_id == "default:2");
    EXPECT(hostgate::Engine::load(path).check(p, "www.kadath.io", 443, hostgate::Via::Tls).allowed());
    try {
        hostgate::Engine::open("examples/policies/egress.policy");
        EXPECT(false);
    } catch (const hostgate::CompileError &e) {
        EXPECT(e.code() == HOSTGATE_RESULT_ENGINE_FILE_ERROR);
        EXPECT(e.message() == "examples/policies/egress.policy: not an engine file (wrong magic)");
    }
    std::string bytes = slurp(path);
    const std::string cut = dir + "/cpp-cut.engine";
    std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
    try {
        hostgate::Engine::open(cut);
        EXPECT(false);
    } catch (const hostgate::CompileError &e) {
        EXPECT(e.code() == HOSTGATE_RESULT_ENGINE_FILE_ERROR);
        EXPECT(e.message().rfind(cut + ": engine file is ", 0) == 0);
    }
    std::remove(path.c_str());
    std::remove(cut.c_str());
}

int main(int argc, char **argv) {
    if (argc != 2) {
        std::cerr << "usage: test tests/contract\n";
        return 2;
    }
    api_tests();
    load_tests();
    quic_tests();
    const char *tmp = std::getenv("TMPDIR");
    engine_file_tests(tmp ? tmp : "/tmp");
    contract(argv[1]);
    return failures ? 1 : 0;
}
