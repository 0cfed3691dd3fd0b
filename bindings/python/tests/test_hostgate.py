"""pytest suite of the Python binding, including the contract query table every language runs
(tests/contract/queries.tsv)."""
import gc
import importlib.metadata
import os
import re
import threading
from collections import defaultdict

import pytest

import hostgate
from hostgate import Action, CompileError, Engine, Query, Reason, Via

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
CONTRACT = os.path.join(ROOT, "tests", "contract")


def unescape(s):
    if s == "<empty>":
        return b""
    out, i, raw = bytearray(), 0, s.encode("utf-8")
    while i < len(raw):
        if raw[i : i + 2] == b"\\x" and i + 3 < len(raw):
            out.append(int(raw[i + 2 : i + 4], 16))
            i += 4
        else:
            out.append(raw[i])
            i += 1
    return bytes(out)


def load_rows():
    rows = []
    with open(os.path.join(CONTRACT, "queries.tsv"), encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line or line.startswith("#") or line.startswith("file\t"):
                continue
            c = line.split("\t")
            assert len(c) == 9, f"queries.tsv:{n}"
            via = Via.ANY if c[4] == "-" else Via[c[4].upper()]
            port = None if c[3] == "-" else int(c[3])
            rows.append((n, c[0], c[1], unescape(c[2]), port, via, " ".join(c[5:])))
    return rows


ROWS = load_rows()
_ENGINES = {}


def engine_for(file):
    if file not in _ENGINES:
        _ENGINES[file] = Engine.from_file(os.path.join(CONTRACT, "policies", file))
    return _ENGINES[file]


def render(v):
    return f"{v.action} {v.reason} {v.rule_id if v.rule is not None else '-'} {v.line}"


def test_table_is_big_enough():
    assert len(ROWS) >= 350


@pytest.mark.parametrize("row", ROWS, ids=[f"queries.tsv:{r[0]}" for r in ROWS])
def test_contract(row):
    _, file, policy, name, port, via, expected = row
    assert render(engine_for(file).check(name, port=port, via=via, policy=policy)) == expected


def test_contract_batches():
    groups = defaultdict(list)
    for row in ROWS:
        groups[(row[1], row[2])].append(row)
    for (file, policy), rows in groups.items():
        verdicts = engine_for(file).check_batch([Query(r[3], r[4] or 0, r[5]) for r in rows], policy=policy)
        assert [render(v) for v in verdicts] == [r[6] for r in rows]


def test_compile_error_carries_line_and_column():
    with pytest.raises(CompileError) as info:
        Engine.compile("allow ok.io\nallow a..b\nallow c.io port 0\n")
    e = info.value
    assert (e.line, len(e.errors), e.errors[1].line) == (2, 2, 3)
    assert e.column > 0 and str(e).startswith("2:")
    assert isinstance(e, ValueError)
    with pytest.raises(CompileError) as info:
        Engine.compile(b"allow a.io\nallow b\xff.io\n")
    assert (info.value.line, info.value.column) == (2, 8)


def expected(name, file):
    with open(os.path.join(ROOT, "tests", "policy-errors", name + ".expected")) as f:
        return f.read().replace("{FILE}", file)


def test_from_file_reports_what_every_front_end_reports():
    bad = os.path.join(ROOT, "tests", "policy-errors", "bad.policy")
    with pytest.raises(CompileError) as info:
        Engine.from_file(bad)
    assert str(info.value) + "\n" == expected("bad", bad)
    assert [(d.line, d.column) for d in info.value.errors] == [(4, 9), (6, 25), (7, 1)]
    with pytest.raises(OSError) as info:
        Engine.from_file(os.path.join(ROOT, "no-such.policy"))
    assert "cannot read policy file" in str(info.value)
    with Engine.from_file(os.path.join(ROOT, "examples", "policies", "egress.policy")) as e:
        assert e.default_policy == e.policy("default")
    warn = os.path.join(ROOT, "tests", "policy-errors", "warn.policy")
    with Engine.from_file(warn) as e:
        assert "".join(w + "\n" for w in e.warnings) == expected("warn", warn)


def test_from_file_with_a_format_imports_with_the_systems_meaning():
    bad = os.path.join(ROOT, "tests", "policy-errors", "bad-cilium.yaml")
    with pytest.raises(CompileError) as info:
        Engine.from_file(bad, format="cilium")
    assert str(info.value) + "\n" == expected("bad-cilium", bad)
    with pytest.raises(ValueError) as info:
        Engine.from_file(bad, format="kyverno")
    assert "kyverno" in str(info.value) and "cilium" in str(info.value)
    with Engine.from_file(os.path.join(ROOT, "examples", "migrate", "cilium.yaml"), format="cilium") as e:
        # Cilium's `*.` is one label.
        v = e.check("a.kadath.io", port=443, via=Via.TLS)
        assert v.allowed and v.rule_id == "CiliumNetworkPolicy/build/egress-allowlist:1"
        assert not e.check("a.b.kadath.io", port=443, via=Via.TLS).allowed


def test_quic():
    def read(name):
        with open(os.path.join(ROOT, "tests", "quic", name), "rb") as f:
            return f.read()

    one, d1, d2 = read("v1-api.kadath.io.bin"), read("two-www.kadath.io-1.bin"), read("two-www.kadath.io-2.bin")
    i = hostgate.inspect_quic(one)
    assert (i.protocol, i.status, i.name, i.via) == (hostgate.Protocol.QUIC, hostgate.Status.COMPLETE, "api.kadath.io", Via.TLS)
    assert hostgate.inspect_quic(d1).status is hostgate.Status.NEED_MORE
    with Engine.compile("allow www.kadath.io port 443 via tls id www\n") as e, hostgate.QuicReassembler() as q:
        i, v = q.check(e, d1, port=443)
        assert i.status is hostgate.Status.NEED_MORE and not v.allowed and len(q) == 1
        i, v = q.check(e, d2, port=443)
        assert (i.status, i.name, i.alpn) == (hostgate.Status.COMPLETE, "www.kadath.io", (b"h3",))
        assert v.allowed and v.rule_id == "www"
        assert q.push(one).name == "api.kadath.io"
        assert q.forget(d1[6 : 6 + d1[5]]) and len(q) == 1
    bad = bytearray(one)
    bad[100] ^= 0x40
    assert hostgate.inspect_quic(bytes(bad)).status is hostgate.Status.MALFORMED


def test_api():
    with Engine.compile("policy web\nallow **.stripe.com port 443 via tls id stripe\npolicy dns\n") as e:
        assert e.policies == ["web", "dns"]
        assert e.policy("dns") == 1
        with pytest.raises(KeyError):
            e.policy("nope")
        with pytest.raises(hostgate.UnknownPolicy):
            e.check("a.io", policy=9)
        with pytest.raises(hostgate.HostgateError) as info:
            e.check("a.io", via=7, policy="web")
        assert info.value.code_name == "HOSTGATE_RESULT_INVALID_ARGUMENT"
        v = e.check("Pay.Stripe.COM.", port=443, via=Via.TLS, policy="web")
        assert v.allowed and v.reason is Reason.MATCHED and (v.rule, v.line, v.rule_id) == (0, 2, "stripe")
        v = e.check(b"pay.stripe.com\x00", port=443, via=Via.TLS, policy="web")
        assert v.action is Action.DENY and v.reason is Reason.INVALID_NAME and v.rule is None
        assert e.check_batch([], policy="web") == []
        assert [x.allowed for x in e.check_batch(["a.stripe.com", ("a.stripe.com", 443, Via.TLS)], policy="web")] == [
            False,
            True,
        ]
    with pytest.raises(ValueError):
        e.check("a.io")
    e.close()  # twice is harmless
    assert hostgate.version().count(".") == 2


def _workspace_version():
    with open(os.path.join(ROOT, "Cargo.toml"), encoding="utf-8") as f:
        text = f.read()
    section = text.split("[workspace.package]", 1)[1]
    return re.search(r'^version = "([^"]+)"$', section, re.M).group(1)


def test_version_is_the_workspace_version():
    """One version: the workspace's, the library's, and the Python package's (the installed
    distribution's metadata, else pyproject.toml when the tests run on the source tree)."""
    want = _workspace_version()
    assert hostgate.version() == want
    try:
        package = importlib.metadata.version("hostgate")
    except importlib.metadata.PackageNotFoundError:
        with open(os.path.join(ROOT, "bindings", "python", "pyproject.toml"), encoding="utf-8") as f:
            package = re.search(r'^version = "([^"]+)"$', f.read(), re.M).group(1)
    assert package == want


def test_threads_share_one_engine():
    rows = [r for r in ROWS if r[1] == "patterns.policy"]
    e = engine_for("patterns.policy")
    bad = []

    def work():
        for _ in range(20):
            for _, _, policy, name, port, via, expected in rows:
                if render(e.check(name, port=port, via=via, policy=policy)) != expected:
                    bad.append(name)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not bad


def test_engines_are_freed_by_gc():
    for _ in range(100):
        Engine.compile("allow a.io\n")
    gc.collect()


def test_inspect():
    with open(os.path.join(ROOT, "crates", "hostgate", "tests", "fixtures", "tls-openssl-alpn.bin"), "rb") as f:
        hello = f.read()
    i = hostgate.inspect(hello)
    assert (i.protocol, i.status, i.via, i.name) == (hostgate.Protocol.TLS, hostgate.Status.COMPLETE, Via.TLS, "api.example.org")
    assert i.alpn == (b"h2", b"http/1.1") and not i.ech and not i.is_ip
    assert hostgate.inspect(hello[:10]).status is hostgate.Status.NEED_MORE
    i = hostgate.inspect(b"CONNECT 192.0.2.7:8443 HTTP/1.1\r\nHost: 192.0.2.7:8443\r\n\r\n")
    assert (i.via, i.name, i.is_ip, i.port) == (Via.CONNECT, "192.0.2.7", True, 8443)
    e = Engine.compile("allow api.example.org via tls\n")
    i, v = e.inspect_check(hello, port=443)
    assert v.allowed and i.name == "api.example.org"
    i, v = e.inspect_check(hello[:10])
    assert v.reason is Reason.NO_NAME and not v.allowed


def test_engine_file_opens_and_answers_as_the_text(tmp_path):
    compiled = Engine.compile("default deny\ndeny api.kadath.io\nallow .kadath.io\n")
    path = tmp_path / "py.engine"
    compiled.write(path)
    with Engine.open(path) as opened, Engine.from_file(path) as loaded:
        for name in ["api.kadath.io", "www.kadath.io", "kadath.io", "leng.com"]:
            want = compiled.check(name, 443, Via.TLS)
            assert opened.check(name, 443, Via.TLS) == want
            assert loaded.check(name, 443, Via.TLS) == want
        v = opened.check("api.kadath.io", 443, Via.TLS)
        assert (v.action, v.line, v.rule_id) == (Action.DENY, 2, "default:2")
    text = os.path.join(ROOT, "examples", "policies", "egress.policy")
    with pytest.raises(hostgate.EngineFileError) as e:
        Engine.open(text)
    assert str(e.value) == text + ": not an engine file (wrong magic)"
    cut = tmp_path / "cut.engine"
    cut.write_bytes(path.read_bytes()[:100])
    with pytest.raises(hostgate.EngineFileError) as e:
        Engine.open(cut)
    assert str(e.value).startswith(f"{cut}: engine file is ")
    with pytest.raises(OSError):
        Engine.open(tmp_path / "missing.engine")
