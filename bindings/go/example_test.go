package hostgate_test

import (
	"fmt"
	"os"
	"path/filepath"

	hostgate "example.invalid/hostgate/bindings/go"
)

func ExampleCompile() {
	e, err := hostgate.Compile("allow api.kadath.io\nallow **.stripe.com port 443 via tls\n")
	if err != nil {
		panic(err)
	}
	defer e.Close()
	fmt.Println(e.DefaultPolicy() == 0)

	_, err = hostgate.Compile("allow a.io\nallow api.*\n")
	if ce, ok := err.(*hostgate.CompileError); ok {
		fmt.Println(ce.Line, ce.Column) // at the `*`
	}
	// Output:
	// true
	// 2 11
}

func ExampleEngine_Check() {
	e, err := hostgate.Compile("allow **.stripe.com port 443 via tls id stripe\n")
	if err != nil {
		panic(err)
	}
	defer e.Close()
	p := e.DefaultPolicy() // or e.Policy("name"): resolve once, keep the Policy
	for _, name := range []string{"checkout.stripe.com", "stripe.com", "a..b"} {
		v, err := e.Check(p, name, 443, hostgate.ViaTLS)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s %s %s %q\n", name, v.Action, v.Reason, v.RuleID)
	}
	// Output:
	// checkout.stripe.com allow matched "stripe"
	// stripe.com deny default ""
	// a..b deny invalid-name ""
}

func ExampleLoad() {
	e, err := hostgate.Load(filepath.Join("..", "..", "examples", "policies", "egress.policy"))
	if err != nil {
		panic(err)
	}
	defer e.Close()
	p, err := e.Policy("ci-runners")
	if err != nil {
		panic(err)
	}
	v, _ := e.Check(p, "ads.leng.com", 443, hostgate.ViaTLS)
	fmt.Println(v.Action, v.RuleID, v.Line)

	_, err = hostgate.Load("no-such.policy")
	fmt.Println(err != nil)
	// Output:
	// deny block-leng 66
	// true
}

func ExampleLoadFrom() {
	e, err := hostgate.LoadFrom("cilium", filepath.Join("..", "..", "examples", "migrate", "cilium.yaml"))
	if err != nil {
		panic(err)
	}
	defer e.Close()
	p := e.DefaultPolicy()
	for _, name := range []string{"a.kadath.io", "a.b.kadath.io"} {
		v, _ := e.Check(p, name, 443, hostgate.ViaTLS)
		fmt.Println(name, v.Action)
	}
	// Output:
	// a.kadath.io allow
	// a.b.kadath.io deny
}

func ExampleOpen() {
	dir, err := os.MkdirTemp("", "hostgate-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	// `hostgate compile` writes the same file; Write is its library form.
	compiled, err := hostgate.Compile("deny .leng.com\nallow *\n")
	if err != nil {
		panic(err)
	}
	path := filepath.Join(dir, "egress.hgate")
	if err := compiled.Write(path); err != nil {
		panic(err)
	}
	compiled.Close()

	e, err := hostgate.Open(path) // mapped, not compiled
	if err != nil {
		panic(err)
	}
	defer e.Close()
	v, _ := e.Check(e.DefaultPolicy(), "ads.leng.com", 0, hostgate.ViaDNS)
	fmt.Println(v.Action, v.Line)
	// Output:
	// deny 1
}

func ExampleInspect() {
	head := []byte("GET /index.html HTTP/1.1\r\nHost: API.Kadath.IO:8080\r\n\r\n")
	in, err := hostgate.Inspect(head)
	if err != nil {
		panic(err)
	}
	fmt.Println(in.Protocol == hostgate.ProtocolHTTP, in.Status == hostgate.StatusComplete, in.Via, in.Name, in.Port)

	in, _ = hostgate.Inspect(head[:20]) // the head is not complete yet
	fmt.Println(in.Status == hostgate.StatusNeedMore)
	// Output:
	// true true http api.kadath.io 8080
	// true
}
