package hostgate

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// The contract tables every language runs; queries.tsv describes its columns.
const contractDir = "../../tests/contract"

type row struct {
	lineno         int
	file, policy   string
	name, expected string
	port           uint16
	via            Via
}

func unescape(s string) string {
	if s == "<empty>" {
		return ""
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && s[i+1] == 'x' {
			n, err := strconv.ParseUint(s[i+2:i+4], 16, 8)
			if err != nil {
				panic(err)
			}
			b.WriteByte(byte(n))
			i += 3
		} else {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

func parseVia(s string) Via {
	switch s {
	case "tls":
		return ViaTLS
	case "http":
		return ViaHTTP
	case "connect":
		return ViaConnect
	case "dns":
		return ViaDNS
	}
	return ViaAny
}

func loadTable(t testing.TB) []row {
	f, err := os.Open(filepath.Join(contractDir, "queries.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []row
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || line[0] == '#' || strings.HasPrefix(line, "file\t") {
			continue
		}
		c := strings.Split(line, "\t")
		if len(c) != 9 {
			t.Fatalf("queries.tsv:%d: %d columns", n, len(c))
		}
		port := 0
		if c[3] != "-" {
			port, _ = strconv.Atoi(c[3])
		}
		rows = append(rows, row{n, c[0], c[1], unescape(c[2]), strings.Join(c[5:], " "), uint16(port), parseVia(c[4])})
	}
	return rows
}

func compileFile(t testing.TB, file string) *Engine {
	text, err := os.ReadFile(filepath.Join(contractDir, "policies", file))
	if err != nil {
		t.Fatal(err)
	}
	e, err := Compile(string(text))
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return e
}

func render(v Verdict) string {
	id := v.RuleID
	if v.Rule < 0 {
		id = "-"
	}
	return fmt.Sprintf("%s %s %s %d", v.Action, v.Reason, id, v.Line)
}

func TestLoadReportsWhatEveryFrontEndReports(t *testing.T) {
	bad := filepath.Join(contractDir, "..", "policy-errors", "bad.policy")
	raw, err := os.ReadFile(filepath.Join(contractDir, "..", "policy-errors", "bad.expected"))
	if err != nil {
		t.Fatal(err)
	}
	want := strings.ReplaceAll(string(raw), "{FILE}", bad)
	_, err = Load(bad)
	var ce *CompileError
	if !errors.As(err, &ce) {
		t.Fatalf("want a *CompileError, got %v", err)
	}
	if got := ce.Error() + "\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if len(ce.Errors) != 3 || ce.Line != 4 || ce.Column != 9 {
		t.Fatalf("positions: %+v", ce)
	}
	_, err = Load(filepath.Join(contractDir, "no-such.policy"))
	var he *Error
	if !errors.As(err, &he) || he.Code != ResultIOError || !strings.Contains(he.Detail, "cannot read policy file") {
		t.Fatalf("want an IO error, got %v", err)
	}
	e, err := Load(filepath.Join(contractDir, "..", "..", "examples", "policies", "egress.policy"))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if p, _ := e.Policy("default"); e.DefaultPolicy() != p {
		t.Fatalf("default policy %d, want %d", e.DefaultPolicy(), p)
	}
	warn := filepath.Join(contractDir, "..", "policy-errors", "warn.policy")
	raw, err = os.ReadFile(filepath.Join(contractDir, "..", "policy-errors", "warn.expected"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := Load(warn)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if got, want := strings.Join(w.Warnings(), "\n")+"\n", strings.ReplaceAll(string(raw), "{FILE}", warn); got != want {
		t.Fatalf("warnings %q, want %q", got, want)
	}
}

func TestLoadFromReadsImportFormats(t *testing.T) {
	bad := filepath.Join(contractDir, "..", "policy-errors", "bad-cilium.yaml")
	raw, err := os.ReadFile(filepath.Join(contractDir, "..", "policy-errors", "bad-cilium.expected"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = LoadFrom("cilium", bad)
	var ce *CompileError
	if !errors.As(err, &ce) {
		t.Fatalf("want a *CompileError, got %v", err)
	}
	if got, want := ce.Error()+"\n", strings.ReplaceAll(string(raw), "{FILE}", bad); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	_, err = LoadFrom("kyverno", bad)
	var he *Error
	if !errors.As(err, &he) || he.Code != ResultInvalidArgument || !strings.Contains(he.Detail, "cilium") {
		t.Fatalf("want an invalid-argument error listing the formats, got %v", err)
	}
	e, err := LoadFrom("cilium", filepath.Join(contractDir, "..", "..", "examples", "migrate", "cilium.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	p := e.DefaultPolicy()
	// Cilium's `*.` is one label.
	v, err := e.Check(p, "a.kadath.io", 443, ViaTLS)
	if err != nil || v.Action != Allow || v.RuleID != "CiliumNetworkPolicy/build/egress-allowlist:1" {
		t.Fatalf("a.kadath.io: %+v %v", v, err)
	}
	if v, _ := e.Check(p, "a.b.kadath.io", 443, ViaTLS); v.Action != Deny {
		t.Fatalf("a.b.kadath.io: %+v", v)
	}
}

// QUIC: one datagram, and a reassembler joining a hello over two (tests/quic/README.md).
func TestQUIC(t *testing.T) {
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(contractDir, "..", "quic", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	one, d1, d2 := read("v2-ads.leng.com.bin"), read("two-www.kadath.io-1.bin"), read("two-www.kadath.io-2.bin")
	i, err := InspectQUIC(one)
	if err != nil || i.Protocol != ProtocolQUIC || i.Status != StatusComplete || i.Name != "ads.leng.com" || i.Via != ViaTLS {
		t.Fatalf("one datagram: %+v %v", i, err)
	}
	if i, _ := InspectQUIC(d1); i.Status != StatusNeedMore {
		t.Fatalf("half a hello: %+v", i)
	}
	e, err := Compile("allow www.kadath.io port 443 via tls id www\n")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	q, err := NewQUICReassembler()
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	v, i, err := q.Check(e, e.DefaultPolicy(), d1, 443)
	if err != nil || i.Status != StatusNeedMore || v.Action != Deny || q.Len() != 1 {
		t.Fatalf("first datagram: %+v %+v %v", v, i, err)
	}
	v, i, err = q.Check(e, e.DefaultPolicy(), d2, 443)
	if err != nil || i.Status != StatusComplete || i.Name != "www.kadath.io" || v.Action != Allow || v.RuleID != "www" {
		t.Fatalf("second datagram: %+v %+v %v", v, i, err)
	}
	if len(i.ALPN) != 1 || i.ALPN[0] != "h3" {
		t.Fatalf("alpn %v", i.ALPN)
	}
	if i, _ := q.Push(one); i.Name != "ads.leng.com" {
		t.Fatalf("push: %+v", i)
	}
	if !q.Forget(d1[6:6+int(d1[5])]) || q.Len() != 1 {
		t.Fatalf("forget: %d flows", q.Len())
	}
	bad := append([]byte(nil), one...)
	bad[100] ^= 0x40
	if i, _ := InspectQUIC(bad); i.Status != StatusMalformed {
		t.Fatalf("tampered: %+v", i)
	}
}

func TestEngineFileOpensAndAnswersAsTheText(t *testing.T) {
	compiled, err := Compile("default deny\ndeny api.kadath.io\nallow .kadath.io\n")
	if err != nil {
		t.Fatal(err)
	}
	defer compiled.Close()
	dir := t.TempDir()
	path := filepath.Join(dir, "go.engine")
	if err := compiled.Write(path); err != nil {
		t.Fatal(err)
	}
	opened, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer opened.Close()
	p := opened.DefaultPolicy()
	for _, name := range []string{"api.kadath.io", "www.kadath.io", "kadath.io", "leng.com"} {
		a, _ := compiled.Check(p, name, 443, ViaTLS)
		b, _ := opened.Check(p, name, 443, ViaTLS)
		if a != b {
			t.Fatalf("%s: compiled %+v, opened %+v", name, a, b)
		}
	}
	if v, _ := opened.Check(p, "api.kadath.io", 443, ViaTLS); v.Action != Deny || v.Line != 2 || v.RuleID != "default:2" {
		t.Fatalf("api.kadath.io: %+v", v)
	}
	text := filepath.Join(contractDir, "..", "..", "examples", "policies", "egress.policy")
	_, err = Open(text)
	var he *Error
	if !errors.As(err, &he) || he.Code != ResultEngineFileError || he.Detail != text+": not an engine file (wrong magic)" {
		t.Fatalf("want an engine-file error, got %v", err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "cut.engine")
	if err := os.WriteFile(cut, raw[:len(raw)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Open(cut)
	if !errors.As(err, &he) || he.Code != ResultEngineFileError || !strings.HasPrefix(he.Detail, cut+": engine file is ") {
		t.Fatalf("want a truncation error naming the file, got %v", err)
	}
}

func TestContract(t *testing.T) {
	rows := loadTable(t)
	if len(rows) < 350 {
		t.Fatalf("only %d rows", len(rows))
	}
	engines := map[string]*Engine{}
	type key struct{ file, policy string }
	groups := map[key][]row{}
	for _, r := range rows {
		e := engines[r.file]
		if e == nil {
			e = compileFile(t, r.file)
			engines[r.file] = e
		}
		p, err := e.Policy(r.policy)
		if err != nil {
			t.Fatal(err)
		}
		v, err := e.Check(p, r.name, r.port, r.via)
		if err != nil {
			t.Fatal(err)
		}
		if got := render(v); got != r.expected {
			t.Errorf("queries.tsv:%d: want %q, got %q", r.lineno, r.expected, got)
		}
		groups[key{r.file, r.policy}] = append(groups[key{r.file, r.policy}], r)
	}
	for k, g := range groups {
		e := engines[k.file]
		p, _ := e.Policy(k.policy)
		qs := make([]Query, len(g))
		for i, r := range g {
			qs[i] = Query{r.name, r.port, r.via}
		}
		out := make([]Verdict, len(g))
		if err := e.CheckBatch(p, qs, out); err != nil {
			t.Fatal(err)
		}
		for i, r := range g {
			if got := render(out[i]); got != r.expected {
				t.Errorf("queries.tsv:%d (batch): want %q, got %q", r.lineno, r.expected, got)
			}
		}
	}
	for _, e := range engines {
		e.Close()
	}
}

func TestErrors(t *testing.T) {
	_, err := Compile("allow ok.io\nallow a..b\nallow c.io port 0\n")
	var ce *CompileError
	if !errors.As(err, &ce) || ce.Line != 2 || ce.Column == 0 || len(ce.Errors) != 2 || ce.Errors[1].Line != 3 {
		t.Fatalf("want a CompileError at line 2 with 2 errors, got %#v", err)
	}
	if _, err := Compile("allow a\xff.io\n"); err == nil {
		t.Fatal("invalid UTF-8 compiled")
	}
	e, err := Compile("policy web\nallow api.kadath.io\n")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	var he *Error
	if _, err := e.Policy("nope"); !errors.As(err, &he) || he.Code != ResultUnknownPolicy {
		t.Fatalf("want UNKNOWN_POLICY, got %v", err)
	}
	if _, err := e.Check(7, "a.io", 0, ViaAny); !errors.As(err, &he) || he.Code != ResultUnknownPolicy {
		t.Fatalf("want UNKNOWN_POLICY, got %v", err)
	}
	if _, err := e.Check(0, "a.io", 0, Via(9)); !errors.As(err, &he) || he.Code != ResultInvalidArgument {
		t.Fatalf("want INVALID_ARGUMENT, got %v", err)
	}
	if err := e.CheckBatch(0, []Query{{Name: "a.io"}}, nil); err == nil {
		t.Fatal("short out accepted")
	}
	if err := e.CheckBatch(0, nil, nil); err != nil {
		t.Fatal(err)
	}
	v, err := e.Check(0, "", 0, ViaDNS)
	if err != nil || v.Reason != InvalidName || v.Allowed() {
		t.Fatalf("empty name: %v %v", v, err)
	}
	v, _ = e.Check(0, "API.Kadath.IO.", 443, ViaTLS)
	if !v.Allowed() || v.RuleID != "web:2" || v.Line != 2 || v.Rule != 0 {
		t.Fatalf("got %+v", v)
	}
	e.Close()
	e.Close() // harmless
	if _, err := e.Check(0, "a.io", 0, ViaAny); !errors.As(err, &he) || he.Code != ResultNullArgument {
		t.Fatalf("closed engine: want NULL_ARGUMENT, got %v", err)
	}
	if Version() == "" || Allow.String() != "allow" || ViaConnect.String() != "connect" || NoName.String() != "no-name" {
		t.Fatal("names")
	}
}

func TestConcurrentChecks(t *testing.T) {
	rows := loadTable(t)
	engines := map[string]*Engine{}
	for _, r := range rows {
		if engines[r.file] == nil {
			engines[r.file] = compileFile(t, r.file)
		}
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 20; k++ {
				for _, r := range rows {
					e := engines[r.file]
					p, _ := e.Policy(r.policy)
					v, err := e.Check(p, r.name, r.port, r.via)
					if err != nil || render(v) != r.expected {
						t.Errorf("queries.tsv:%d: %v %v", r.lineno, v, err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
}

func TestFinalizerFreesEngines(t *testing.T) {
	for i := 0; i < 200; i++ {
		if _, err := Compile("allow a.io\n"); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.GC()
}

var benchNames = []string{"api.kadath.io", "checkout.stripe.com", "evil.example", "a.b.example.org", "203.0.113.9", "ADS7.Example.NET."}

func benchEngine(b *testing.B) (*Engine, Policy) {
	e := compileFile(b, "patterns.policy")
	p, err := e.Policy("default")
	if err != nil {
		b.Fatal(err)
	}
	return e, p
}

func BenchmarkCheck(b *testing.B) {
	e, p := benchEngine(b)
	defer e.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := e.Check(p, benchNames[i%len(benchNames)], 443, ViaTLS); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheckBatch(b *testing.B) {
	e, p := benchEngine(b)
	defer e.Close()
	qs := make([]Query, 256)
	for i := range qs {
		qs[i] = Query{benchNames[i%len(benchNames)], 443, ViaTLS}
	}
	out := make([]Verdict, len(qs))
	b.ResetTimer()
	for i := 0; i < b.N; i += len(qs) {
		if err := e.CheckBatch(p, qs, out); err != nil {
			b.Fatal(err)
		}
	}
}

func TestInspect(t *testing.T) {
	hello, err := os.ReadFile("../../crates/hostgate/tests/fixtures/tls-openssl-alpn.bin")
	if err != nil {
		t.Fatal(err)
	}
	i, err := Inspect(hello)
	if err != nil || i.Protocol != ProtocolTLS || i.Status != StatusComplete || i.Name != "api.example.org" || i.Via != ViaTLS {
		t.Fatalf("%+v %v", i, err)
	}
	if len(i.ALPN) != 2 || i.ALPN[0] != "h2" || i.ALPN[1] != "http/1.1" || i.ECH {
		t.Fatalf("alpn %+v", i)
	}
	if i, _ := Inspect(hello[:10]); i.Status != StatusNeedMore || i.Name != "" {
		t.Fatalf("prefix %+v", i)
	}
	i, _ = Inspect([]byte("CONNECT 192.0.2.7:8443 HTTP/1.1\r\nHost: 192.0.2.7:8443\r\n\r\n"))
	if i.Via != ViaConnect || i.Name != "192.0.2.7" || !i.IsIP || i.Port != 8443 {
		t.Fatalf("connect %+v", i)
	}
	if i, _ := Inspect(nil); i.Status == StatusComplete {
		t.Fatal("empty input complete")
	}
}
